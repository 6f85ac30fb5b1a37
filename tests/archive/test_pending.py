"""The archive hosts' pending list (issue 23): what a change that deletes archived files' rows leaves for them.

A real Mr Chase and a real PostgreSQL.  Some files of the test repository are
moved to two archive locations (their ``files.location`` rows point at an
archive server, their wheels leave this host); REMOVE, FORGET and DELETE of
them must leave those files pending per location (site STATUS, PENDING,
PONG's health), durably (a restart, a kill between COMMIT and the journal's
drop), until ARCHIVED acknowledges them.
"""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pytest
from chase_helpers import MrChase, journal_pending, journal_record, make_config, scalar

ARCHIVE1 = "https://archive1.piwheels.example/simple"
ARCHIVE2 = "https://archive2.piwheels.example/simple"


def archive(repository, package: str, version: str, index: int, location: str) -> list[str]:
    """Move the ``index``-th file of a version to an archive server: its row names ``location``, its wheel
    leaves this host.  Return [package, filename]."""
    filename = repository.manifest.files(package, version)[index]
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE files SET location = %s WHERE filename = %s", (location, filename))
    (repository.simple / package / filename).unlink()
    return [package, filename]


def versions(repository, package: str) -> list[str]:
    return list(repository.manifest.packages[package])


def pending(chase, location: str) -> dict:
    reply = chase.client("PENDING", location)
    assert reply[0] == "PENDING", reply
    return reply[1]


def archive_pending(chase) -> int:
    return chase.client("PING")[2]["archive_pending"]


def site_archives(chase) -> dict:
    return chase.client("STATUS", None, None)[1]["archives"]


def audit_records(ipc_dir: Path, request_type: str) -> list[dict]:
    lines = (ipc_dir / "audit.jsonl").read_text().splitlines()
    return [record for record in map(json.loads, lines) if record["request"][0] == request_type]


def test_remove_forget_and_delete_leave_archived_files_pending_per_location(repository, mr_chase, ipc_dir):
    alpha = versions(repository, "alpha")
    removed = [archive(repository, "alpha", alpha[0], 0, ARCHIVE1), archive(repository, "alpha", alpha[0], 1,
                                                                             ARCHIVE2 + "/")]
    forgotten = [archive(repository, "alpha", alpha[1], 1, ARCHIVE1)]
    beta = versions(repository, "beta-tools")
    deleted = [archive(repository, "beta-tools", beta[0], 0, ARCHIVE2), archive(repository, "beta-tools", beta[2], 1,
                                                                               ARCHIVE1)]
    assert site_archives(mr_chase) == {} and archive_pending(mr_chase) == 0
    # STATUS names each archived file's location (normalised), for the modules' archived_files
    assert mr_chase.client("STATUS", "alpha", alpha[0])[1]["archive_locations"] == {
        removed[0][1]: ARCHIVE1, removed[1][1]: ARCHIVE2}
    assert mr_chase.client("STATUS", "beta-tools", None)[1]["archive_locations"] == {
        deleted[0][1]: ARCHIVE2, deleted[1][1]: ARCHIVE1}
    assert mr_chase.client("STATUS", "gamma", None)[1]["archive_locations"] == {}

    assert mr_chase.client("REMOVE", "alpha", alpha[0], True) == ["DONE"]
    assert pending(mr_chase, ARCHIVE1) == {"location": ARCHIVE1, "files": [removed[0]], "total": 1}
    assert pending(mr_chase, ARCHIVE2 + "/") == {"location": ARCHIVE2, "files": [removed[1]], "total": 1}
    assert mr_chase.client("FORGET", "alpha", alpha[1]) == ["DONE"]
    assert mr_chase.client("DELETE", "beta-tools") == ["DONE"]

    def check() -> None:
        assert pending(mr_chase, ARCHIVE1) == {"location": ARCHIVE1, "total": 3,
                                               "files": [removed[0], forgotten[0], deleted[1]]}
        assert pending(mr_chase, ARCHIVE2) == {"location": ARCHIVE2, "total": 2, "files": [removed[1], deleted[0]]}
        assert site_archives(mr_chase) == {ARCHIVE1: {"pending": 3}, ARCHIVE2: {"pending": 2}}
        assert archive_pending(mr_chase) == 5
        assert pending(mr_chase, "https://archive3.piwheels.example/simple") == {
            "location": "https://archive3.piwheels.example/simple", "files": [], "total": 0}

    check()
    # the rows are gone and the REMOVE changed nothing else: the local wheels went, the archived ones were never here
    assert scalar(repository.dsn, "SELECT count(*) FROM files WHERE location <> '/simple'") == 0
    mr_chase.stop()
    mr_chase.start()
    check()


