# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Matching requested versions through Mr Chase's MATCH (issue 24): the modules parse no version themselves."""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import MrChaseClient
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import (
    match_versions,
    unknown_package_message,
    unknown_version_message,
)


def client_of(mr_chase):
    return MrChaseClient(mr_chase.peer.address, 5)


def test_other_spellings_match_the_stored_versions_and_only_they_cost_a_match(mr_chase):
    with client_of(mr_chase) as client:
        matching = match_versions(client, client.status("gamma"), ["1.0", "1.1.0", "v1.2", "1.2", "1.20"])
    assert matching.stored == ["1.0", "1.1", "1.2"]
    assert matching.matched == {"1.1.0": "1.1", "v1.2": "1.2"}
    assert list(matching.unknown) == ["1.20"] and matching.removed == {}
    assert mr_chase.peer.sent("MATCH") == [["MATCH", "gamma", v] for v in ("1.1.0", "v1.2", "1.20")]


def test_a_version_the_audit_log_records_is_removed_not_unknown(mr_chase):
    mr_chase.do_FORGET("gamma", "1.2")
    with client_of(mr_chase) as client:
        matching = match_versions(client, client.status("gamma"), ["1.2.0"])
    assert matching.removed == {"1.2.0": {"request": "FORGET", "version": "1.2", "time": "2026-01-02T03:04:05Z"}}
    assert matching.unknown == {}


def test_messages_say_what_was_meant():
    match = {"removed": None, "close": ["1.2"]}
    assert unknown_version_message("gamma", "1.20", match, ["1.0", "1.1", "1.2"]) == (
        "gamma has no version 1.20 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2; "
        "did you mean 1.2?")
    forgotten = {"removed": {"request": "FORGET", "version": "1.2", "time": "T"}, "close": []}
    assert unknown_version_message("gamma", "v1.2", forgotten, []) == "gamma v1.2 was forgotten at T (as 1.2)"
    assert unknown_package_message("Gamam_X", {"package": "gamam-x", "removed": None, "close": ["gamma-x"]}) == (
        "piwheels has no package Gamam_X (gamam-x as PEP 503 normalises it) and there is no record of deleting it; "
        "did you mean gamma-x?")
