# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_package against an in-memory Mr Chase: a whole package deleted, truthfully, once."""

from __future__ import annotations

import pytest

from ansible_collections.piwheels.ops.plugins.modules import piw_package


@pytest.fixture
def package(runner, mr_chase):
    """Run piw_package against the fake Mr Chase with these options."""
    return runner(piw_package, mr_chase.peer, timeout=5, state="absent")


def test_delete_check_real_check_real_is_changed_changed_ok_ok(package, mr_chase):
    results = [package(package="beta-tools", check_mode=check) for check in (True, False, True, False)]
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert mr_chase.peer.sent("DELETE") == [["DELETE", "beta-tools"]]
    assert "beta-tools" not in mr_chase.packages
    assert results[0]["msg"] == (
        "would delete package beta-tools: 3 versions, 3 builds, 6 files and 18 downloads, "
        "and its 1 alias beta_tools"
    )
    assert results[1]["msg"].startswith("deleted package beta-tools: ")
    assert results[3]["msg"] == "nothing to delete: beta-tools already deleted at 2026-01-02T03:04:05Z"
    assert results[3]["deleted_at"] == "2026-01-02T03:04:05Z" and results[3]["unknown"] is False
    assert "warnings" not in results[3]


def test_the_result_says_what_the_package_held(package):
    result = package(package="Beta_Tools")
    assert {key: value for key, value in result.items() if key not in ("msg", "warnings")} == {
        "changed": True,
        "would_change": True,
        "package": "beta-tools",
        "existed": True,
        "versions": ["1.0", "1.1", "1.2"],
        "yanked": [],
        "skip": "",
        "builds": 3,
        "file_count": 6,
        "archived_count": 0,
        "downloads": 18,
        "aliases": ["beta_tools"],
        "site_refreshed": False,
        "archived_files": [],
        "notice": "none",
    }


def test_the_result_names_each_archived_file_with_its_location(package, mr_chase):
    state = mr_chase.packages["beta-tools"]["versions"]["1.1"]
    state["archived"] = [state["files"][0]]
    state["archive_locations"] = {state["files"][0]: "https://archive2.example/simple"}
    result = package(package="beta-tools", check_mode=True)
    assert result["archived_files"] == [{"location": "https://archive2.example/simple", "package": "beta-tools",
                                         "filename": state["files"][0]}]


def test_an_unknown_package_is_already_absent(package, mr_chase):
    result = package(package="No_Such.Package")
    assert result["changed"] is False
    assert result["existed"] is False
    assert result["package"] == "no-such-package"
    assert result["versions"] == [] and result["file_count"] == 0
    assert mr_chase.peer.sent("DELETE") == []


def test_the_diff_lists_the_package_before_and_nothing_after(package, mr_chase):
    mr_chase.packages["gamma"]["versions"]["1.1"]["yanked"] = True
    mr_chase.packages["gamma"]["skip"] = "maintainer asked"
    result = package(package="gamma", check_mode=True, diff=True)
    assert result["diff"]["before"] == (
        "package: gamma\nversions: 1.0, 1.1, 1.2\nyanked: 1.1\nskipped: maintainer asked\nbuilds: 3\n"
        "files: 6 (0 archived, not on this host)\ndownloads: 18\n"
    )
    assert result["diff"]["after"] == ""
    assert package(package="nosuchpackage", diff=True)["diff"] == dict(
        before="", after="", before_header="nosuchpackage (Mr Chase)", after_header="nosuchpackage (Mr Chase)"
    )


def test_check_mode_sends_only_status(package, mr_chase):
    package(package="gamma", check_mode=True)
    assert {request[0] for request in mr_chase.peer.requests} == {"STATUS"}
    assert "gamma" in mr_chase.packages


def test_state_must_be_given(run_module, mr_chase):
    result = run_module(piw_package, dict(package="gamma", import_queue=mr_chase.peer.address))
    assert result["failed"] is True
    assert "state" in result["msg"]
    assert mr_chase.peer.requests == []