def test_archived_acknowledges_partially_repeatedly_and_ignores_pairs_not_pending(repository, mr_chase, ipc_dir):
    gamma = versions(repository, "gamma")
    files = [archive(repository, "gamma", gamma[0], 0, ARCHIVE1), archive(repository, "gamma", gamma[0], 1, ARCHIVE1)]
    assert mr_chase.client("REMOVE", "gamma", gamma[0], False) == ["DONE"]
    ledger = repository.output_path / ".mr-chase" / "ledger" / "archive"
    assert pending(mr_chase, ARCHIVE1)["files"] == files  # answered once the change is settled (after the reply)
    assert [json.loads(path.read_text()) for path in ledger.iterdir()] == [{"location": ARCHIVE1, "files": files}]

    unknown = ["gamma", "gamma-9.9-py3-none-any.whl"]
    assert mr_chase.client("ARCHIVED", ARCHIVE1 + "/", [files[0], unknown]) == ["DONE"]
    assert pending(mr_chase, ARCHIVE1) == {"location": ARCHIVE1, "files": [files[1]], "total": 1}
    assert mr_chase.client("ARCHIVED", ARCHIVE1, [files[0]]) == ["DONE"]  # again: nothing changes
    assert mr_chase.client("ARCHIVED", ARCHIVE2, [files[1]]) == ["DONE"]  # another location's: not this one
    assert pending(mr_chase, ARCHIVE1)["files"] == [files[1]] and archive_pending(mr_chase) == 1

    mr_chase.stop()
    mr_chase.start()
    assert pending(mr_chase, ARCHIVE1)["files"] == [files[1]]
    assert mr_chase.client("ARCHIVED", ARCHIVE1, [files[1]]) == ["DONE"]
    assert pending(mr_chase, ARCHIVE1) == {"location": ARCHIVE1, "files": [], "total": 0}
    assert site_archives(mr_chase) == {} and archive_pending(mr_chase) == 0
    assert list(ledger.iterdir()) == []  # the entry goes when empty
    audited = [(r["request"], r["acknowledged"]) for r in audit_records(ipc_dir, "ARCHIVED")]
    assert audited == [(["ARCHIVED", ARCHIVE1, 2], 1), (["ARCHIVED", ARCHIVE1, 1], 0), (["ARCHIVED", ARCHIVE2, 1], 0),
                       (["ARCHIVED", ARCHIVE1, 1], 1)]


def test_a_removal_without_archived_files_records_nothing_and_syncs_nothing_more(repository, ipc_dir):
    """The hot path is unchanged: the evidence line holds no ``archived`` (so it is not synced), no ledger entry."""
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
    alpha = versions(repository, "alpha")
    chase.start(env={"MR_CHASE_CRASH_AT": "moved"})  # after the evidence line, before COMMIT
    assert chase.client.raw(json.dumps(["REMOVE", "alpha", alpha[0], False]).encode(), timeout=5) is None
    assert chase.wait_exit(30) == 70
    record = journal_record(repository.output_path)
    assert "archived" not in record and record["xid"]
    chase.start()
    try:
        assert not journal_pending(repository.output_path)  # rolled back
        assert chase.client("REMOVE", "alpha", alpha[0], False) == ["DONE"]
        assert archive_pending(chase) == 0 and site_archives(chase) == {}
        assert not (repository.output_path / ".mr-chase" / "ledger" / "archive").exists()
    finally:
        chase.stop()


