"""REMOVE, STATUS and SKIP on a real database and output tree.

Mr Chase runs in-process here (the same ``Service.handle`` the socket loop
calls), which keeps these tests fast; the wire is covered by test_wire.py.
"""

from __future__ import annotations

import json

from chase_helpers import journal_pending, page_links, scalar, snapshot_db, snapshot_tree

ALPHA_10 = ["alpha-1.0-cp37-cp37-linux_armv7l.whl", "alpha-1.0-py3-none-any.whl"]


def test_remove_deletes_rows_files_and_links(service, repository):
    dsn = repository.dsn
    assert service("REMOVE", "alpha", "1.0", False) == ["DONE"]
    assert scalar(dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' AND version = '1.0'") == 0
    assert scalar(dsn, "SELECT count(*) FROM files WHERE filename = ANY(%s)", ALPHA_10) == 0
    assert scalar(dsn, "SELECT count(*) FROM dependencies WHERE filename = ANY(%s)", ALPHA_10) == 0
    assert scalar(dsn, "SELECT count(*) FROM downloads WHERE filename = ANY(%s)", ALPHA_10) == 0
    assert scalar(dsn, "SELECT count(*) FROM versions WHERE package = 'alpha' AND version = '1.0'") == 1
    assert scalar(dsn, "SELECT skip FROM versions WHERE package = 'alpha' AND version = '1.0'") == ""
    for name in ALPHA_10:
        assert not (repository.simple / "alpha" / name).exists()  # out of the served tree by the reply
    service.service.remover.flush()  # the staged copies are deleted after the reply
    assert not list((repository.output_path / ".mr-chase" / "staging").iterdir())
    assert not journal_pending(repository.output_path)
    links = page_links(repository, "alpha")
    assert set(links) == set(repository.manifest.files("alpha", "1.1") + repository.manifest.files("alpha", "1.2"))


def test_other_packages_and_versions_untouched(service, repository):
    before = snapshot_db(repository.dsn)
    tree_before = snapshot_tree(repository.simple)
    service("REMOVE", "alpha", "1.0", True)
    after = snapshot_db(repository.dsn)
    tree_after = snapshot_tree(repository.simple)
    keep = [f for f in tree_before if not f.startswith("alpha/")]
    assert {k: tree_before[k] for k in keep} == {k: tree_after[k] for k in keep}
    for table in ("files", "downloads", "dependencies"):
        assert [r for r in before[table] if r[0] not in ALPHA_10] == after[table]
    assert before["packages"] == after["packages"]


def test_page_content_after_removal(service, repository):
    service("REMOVE", "alpha", "1.2", False)
    links = page_links(repository, "alpha")
    entries = {e.filename: e for v in ("1.0", "1.1") for e in repository.manifest.packages["alpha"][v]}
    assert set(links) == set(entries)
    for filename, attrs in links.items():
        entry = entries[filename]
        assert attrs["href"] == f"/simple/alpha/{filename}#sha256={entry.filehash}"
        assert attrs.get("data-requires-python") == entry.requires_python
        assert ("data-yanked" in attrs) == (filename.startswith("alpha-1.1-")), filename
        assert attrs.get("data-yanked", "") == ""


def test_page_stays_valid_and_empty_when_nothing_remains(service, repository):
    for version in ("1.0", "1.1", "1.2"):
        assert service("REMOVE", "gamma", version, False) == ["DONE"]
    page = repository.simple / "gamma" / "index.html"
    assert page.exists()
    assert page_links(repository, "gamma") == {}
    assert "<html>" in page.read_text() and "</html>" in page.read_text()
    assert sorted(p.name for p in (repository.simple / "gamma").iterdir()) == ["index.html"]


def test_remove_twice_changes_nothing(service, repository, ipc_dir):
    assert service("REMOVE", "alpha", "1.0", True) == ["DONE"]
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    audit_lines = (ipc_dir / "audit.jsonl").read_text().splitlines()
    assert service("REMOVE", "alpha", "1.0", True) == ["DONE"]
    assert service("REMOVE", "alpha", "1.0", False) == ["DONE"]
    assert snapshot_db(repository.dsn) == db
    assert snapshot_tree(repository.output_path) == tree
    assert (ipc_dir / "audit.jsonl").read_text().splitlines() == audit_lines


def test_skip_true_sets_the_default_reason(service, repository):
    service("REMOVE", "beta_tools", "1.1", True)
    assert scalar(repository.dsn, "SELECT skip FROM versions WHERE package = 'beta-tools' AND version = '1.1'") \
        == "removed by request"


def test_skip_reason_is_stored(service, repository):
    service("REMOVE", "gamma", "1.1", "broken release, see issue 42")
    status = service("STATUS", "gamma", "1.1")[1]
    assert status["skip"] == "broken release, see issue 42"
    assert status["builds"] == 0 and status["files"] == [] and status["downloads"] == 0


def test_skip_true_keeps_an_existing_reason(service, repository):
    service("REMOVE", "gamma", "1.1", "first reason")
    assert service("REMOVE", "gamma", "1.1", True) == ["DONE"]
    assert service("STATUS", "gamma", "1.1")[1]["skip"] == "first reason"


def test_skip_false_leaves_the_reason_alone(service, repository):
    service("REMOVE", "gamma", "1.1", "kept")
    service("REMOVE", "gamma", "1.1", False)
    assert service("STATUS", "gamma", "1.1")[1]["skip"] == "kept"


def test_skip_only_on_an_empty_version_is_a_change(service, repository, ipc_dir):
    service("REMOVE", "gamma", "1.0", False)
    service("REMOVE", "gamma", "1.0", "later reason")
    assert service("STATUS", "gamma", "1.0")[1]["skip"] == "later reason"
    lines = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    assert [line["skip"] for line in lines] == ["", "later reason"]
    assert lines[1]["builds"] == 0 and lines[1]["files"] == []


def test_status_shows_the_difference(service, repository):
    before = service("STATUS", "alpha", "1.0")
    assert before == ["STATUS", {"package": "alpha", "version": "1.0", "skip": "", "yanked": False, "builds": 1,
                                 "files": ALPHA_10, "archived": [], "downloads": 6, "site_refresh": False,
                                 "settling": False, "stale_pages": [], "archive_locations": {}}]
    service("REMOVE", "Alpha", "1.0", True)
    assert service("STATUS", "alpha", "1.0") == ["STATUS", {
        "package": "alpha", "version": "1.0", "skip": "removed by request", "yanked": False,
        "builds": 0, "files": [], "archived": [], "downloads": 0, "site_refresh": False,
        "settling": False, "stale_pages": [], "archive_locations": {}}]
    assert service("STATUS", "alpha", None)[1]["versions"] == ["1.0", "1.1", "1.2"]


def test_status_of_yanked_version(service, repository):
    assert service("STATUS", "alpha", "1.1")[1]["yanked"] is True


def test_status_versions_sort_naturally(service, repository):
    import psycopg

    with psycopg.connect(repository.dsn) as conn:
        conn.execute("INSERT INTO versions (package, version) VALUES ('gamma', '1.10'), ('gamma', '1.9')")
    assert service("STATUS", "gamma", None)[1]["versions"] == ["1.0", "1.1", "1.2", "1.9", "1.10"]


def test_skip_package_sets_and_clears(service, repository, ipc_dir):
    assert service("SKIP", "Gamma", "maintainer asked") == ["DONE"]
    assert service("STATUS", "gamma", None)[1]["skip"] == "maintainer asked"
    assert service("SKIP", "gamma", "maintainer asked") == ["DONE"]  # no change, no audit line
    assert service("SKIP", "gamma", "")[1] == "invalid message: skip reason must not be empty (UNSKIP clears a skip)"
    assert service("UNSKIP", "gamma", None) == ["DONE"]
    assert service("STATUS", "gamma", None)[1]["skip"] == ""
    assert service("UNSKIP", "gamma", None) == ["DONE"]  # nothing to clear, no audit line
    lines = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    assert [(line["request"], line["outcome"]) for line in lines] == [
        (["SKIP", "gamma", "maintainer asked"], "done"), (["UNSKIP", "gamma", None], "done")]


def test_audit_line_of_a_removal(service, repository, ipc_dir):
    service("REMOVE", "alpha", "1.0", "bad")
    (line,) = [json.loads(x) for x in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    assert line["request"] == ["REMOVE", "alpha", "1.0", "bad"]
    assert (line["builds"], line["files"], line["downloads"], line["skip"]) == (1, ALPHA_10, 6, "bad")
    assert line["outcome"] == "done" and line["time"]


def test_unknown_package_and_version(service, repository):
    before = snapshot_db(repository.dsn)
    assert service("REMOVE", "nosuch", "1.0", True) == ["ERROR", "unknown package nosuch"]
    assert service("REMOVE", "alpha", "9.9", True) == ["ERROR", "unknown package version alpha 9.9"]
    assert service("SKIP", "nosuch", "x") == ["ERROR", "unknown package nosuch"]
    assert service("STATUS", "nosuch", "1.0") == ["ERROR", "unknown package nosuch"]
    assert snapshot_db(repository.dsn) == before


def test_missing_wheel_does_not_fail_the_removal(service, repository, ipc_dir):
    missing = repository.simple / "alpha" / ALPHA_10[0]
    missing.unlink()
    assert service("REMOVE", "alpha", "1.0", False) == ["DONE"]
    assert not (repository.simple / "alpha" / ALPHA_10[1]).exists()
    assert scalar(repository.dsn, "SELECT count(*) FROM files WHERE filename = ANY(%s)", ALPHA_10) == 0
    (line,) = [json.loads(x) for x in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    assert line["missing_on_disk"] == [ALPHA_10[0]]


def test_files_are_collected_before_rows_are_deleted(service, repository):
    """The wheels go from disk even though their rows are deleted in the same request."""
    paths = [repository.simple / "beta-tools" / name for name in repository.manifest.files("beta-tools", "1.2")]
    assert all(p.exists() for p in paths)
    service("REMOVE", "beta-tools", "1.2", False)
    assert not any(p.exists() for p in paths)
