"""MATCH (issue 24): which stored version a spelling names, and whether a name that matches nothing was removed.

Mr Chase runs in-process on a real database, output tree and audit log, as
in test_operations.py.  The sample repository's gamma has 1.0, 1.1 and 1.2.
"""

from __future__ import annotations

import gzip
import json

import pytest


def test_a_pep440_spelling_matches_the_stored_version(service):
    for asked, stored in [("1.1.0", "1.1"), ("v1.2", "1.2"), ("1.2", "1.2"), ("V1.0.0", "1.0")]:
        answer = service("MATCH", "gamma", asked)
        assert answer[0] == "MATCH"
        assert answer[1] == {"package": "gamma", "version": asked, "exists": True, "matched": stored,
                             "removed": None, "close": []}


def test_a_typo_matches_nothing_and_is_not_removed_but_says_what_was_meant(service):
    answer = service("MATCH", "gamma", "1.20")[1]
    assert answer["matched"] is None and answer["removed"] is None
    assert answer["close"] == ["1.2"]  # the nearest: 1.20 is above 1.2, and gamma has nothing above
    assert service("MATCH", "gamma", "1.1.5")[1]["close"] == ["1.1", "1.2"]
    assert service("MATCH", "gamma", "l.1")[1]["close"] == ["1.1"]  # not PEP 440 (a letter l): the closest spelling


def test_a_forgotten_version_is_matched_to_its_record_by_pep440_equality(service):
    assert service("FORGET", "gamma", "1.2") == ["DONE"]
    for asked in ("1.2", "v1.2", "1.2.0"):
        removed = service("MATCH", "gamma", asked)[1]["removed"]
        assert removed["request"] == "FORGET" and removed["version"] == "1.2"
        assert removed["time"].startswith("20")
    assert service("MATCH", "gamma", "1.20")[1]["removed"] is None  # not a spelling of 1.2


def test_an_unknown_package_gets_close_names_and_a_deleted_one_its_record(service):
    answer = service("MATCH", "Gamam", None)[1]
    assert answer == {"package": "gamam", "version": None, "exists": False, "matched": None, "removed": None,
                      "close": ["gamma"]}
    assert service("MATCH", "Beta_Tool", None)[1]["close"] == ["beta-tools"]
    assert service("DELETE", "gamma") == ["DONE"]
    removed = service("MATCH", "gamma", None)[1]["removed"]
    assert removed["request"] == "DELETE" and removed["version"] is None
    assert service("MATCH", "gamma", "1.1.0")[1]["removed"]["request"] == "DELETE"  # its versions went with it


def test_records_in_rotated_copies_of_the_audit_log_count(service, ipc_dir):
    """logrotate keeps audit.jsonl.1 and compresses older copies (.2.gz): five years of records."""
    assert service("FORGET", "gamma", "1.0") == ["DONE"]
    log = ipc_dir / "audit.jsonl"
    with gzip.open(ipc_dir / "audit.jsonl.2.gz", "wb") as stream:
        stream.write(log.read_bytes())
    log.write_text("")
    (ipc_dir / "audit.jsonl.1").write_text(json.dumps({"time": "x", "request": ["FORGET", "gamma", "1.1"],
                                                       "outcome": "refused"}) + "\n")
    assert service("MATCH", "gamma", "1.0")[1]["removed"]["request"] == "FORGET"
    assert service("MATCH", "gamma", "1.1.0")[1]["matched"] == "1.1"


@pytest.mark.parametrize("message, problem", [
    (["MATCH", "gamma"], "MATCH takes 2 element(s) after the type, not 1"),
    (["MATCH", "gamma", 1.1], "version must be a string"),
    (["MATCH", "", None], "package must not be empty"),
])
def test_a_malformed_match_is_refused(service, message, problem):
    assert service(*message) == ["ERROR", f"invalid message: {problem}"]
