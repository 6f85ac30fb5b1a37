"""Issue 21 item 6: a build imported while Mr Chase puts a page in place stays on that page.

``MR_CHASE_DELAY_AT=committed:<s>`` holds Mr Chase after its COMMIT (and
its last read of the database) and before the page's rename.  Inside that
window a build is imported as piw-master imports one (its rows committed,
its wheel on disk), with no piw-master to rewrite the page afterwards.  Each
test failed on 0.3.0: the page never listed the build.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import psycopg
import pytest
from chase_helpers import Links, MrChase, make_config, page_links, scalar, wait_for
from figures import report
from reliability_helpers import scaled

#: the window between Mr Chase's last read and its rename, widened; the import lands in it within milliseconds
WINDOW = {"MR_CHASE_DELAY_AT": "committed:1.5"}
#: the change (one per round: make soak runs more), and the question that says it committed
ALPHA_1_0 = "WHERE package = 'alpha' AND version = '1.0'"
CHANGES: dict[str, tuple[list, Callable[[str], bool]]] = {
    "REMOVE": (["REMOVE", "alpha", "1.0", False],
               lambda dsn: scalar(dsn, f"SELECT count(*) FROM builds {ALPHA_1_0}") == 0),
    "FORGET": (["FORGET", "alpha", "1.0"],
               lambda dsn: scalar(dsn, f"SELECT count(*) FROM versions {ALPHA_1_0}") == 0),
    "YANK": (["YANK", "alpha", "1.0", True], lambda dsn: scalar(dsn, f"SELECT yanked FROM versions {ALPHA_1_0}")),
}
ROUNDS = scaled(1, 4)


def new_build(conn: psycopg.Connection, repository, version: str, tag: int) -> str:
    """Insert a build of alpha ``version`` with one wheel (rows uncommitted until the caller commits) and write
    the wheel; return its name."""
    filename = f"alpha-{version}-cp3{tag}-cp3{tag}-linux_armv7l.whl"
    build = conn.execute("INSERT INTO builds (package, version, built_by, duration, abi_tag) "
                         "VALUES ('alpha', %s, 1, '1 minute', 'cp311') RETURNING build_id", (version,)).fetchone()[0]
    conn.execute("INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                 "py_version_tag, abi_tag, platform_tag) VALUES (%s, %s, 1, %s, 'alpha', %s, 'cp311', 'cp311', "
                 "'linux_armv7l')", (filename, build, "1" * 64, version))
    (repository.simple / "alpha" / filename).write_bytes(b"wheel")
    return filename


def change_with_an_import_in_the_window(chase: MrChase, repository, request: list,
                                        committed: Callable[[str], bool], prepare) -> list:
    """Send ``request``; once it committed (Mr Chase is now in the window), commit what ``prepare(conn)``
    inserted; return the reply.  The import must land before the reply (that is, before the rename)."""
    replies: list = []
    sender = threading.Thread(target=lambda: replies.append(chase.client(*request)))
    with psycopg.connect(repository.dsn) as conn:
        prepare(conn)
        sender.start()
        wait_for(lambda: committed(repository.dsn), timeout=15)
        conn.commit()
        assert sender.is_alive(), "the import landed after the page was in place: the window was missed"
    sender.join(30)
    return replies


@pytest.mark.parametrize("kind", list(CHANGES))
def test_a_build_imported_while_the_page_is_put_in_place_stays_on_it(repository, ipc_dir, kind):
    request, committed = CHANGES[kind]
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env=WINDOW)
    waited = []
    try:
        for round_ in range(ROUNDS):
            imported: list[str] = []
            replies = change_with_an_import_in_the_window(
                chase, repository, request, committed,
                lambda conn: imported.append(new_build(conn, repository, "1.2", 20 + round_)))  # noqa: B023
            assert replies == [["DONE"]]
            waited.append(wait_for(lambda: imported[0] in page_links(repository, "alpha"), timeout=10))  # noqa: B023
            changed = {name: link for name, link in page_links(repository, "alpha").items()
                       if name.startswith("alpha-1.0-")}
            if kind == "YANK":
                assert changed and all("data-yanked" in link for link in changed.values())
            else:
                assert not changed
            if round_ + 1 < ROUNDS:
                restore(repository, kind, 40 + round_)
    finally:
        assert chase.stop() == 0
    assert "writing it again" in chase.log()
    report(f"page_window_{kind.lower()}", rounds=ROUNDS, slowest_catch_up_s=round(max(waited), 2))


def restore(repository, kind: str, tag: int) -> None:
    """Give the change something to do again in the next round: unyank 1.0, or give it a build again."""
    with psycopg.connect(repository.dsn) as conn:
        if kind == "YANK":
            conn.execute("UPDATE versions SET yanked = false WHERE package = 'alpha' AND version = '1.0'")
            return
        conn.execute("INSERT INTO versions (package, version) VALUES ('alpha', '1.0') ON CONFLICT DO NOTHING")
        new_build(conn, repository, "1.0", tag)


def root_index_names(repository) -> list[str]:
    parser = Links()
    parser.feed((repository.simple / "index.html").read_text())
    return [link["href"] for link in parser.links]


def test_a_package_added_while_a_deletion_puts_the_root_index_in_place_stays_on_it(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env=WINDOW)
    try:
        replies = change_with_an_import_in_the_window(
            chase, repository, ["DELETE", "gamma"],
            lambda dsn: scalar(dsn, "SELECT count(*) FROM packages WHERE package = 'gamma'") == 0,
            lambda conn: conn.execute("INSERT INTO packages (package) VALUES ('delta')"))
        assert replies == [["DONE"]]
        wait_for(lambda: "delta" in root_index_names(repository), timeout=10)
        assert "gamma" not in root_index_names(repository)
    finally:
        assert chase.stop() == 0