#: the steps of a REMOVE from COMMIT to the journal's drop (the hook of tests/reliability: MR_CHASE_CRASH_AT)
AFTER_COMMIT = ["committed", "page_replaced", "cleaning", "archives_recorded", "files_deleted"]
BEFORE_COMMIT = ["journal_written", "moved"]  # "committing" runs once COMMIT is sent: either outcome


@pytest.mark.parametrize("request_type", ["REMOVE", "DELETE"])
@pytest.mark.parametrize("step", AFTER_COMMIT + BEFORE_COMMIT)
def test_killed_between_commit_and_journal_drop_loses_no_pending_file(repository, ipc_dir, step, request_type):
    """Killed at each step of a change with archived files: committed, every file is pending once after the
    restart (recovery settles it); killed before COMMIT, nothing is pending and the rows are back."""
    gamma = versions(repository, "gamma")
    files = [archive(repository, "gamma", gamma[1], 0, ARCHIVE1), archive(repository, "gamma", gamma[1], 1, ARCHIVE2)]
    message = ["REMOVE", "gamma", gamma[1], True] if request_type == "REMOVE" else ["DELETE", "gamma"]
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
    chase.start(env={"MR_CHASE_CRASH_AT": step})
    chase.client.raw(json.dumps(message).encode(), timeout=5)  # a reply, or none: the process ends at the step
    assert chase.wait_exit(30) == 70, chase.log()[-2000:]
    if step not in ("archives_recorded", "files_deleted"):
        assert journal_pending(repository.output_path)
    chase.start()
    try:
        assert not journal_pending(repository.output_path)
        committed = step in AFTER_COMMIT
        left = scalar(repository.dsn, "SELECT count(*) FROM files WHERE location <> '/simple'")
        assert left == (0 if committed else 2)
        expected = {ARCHIVE1: [files[0]], ARCHIVE2: [files[1]]} if committed else {ARCHIVE1: [], ARCHIVE2: []}
        for location, pairs in expected.items():
            assert pending(chase, location) == {"location": location, "files": pairs, "total": len(pairs)}
        assert archive_pending(chase) == (2 if committed else 0)
    finally:
        chase.stop()


def test_a_change_that_fails_before_commit_records_nothing(repository, ipc_dir):
    gamma = versions(repository, "gamma")
    archive(repository, "gamma", gamma[2], 0, ARCHIVE1)
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
    chase.start(env={"MR_CHASE_FAIL_AT": "moved"})
    try:
        reply = chase.client("REMOVE", "gamma", gamma[2], True)
        assert reply[0] == "ERROR" and "failure injected at moved" in reply[1]
        assert pending(chase, ARCHIVE1)["total"] == 0 and archive_pending(chase) == 0
        assert scalar(repository.dsn, "SELECT count(*) FROM files WHERE location <> '/simple'") == 1
    finally:
        chase.stop()


def test_bad_pending_and_archived_requests_change_nothing(repository, mr_chase):
    gamma = versions(repository, "gamma")
    files = [archive(repository, "gamma", gamma[0], 0, ARCHIVE1)]
    assert mr_chase.client("REMOVE", "gamma", gamma[0], False) == ["DONE"]
    for bad, words in [
        (["ARCHIVED", ARCHIVE1, [[files[0][0], files[0][1][:-4] + ".tar.gz"]]], "is not a wheel (.whl)"),
        (["ARCHIVED", ARCHIVE1, [files[0], ["gamma", "../x.whl"]]], "filename could escape the archive tree"),
        (["ARCHIVED", ARCHIVE1, files[0]], "each of files must be a [package, filename] pair"),
        (["ARCHIVED", ARCHIVE1, [files[0]] * 1001], "files holds 1001 pairs, more than 1000"),
        (["PENDING", "x" * 301], "location longer than 300 characters"),
        (["ARCHIVED", "", files], "location must not be empty"),
    ]:
        reply = mr_chase.client(*bad)
        assert reply[0] == "ERROR" and reply[1].startswith("invalid message: ") and words in reply[1], (bad, reply)
    assert pending(mr_chase, ARCHIVE1)["files"] == files  # a request refused as a whole acknowledges nothing