def test_another_error_than_unknown_package_fails(package, mr_chase):
    mr_chase.refuse("STATUS", message="database unavailable: connection lost")
    result = package(package="gamma")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "database unavailable: connection lost"


def test_a_failed_delete_is_not_changed(package, mr_chase):
    mr_chase.refuse("DELETE")
    result = package(package="gamma")
    assert result["failed"] is True and result["changed"] is False
    assert "gamma" in mr_chase.packages


def test_without_a_master_a_deletion_warns_of_the_search_index(package, mr_chase):
    result = package(package="gamma")
    assert result["site_refreshed"] is False
    assert "search index still lists the package" in result["warnings"][0]
    mr_chase.site_refresh = True
    assert "warnings" not in package(package="beta-tools")


def test_a_deletion_still_being_settled_is_never_reported(package, mr_chase):
    original = mr_chase.do_STATUS
    mr_chase.do_STATUS = lambda name, version: ["STATUS", dict(original(name, version)[1], settling=True)]
    result = package(package="gamma")
    assert result["failed"] is True and "still being settled" in result["msg"]
    assert mr_chase.peer.sent("DELETE") == []


@pytest.mark.parametrize("name", ["gam\u2028ma", "gamma\x85", ""])
def test_a_name_mr_chase_refuses_is_refused_first(package, mr_chase, name):
    result = package(package=name)
    assert result["failed"] is True
    assert mr_chase.peer.requests == []


def test_two_aliases_are_aliases_not_aliass(package, mr_chase):
    mr_chase.packages["beta-tools"]["aliases"] = ["Beta_Tools", "beta_tools"]
    result = package(package="beta-tools", check_mode=True)
    assert result["msg"].endswith(", and its 2 aliases Beta_Tools, beta_tools"), result["msg"]


def test_a_deletion_that_left_the_root_index_stale_is_changed_and_warns(package, mr_chase):
    delete = mr_chase.do_DELETE
    message = ("committed, but simple/index.html could not be written (Is a directory); it stays stale until a "
               "later write of it succeeds (STATUS stale_pages)")
    mr_chase.do_DELETE = lambda name: [delete(name), ["ERROR", message]][1]
    result = package(package="gamma")
    assert not result.get("failed") and result["changed"] is True
    assert f"gamma: Mr Chase {message}" in result["warnings"]
    assert "gamma" not in mr_chase.packages


def test_a_package_that_never_existed_is_not_already_deleted(package, mr_chase):
    """Issue 24: 0.3.0 said "nothing to delete: piwheels has no package gamam" as if it were done."""
    result = package(package="Gamam")
    assert result["changed"] is False and result["existed"] is False
    assert result["unknown"] is True and result["deleted_at"] is None and result["close"] == ["gamma"]
    assert result["msg"] == "nothing to delete: piwheels has no package gamam and no record of deleting it"
    assert result["warnings"] == ["piwheels has no package Gamam (gamam as PEP 503 normalises it) and there is no "
                                  "record of deleting it; did you mean gamma?"]
    assert mr_chase.peer.sent("DELETE") == []


def test_a_plan_is_ok_deletes_nothing_and_says_it_would_change(package, mr_chase):
    planned = package(package="beta-tools", plan=True, diff=True)
    assert (planned["changed"], planned["would_change"]) == (False, True)
    assert "diff" not in planned
    assert planned["msg"].startswith("would delete package beta-tools: ")
    assert mr_chase.peer.sent("DELETE") == []
    assert "beta-tools" in mr_chase.packages
    done = package(package="beta-tools", diff=True)
    assert (done["changed"], done["would_change"]) == (True, True)
    assert done["diff"]["before"]
    assert package(package="beta-tools", plan=True)["would_change"] is False


def test_with_piw_master_down_the_deletion_reports_its_notice_queued(package, mr_chase):
    mr_chase.site_refresh = True
    mr_chase.notice = {"package": None, "notice": "queued"}
    assert package(package="beta-tools")["notice"] == "queued"
    assert mr_chase.peer.sent("STATUS")[-1] == ["STATUS", None, None]  # asked once, after the change
