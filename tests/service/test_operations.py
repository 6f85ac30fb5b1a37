"""YANK, FORGET, DELETE and UNSKIP (issue 14) on a real database and output tree.

Mr Chase runs in-process, as in test_removal.py; the wire, the kills and the
master's notifications are covered by test_wire.py, test_atomicity.py and
tests/master.
"""

from __future__ import annotations

import json
import os

import psycopg
import pytest
from chase_helpers import journal_pending, page_links, scalar, snapshot_db, snapshot_tree

ALIAS = "Alpha.Old-Name"


def add_alias(repository, alias: str = ALIAS, package: str = "alpha") -> None:
    """An alias row and the project/<alias> symlink piw-master's page writer makes for it."""
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO package_names (name, package, seen) VALUES (%s, %s, now()) "
                     "ON CONFLICT DO NOTHING", (alias, package))
    project = repository.output_path / "project"
    project.mkdir(exist_ok=True)
    (project / package).mkdir(exist_ok=True)
    link = project / alias
    if not link.is_symlink():
        link.symlink_to(package)


def audit(ipc_dir) -> list[tuple]:
    path = ipc_dir / "audit.jsonl"
    lines = path.read_text().splitlines() if path.exists() else []
    return [(json.loads(line)["request"], json.loads(line)["outcome"]) for line in lines]


def yanked_links(repository, package: str) -> set[str]:
    return {name for name, attrs in page_links(repository, package).items() if "data-yanked" in attrs}


def settled(repository) -> bool:
    """Nothing pending: no journal, no staging directory, no temporary page."""
    staging = repository.output_path / ".mr-chase" / "staging"
    return (not journal_pending(repository.output_path) and not any(staging.iterdir())
            and not list(repository.simple.rglob("*.tmp")))


# -- YANK ----------------------------------------------------------------------

def test_yank_marks_the_version_and_its_links(service, repository, ipc_dir):
    files_10, files_11 = repository.manifest.files("alpha", "1.0"), repository.manifest.files("alpha", "1.1")
    assert yanked_links(repository, "alpha") == set(files_11)
    assert service("YANK", "Alpha", "1.0", True) == ["DONE"]
    assert service("STATUS", "alpha", "1.0")[1]["yanked"] is True
    assert yanked_links(repository, "alpha") == set(files_10 + files_11)
    assert service("STATUS", "alpha", None)[1]["yanked"] == ["1.0", "1.1"]
    assert service("YANK", "alpha", "1.0", True) == ["DONE"]  # already yanked: nothing written, nothing audited
    assert audit(ipc_dir) == [(["YANK", "alpha", "1.0", True], "done")]
    assert settled(repository)


def test_unyank_clears_the_flag_and_the_links(service, repository, ipc_dir):
    before = (repository.simple / "alpha" / "index.html").read_text()
    assert service("YANK", "alpha", "1.1", False) == ["DONE"]
    assert scalar(repository.dsn, "SELECT yanked FROM versions WHERE package = 'alpha' AND version = '1.1'") is False
    assert yanked_links(repository, "alpha") == set()
    after = (repository.simple / "alpha" / "index.html").read_text()
    assert after.replace(' data-yanked=""', "").rpartition("<!--")[0] == before.replace(
        ' data-yanked=""', "").rpartition("<!--")[0]  # only the yanked marks changed
    assert audit(ipc_dir) == [(["YANK", "alpha", "1.1", False], "done")]


def test_yank_of_an_unknown_version_or_package_changes_nothing(service, repository):
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    assert service("YANK", "alpha", "9.9", True) == ["ERROR", "unknown package version alpha 9.9"]
    assert service("YANK", "nosuchpackage", "1.0", True) == ["ERROR", "unknown package nosuchpackage"]
    assert snapshot_db(repository.dsn) == db
    assert snapshot_tree(repository.output_path) == tree


# -- FORGET --------------------------------------------------------------------

