"""Reliability III: a change that committed is settled once, never undone, and its notice never lost.

Each test here failed on release 0.3.0 (issue 21, items 1, 3, 4, 7a and 7e).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import subprocess
import time

import psycopg
import pytest
from chase_helpers import MrChase, journal_pending, journal_record, make_config, page_links, scalar, wait_for
from figures import report
from reliability_helpers import scaled

from piwheels_testbed.master import StandInMaster

STATE = ".mr-chase"


def audit(ipc_dir) -> list[dict]:
    path = ipc_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def changes(ipc_dir, kind: str, package: str) -> list[dict]:
    """The audit records of ``kind`` changes of ``package`` (the request's own and recovery's)."""
    return [r for r in audit(ipc_dir) if r["request"][:2] == [kind, package]]


def staging(repository) -> list:
    return list((repository.output_path / STATE / "staging").iterdir())


@contextlib.contextmanager
def immutable(path):
    """``chattr +i``: not even root may replace the file (how a page is made impossible to write)."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    proc = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {proc.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def master(ipc_dir):
    stand_in = StandInMaster(f"ipc://{ipc_dir}/master").start()
    yield stand_in
    stand_in.stop()


def notices(master, package: str) -> list[list]:
    """What piw-master was told of ``package`` (a DELETE's REBUILD SEARCH names none: it counts too)."""
    return [m for m in master.accepted if package in m[1][:2] or m[1] == ["SEARCH"]]


# -- item 1: a step after COMMIT that keeps failing is settled once ----------------------------------------------


def test_a_page_that_cannot_be_replaced_is_settled_once_and_reported_stale(repository, ipc_dir, master):
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    page = repository.simple / "alpha" / "index.html"
    removed = repository.manifest.files("alpha", "1.0")
    try:
        with immutable(page):
            reply = chase.client("REMOVE", "alpha", "1.0", True)
            assert reply[0] == "ERROR" and reply[1].startswith("committed, but simple/alpha/index.html "), reply
            wait_for(lambda: not journal_pending(repository.output_path))  # its clean-up runs after the reply
            assert not staging(repository)
            assert not any((repository.simple / "alpha" / name).exists() for name in removed)
            assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' "
                          "AND version = '1.0'") == 0
            assert chase.client("STATUS", "alpha", None)[1]["stale_pages"] == ["simple/alpha/index.html"]
            assert chase.client("STATUS", "alpha", "1.1")[1]["stale_pages"] == ["simple/alpha/index.html"]
            assert chase.client("PING")[2]["stale_pages"] == 1  # monitoring sees it too
            assert chase.client("REMOVE", "gamma", "1.0", True) == ["DONE"]  # every other package is served
            again = chase.client("REMOVE", "alpha", "1.1", True)  # and the same one, still stale
            assert again[0] == "ERROR" and again[1].startswith("committed, but "), again
            wait_for(lambda: len(master.sent("REMVER")) == 3)
            assert chase.stop() == 0
            chase.start()  # the debt outlives a restart, and nothing is settled again
            assert chase.client("STATUS", "alpha", None)[1]["stale_pages"] == ["simple/alpha/index.html"]
        assert chase.client("REMOVE", "alpha", "1.2", True) == ["DONE"]  # a later write of the page clears it
        assert chase.client("STATUS", "alpha", None)[1]["stale_pages"] == []
        wait_for(lambda: chase.client("PING")[2]["stale_pages"] == 0)  # PONG's counts are refreshed while idle
        assert not set(removed) & set(page_links(repository, "alpha"))
        assert not list((repository.output_path / STATE / "ledger" / "stale_page").iterdir())
    finally:
        chase.stop()
    assert [r["outcome"] for r in changes(ipc_dir, "REMOVE", "alpha")] == ["done"] * 3
    assert changes(ipc_dir, "REMOVE", "alpha")[0]["stale_pages"] == ["simple/alpha/index.html"]
    assert len(master.sent("REMVER")) == 4
    report("stale_page_remove", reply=reply[1][:60], audit_lines=len(changes(ipc_dir, "REMOVE", "alpha")),
           notices=len(master.sent("REMVER")))


def test_a_root_index_that_cannot_be_written_does_not_block_deletions(repository, ipc_dir, master):
    root = repository.simple / "index.html"
    root.unlink()
    root.mkdir()  # a directory where the root index should be
    (root / "x").write_text("")
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    try:
        reply = chase.client("DELETE", "alpha")
        assert reply[0] == "ERROR" and reply[1].startswith("committed, but simple/index.html "), reply
        wait_for(lambda: not journal_pending(repository.output_path))
        assert not staging(repository)
        assert not (repository.simple / "alpha").exists()
        assert scalar(repository.dsn, "SELECT count(*) FROM packages WHERE package = 'alpha'") == 0
        again = chase.client("DELETE", "gamma")
        assert again[0] == "ERROR" and again[1].startswith("committed, but simple/index.html "), again
        shutil.rmtree(root)
        assert chase.client("DELETE", "beta-tools") == ["DONE"]
        assert root.is_file() and "gamma" not in root.read_text()
        assert not list((repository.output_path / STATE / "ledger" / "stale_page").iterdir())
        wait_for(lambda: len(master.sent("REBUILD")) == 3)
    finally:
        chase.stop()
    assert [r["outcome"] for r in changes(ipc_dir, "DELETE", "alpha")] == ["done"]


# -- item 3: recovery never undoes a change that committed -------------------------------------------------------


def import_new_build(repository, package: str, version: str, filename: str) -> None:
    """What piw-master does when it imports a build: rows (the version's and package's too, if gone) and a wheel."""
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO packages (package) VALUES (%s) ON CONFLICT DO NOTHING", (package,))
        conn.execute("INSERT INTO versions (package, version, released) VALUES (%s, %s, now()) "
                     "ON CONFLICT DO NOTHING", (package, version))
        build = conn.execute("INSERT INTO builds (package, version, built_by, duration, status, abi_tag) "
                             "VALUES (%s, %s, 1, '1 minute', true, 'cp37m') RETURNING build_id",
                             (package, version)).fetchone()[0]
        conn.execute("INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                     "py_version_tag, abi_tag, platform_tag) VALUES (%s, %s, 9, %s, %s, %s, 'py3', 'none', 'any')",
                     (filename, build, "1" * 64, package, version))
    (repository.simple / package).mkdir(exist_ok=True)
    (repository.simple / package / filename).write_bytes(b"new build")


REBUILT = {"remove": ["REMOVE", "alpha", "1.0", False], "forget": ["FORGET", "alpha", "1.0"],
           "delete": ["DELETE", "alpha"]}


@pytest.mark.parametrize("kind", list(REBUILT))
def test_recovery_never_undoes_a_committed_change_that_a_rebuild_followed(repository, ipc_dir, kind):
    request = REBUILT[kind]
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": "committed"})
    removed = repository.manifest.files("alpha", "1.0")
    assert chase.send_expecting_exit(json.dumps(request).encode()) == 70
    import_new_build(repository, "alpha", "1.0", removed[0])  # piw-master, before Mr Chase is back
    chase.start()
    try:
        wait_for(lambda: not journal_pending(repository.output_path))
        assert (repository.simple / "alpha" / removed[0]).read_bytes() == b"new build"
        assert not any((repository.simple / "alpha" / name).exists() for name in removed[1:])
        assert not staging(repository)
        if kind != "delete":  # the new build is listed (piw-master writes a re-created package's page)
            assert set(page_links(repository, "alpha")) & set(removed) == {removed[0]}
    finally:
        assert chase.stop() == 0
    assert [r["outcome"] for r in changes(ipc_dir, request[0], "alpha")] == ["done (settled by recovery)"]
    assert "rolled back" not in chase.log()


def test_recovery_falls_back_to_the_build_ids_when_the_transaction_is_unknown(repository, ipc_dir):
    """A transaction id the server cannot answer for (too old, another cluster): the recorded build ids decide."""
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": "committed"})
    removed = repository.manifest.files("alpha", "1.0")
    assert chase.send_expecting_exit(json.dumps(["REMOVE", "alpha", "1.0", False]).encode()) == 70
    journal = repository.output_path / STATE / "journal.json"
    record = journal_record(repository.output_path)
    assert record["xid"].isdigit() and record["builds"]
    journal.write_text(json.dumps(dict(record, xid=str(int(record["xid"]) + 10**9))))  # "in the future"
    import_new_build(repository, "alpha", "1.0", removed[0])
    chase.start()
    try:
        wait_for(lambda: not journal_pending(repository.output_path))
        assert (repository.simple / "alpha" / removed[0]).read_bytes() == b"new build"
        assert not any((repository.simple / "alpha" / name).exists() for name in removed[1:])
        assert not staging(repository)
    finally:
        assert chase.stop() == 0
    assert "cannot say whether transaction" in chase.log() and "rolled back" not in chase.log()