def test_forget_removes_the_version_row_with_everything_else(service, repository, ipc_dir):
    dsn, files = repository.dsn, repository.manifest.files("alpha", "1.0")
    assert service("FORGET", "alpha", "1.0") == ["DONE"]
    assert scalar(dsn, "SELECT count(*) FROM versions WHERE package = 'alpha' AND version = '1.0'") == 0
    assert scalar(dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' AND version = '1.0'") == 0
    for table in ("files", "dependencies", "downloads"):
        assert scalar(dsn, f"SELECT count(*) FROM {table} WHERE filename = ANY(%s)", files) == 0, table
    assert not any((repository.simple / "alpha" / name).exists() for name in files)
    assert set(page_links(repository, "alpha")) == set(repository.manifest.files("alpha", "1.1")
                                                       + repository.manifest.files("alpha", "1.2"))
    assert service("STATUS", "alpha", "1.0") == ["ERROR", "unknown package version alpha 1.0"]
    assert service("STATUS", "alpha", None)[1]["versions"] == ["1.1", "1.2"]
    assert settled(repository)
    # a second FORGET finds nothing: the module reports that as ok (already forgotten)
    assert service("FORGET", "alpha", "1.0") == ["ERROR", "unknown package version alpha 1.0"]
    assert [request for request, _outcome in audit(ipc_dir)] == [["FORGET", "alpha", "1.0"]]


def test_forget_a_version_without_builds(service, repository):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO versions (package, version, skip) VALUES ('gamma', '2.0', 'binary only')")
    page = (repository.simple / "gamma" / "index.html").read_text()
    assert service("FORGET", "gamma", "2.0") == ["DONE"]
    assert scalar(repository.dsn, "SELECT count(*) FROM versions WHERE package = 'gamma' AND version = '2.0'") == 0
    assert (repository.simple / "gamma" / "index.html").read_text() == page  # no file went: page untouched
    assert settled(repository)


# -- DELETE --------------------------------------------------------------------

def test_delete_takes_the_whole_package_and_nothing_else(service, repository, ipc_dir):
    add_alias(repository)
    dsn, output = repository.dsn, repository.output_path
    files = [name for version in repository.manifest.packages["alpha"]
             for name in repository.manifest.files("alpha", version)]
    db_before, tree_before = snapshot_db(dsn), snapshot_tree(output)
    assert service("DELETE", "Alpha") == ["DONE"]
    for table, column in (("packages", "package"), ("versions", "package"), ("builds", "package"),
                          ("package_names", "package")):
        assert scalar(dsn, f"SELECT count(*) FROM {table} WHERE {column} = 'alpha'") == 0, table
    for table in ("files", "dependencies", "downloads"):
        assert scalar(dsn, f"SELECT count(*) FROM {table} WHERE filename = ANY(%s)", files) == 0, table
    for path in (repository.simple / "alpha", output / "project" / "alpha", output / "project" / ALIAS):
        assert not os.path.lexists(path), path
    root = (repository.simple / "index.html").read_text()
    assert '<a href="alpha">' not in root
    assert '<a href="beta-tools">beta-tools</a>\n<a href="gamma">gamma</a>' in root
    # every other row and file exactly as it was
    db_after = snapshot_db(dsn)
    for table, rows in db_before.items():
        assert db_after[table] == [row for row in rows if "alpha" not in row and not set(row) & set(files)
                                   and row != (ALIAS, "alpha")], table
    tree_after = snapshot_tree(output)
    kept = {path: digest for path, digest in tree_before.items()
            if not path.startswith(("simple/alpha/", "project/alpha/", f"project/{ALIAS}", "simple/index.html"))}
    assert {path: tree_after[path] for path in kept} == kept
    assert settled(repository)
    assert service("STATUS", "alpha", None) == ["ERROR", "unknown package alpha"]
    assert service("DELETE", "alpha") == ["ERROR", "unknown package alpha"]
    [(request, outcome)] = audit(ipc_dir)
    assert (request, outcome) == (["DELETE", "alpha"], "done")
    record = json.loads((ipc_dir / "audit.jsonl").read_text())
    assert record["versions"] == ["1.0", "1.1", "1.2"] and record["aliases"] == [ALIAS]
    assert record["moved"] == ["simple/alpha", "project/alpha", f"project/{ALIAS}"]


def test_delete_leaves_what_is_not_the_packages_alias_link(service, repository):
    """An alias whose project/<alias> is a directory of its own, or a link elsewhere, is not ours to remove."""
    add_alias(repository)
    add_alias(repository, "alpha-elsewhere")
    project = repository.output_path / "project"
    (project / "alpha-elsewhere").unlink()
    (project / "alpha-elsewhere").symlink_to("gamma")
    assert service("DELETE", "alpha") == ["DONE"]
    assert os.readlink(project / "alpha-elsewhere") == "gamma"
    assert not os.path.lexists(project / ALIAS)


def test_delete_of_a_package_with_no_directories(service, repository):
    """Rows without files on disk (a package piw-master never built): the rows go, the root index follows."""
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO packages (package) VALUES ('delta')")
        conn.execute("INSERT INTO versions (package, version) VALUES ('delta', '0.1')")
    assert service("DELETE", "delta") == ["DONE"]
    assert scalar(repository.dsn, "SELECT count(*) FROM packages WHERE package = 'delta'") == 0
    assert '<a href="alpha">alpha</a>\n<a href="beta-tools">' in (repository.simple / "index.html").read_text()
    assert settled(repository)


# -- UNSKIP --------------------------------------------------------------------

def test_unskip_a_version(service, repository, ipc_dir):
    assert service("REMOVE", "alpha", "1.0", "broken on armv6") == ["DONE"]
    assert service("UNSKIP", "alpha", "1.0") == ["DONE"]
    assert service("STATUS", "alpha", "1.0")[1]["skip"] == ""
    assert service("UNSKIP", "alpha", "1.0") == ["DONE"]  # nothing to clear: not audited again
    assert [request for request, _ in audit(ipc_dir)] == [["REMOVE", "alpha", "1.0", "broken on armv6"],
                                                          ["UNSKIP", "alpha", "1.0"]]
    assert service("UNSKIP", "alpha", "9.9") == ["ERROR", "unknown package version alpha 9.9"]
    assert service("UNSKIP", "nosuchpackage", None) == ["ERROR", "unknown package nosuchpackage"]


# -- STATUS ----------------------------------------------------------------------

def test_package_status_says_what_a_deletion_would_take(service, repository):
    add_alias(repository)
    status = service("STATUS", "alpha", None)[1]
    files = sum(len(repository.manifest.files("alpha", v)) for v in repository.manifest.packages["alpha"])
    assert status["yanked"] == ["1.1"]
    assert status["builds"] == scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'alpha'")
    assert status["file_count"] == files and status["archived_count"] == 0
    assert status["downloads"] == files * repository.manifest.downloads_per_file
    assert ALIAS in status["aliases"] and "alpha" not in status["aliases"]


@pytest.mark.parametrize("request_", [["YANK", "alpha", "1.0", 1], ["YANK", "alpha", "1.0", "true"],
                                      ["FORGET", "alpha", None], ["DELETE", "alpha", "1.0"], ["DELETE", "../x"],
                                      ["UNSKIP", "alpha"], ["SKIP", "alpha", ""]])
def test_malformed_requests_are_refused_and_change_nothing(service, repository, request_):
    db = snapshot_db(repository.dsn)
    reply = service(*request_)
    assert reply[0] == "ERROR" and reply[1].startswith("invalid message: ")
    assert snapshot_db(repository.dsn) == db