# -- item 4: a notice is never lost at a full disk ---------------------------------------------------------------


@contextlib.contextmanager
def full_outbox(outbox):
    """A tiny tmpfs on the outbox, filled: every write there fails with ENOSPC until ``free`` is called."""
    outbox.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(outbox)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {proc.stderr.strip()}")
    filler = outbox / "filler"
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=4k"], capture_output=True)
        yield filler
    finally:
        subprocess.run(["umount", "-l", str(outbox)], check=True)


def test_a_notice_that_cannot_be_queued_keeps_the_journal_until_it_is(repository, ipc_dir, master):
    outbox = repository.output_path / STATE / "outbox"
    with full_outbox(outbox) as filler:
        chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
        try:
            assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
            wait_for(lambda: "cannot queue the notification" in chase.log())
            assert chase.client("STATUS", "gamma", None)[0] == "STATUS"  # served meanwhile; the journal stays
            assert journal_pending(repository.output_path)
            assert [p.name for p in outbox.iterdir()] == ["filler"]  # no zero-length entry
            assert any(r["request"][:2] == ["NOTIFY", "REMVER"] and r["outcome"].startswith("not queued")
                       for r in audit(ipc_dir))
            filler.unlink()  # space returns
            wait_for(lambda: master.sent("REMVER") and not journal_pending(repository.output_path))
        finally:
            assert chase.stop() == 0
    assert [message[1][:2] for message in master.sent("REMVER")] == [["alpha", "1.0"]]
    assert [r["outcome"] for r in changes(ipc_dir, "REMOVE", "alpha")] == ["done"]


# -- item 7a: each change audited and notified once, across any number of recovery passes -----------------------

ONCE = {"REMOVE": ["REMOVE", "alpha", "1.0", True], "FORGET": ["FORGET", "alpha", "1.0"],
        "YANK": ["YANK", "alpha", "1.0", True], "DELETE": ["DELETE", "alpha"]}
PASSES = scaled(2, 5)


@pytest.mark.parametrize("kind", list(ONCE))
def test_a_change_that_dies_after_its_reply_is_audited_and_notified_once(repository, ipc_dir, kind):
    """piw-master comes up only after the crashes: a notice sent in the instant before a crash, and not yet
    recorded as delivered, is sent again after it (at least once, by design), which is not this case."""
    master = StandInMaster(f"ipc://{ipc_dir}/master")
    config = make_config(repository, ipc_dir, master_queue=master.queue)
    chase = MrChase(config, ipc_dir).start(env={"MR_CHASE_CRASH_AT": "cleaning"})
    reply = chase.client(*ONCE[kind])
    assert reply == ["DONE"] and chase.wait_exit() == 70
    for _ in range(PASSES):  # recovery passes that each die once the change is audited and notified
        chase.start(env={"MR_CHASE_CRASH_AT": "recovery_audited"}, wait=False)
        with contextlib.suppress(AssertionError):
            chase.wait_ready(5)
        chase.stop()
    master.start()
    chase.start()
    try:
        wait_for(lambda: not journal_pending(repository.output_path) and notices(master, "alpha"))
        time.sleep(0.5)  # a second notice, if any, is on its way by now
    finally:
        assert chase.stop() == 0
        master.stop()
    assert len(changes(ipc_dir, kind, "alpha")) == 1, changes(ipc_dir, kind, "alpha")
    assert len(notices(master, "alpha")) == 1, notices(master, "alpha")


# -- item 7e: a tampered journal leaves nothing in staging ------------------------------------------------------


def test_a_tampered_journal_leaves_nothing_in_staging(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    assert chase.stop() == 0
    token = "b" * 32
    staged = repository.output_path / STATE / "staging" / token
    staged.mkdir()
    (staged / "alpha-1.0-py3-none-any.whl").write_bytes(b"staged")
    (repository.output_path / STATE / "journal.json").write_text(json.dumps(
        {"package": "alpha", "version": "1.0", "token": token, "temp_page": "../../outside", "page": "x"}))
    chase.start()
    try:
        assert not journal_pending(repository.output_path)
        assert not staging(repository)
        kept = list((repository.output_path / STATE / "set-aside").iterdir())
        assert any((path / "alpha-1.0-py3-none-any.whl").exists() for path in kept if path.is_dir())
    finally:
        assert chase.stop() == 0
    assert sum(r["request"][0] == "SET-ASIDE" for r in audit(ipc_dir)) == 2  # the journal and its staging
