# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_remove's other states against an in-memory Mr Chase: forgotten, yanked, unyanked, unskipped."""

from __future__ import annotations

import copy

import pytest

GAMMA_10 = ["gamma-1.0-cp37-cp37m-linux_armv7l.whl", "gamma-1.0-py3-none-any.whl"]


def four_times(remove, **args):
    """Check mode, real, check mode, real: the results, as the integration targets run each case."""
    return [remove(check_mode=check, **args) for check in (True, False, True, False)]


# forgotten


def test_forget_check_real_check_real_is_changed_changed_ok_ok(remove, mr_chase):
    results = four_times(remove, package="gamma", version="1.0", state="forgotten")
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert mr_chase.peer.sent("FORGET") == [["FORGET", "gamma", "1.0"]]
    assert "1.0" not in mr_chase.packages["gamma"]["versions"]
    assert results[0]["versions"] == results[1]["versions"]
    assert results[1]["forgotten"] == ["1.0"] and results[1]["already_forgotten"] == []
    assert results[3]["forgotten"] == [] and results[3]["already_forgotten"] == ["1.0"]
    assert results[3]["msg"] == "nothing to forget: gamma 1.0 already forgotten"


def test_forget_reports_what_went_with_the_version(remove):
    result = remove(package="gamma", version="1.0", state="forgotten")
    assert result["state"] == "forgotten"
    assert result["versions"]["1.0"] == {
        "builds": 1, "files": GAMMA_10, "archived": [], "downloads": 6,
        "skip_before": "", "skip_after": "", "changed": True,
    }
    assert result["msg"] == "forgot gamma 1.0 (1 build, 2 files and 6 downloads)"


def test_forgetting_a_version_the_package_never_had_is_unknown_not_already_forgotten(remove, mr_chase):
    """Issue 24: 0.3.0 called 9.9 already forgotten; nothing records that it ever was."""
    result = remove(package="gamma", version=["1.1", "9.9"], state="forgotten")
    assert result["changed"] is True
    assert result["forgotten"] == ["1.1"]
    assert result["already_forgotten"] == [] and result["unknown"] == ["9.9"]
    assert result["msg"] == ("forgot gamma 1.1 (1 build, 2 files and 6 downloads); "
                             "gamma has no version 9.9 (no record of forgetting it)")
    assert result["warnings"][-1] == (
        "gamma has no version 9.9 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2")
    assert mr_chase.peer.sent("FORGET") == [["FORGET", "gamma", "1.1"]]
    assert ["STATUS", "gamma", "9.9"] not in mr_chase.peer.requests


@pytest.mark.parametrize("asked", [["1.1.0", "v1.2"], ["1.1", "1.2"]])
def test_other_spellings_of_a_version_are_forgotten_not_already_forgotten(remove, mr_chase, asked):
    """Issue 24: 0.3.0 said "Nothing to forget for gamma 1.1.0, v1.2: already forgotten" and kept them."""
    result = remove(package="gamma", version=asked, state="forgotten")
    assert result["changed"] is True and result["forgotten"] == ["1.1", "1.2"]
    assert result["matched"] == {a: s for a, s in zip(asked, ["1.1", "1.2"], strict=True) if a != s}
    assert mr_chase.peer.sent("FORGET") == [["FORGET", "gamma", "1.1"], ["FORGET", "gamma", "1.2"]]
    again = remove(package="gamma", version=asked, state="forgotten")
    assert again["changed"] is False and again["unknown"] == [] and "warnings" not in again
    assert again["already_forgotten"] == asked
    assert again["already_forgotten_at"] == dict.fromkeys(asked, "2026-01-02T03:04:05Z")


def test_a_typo_in_a_version_says_what_was_meant(remove, mr_chase):
    result = remove(package="gamma", version="1.20", state="forgotten")
    assert result["changed"] is False and result["unknown"] == ["1.20"]
    assert "; did you mean 1.2" in result["warnings"][-1]
    assert mr_chase.peer.sent("FORGET") == []


@pytest.mark.parametrize("state", ["removed", "yanked", "unyanked", "unskipped"])
def test_other_spellings_are_matched_for_every_state(remove, mr_chase, state):
    result = remove(package="gamma", version="v1.0.0", state=state)
    assert "failed" not in result and result["matched"] == {"v1.0.0": "1.0"}
    assert list(result["versions"]) == ["1.0"]
    assert not any("v1.0.0" in request for request in mr_chase.peer.requests if request[0] != "MATCH")


def test_forgetting_a_version_of_an_unknown_package_fails(remove, mr_chase):
    result = remove(package="nosuchpackage", version="1.0", state="forgotten")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "piwheels has no package nosuchpackage and there is no record of deleting it"
    assert mr_chase.peer.sent("FORGET") == []


def test_forget_diff_shows_the_version_and_its_files_before_and_nothing_after(remove):
    result = remove(package="gamma", version="1.0", state="forgotten", diff=True, check_mode=True)
    assert result["diff"]["before"] == "gamma 1.0 (the version itself)\n" + "".join(
        f"gamma 1.0 {name}\n" for name in GAMMA_10
    )
    assert result["diff"]["after"] == ""


def test_forget_all_with_skip_reason_skips_the_package_first(remove, mr_chase):
    result = remove(package="gamma", version="all", state="forgotten", skip_reason="deleted from PyPI")
    assert result["changed"] is True
    assert result["package_skip"] == {"before": "", "after": "deleted from PyPI"}
    assert mr_chase.peer.requests[-4:] == [
        ["SKIP", "gamma", "deleted from PyPI"],
        ["FORGET", "gamma", "1.0"], ["FORGET", "gamma", "1.1"], ["FORGET", "gamma", "1.2"],
    ]
    assert mr_chase.packages["gamma"] == dict(mr_chase.packages["gamma"], skip="deleted from PyPI", versions={})
    again = remove(package="gamma", version="all", state="forgotten", skip_reason="deleted from PyPI")
    assert again["changed"] is False
    assert again["msg"] == "nothing to forget: gamma has no versions"


@pytest.mark.parametrize("skip", [dict(skip=True), dict(skip_reason="broken")])
def test_forget_with_skip_of_one_version_fails_saying_why(remove, mr_chase, skip):
    result = remove(package="gamma", version="1.0", state="forgotten", **skip)
    assert result["failed"] is True
    assert "need version: all" in result["msg"] and "state=removed with skip" in result["msg"]
    assert mr_chase.peer.requests == []


def test_a_forget_failing_half_way_says_what_was_already_forgotten(remove, mr_chase):
    mr_chase.refuse("FORGET", version="1.1")
    result = remove(package="gamma", version=["1.0", "1.1"], state="forgotten")
    assert result["failed"] is True and result["changed"] is True
    assert result["msg"] == "database unavailable: connection lost (already done before the failure: gamma 1.0)"


# yanked / unyanked


def test_yank_check_real_check_real_is_changed_changed_ok_ok(remove, mr_chase):
    results = four_times(remove, package="gamma", version="1.0", state="yanked")
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert mr_chase.peer.sent("YANK") == [["YANK", "gamma", "1.0", True]]
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["yanked"] is True
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["files"] == GAMMA_10
    assert results[1]["versions"] == {"1.0": {"yanked_before": False, "yanked_after": True, "changed": True}}
    assert results[0]["msg"] == "would yank gamma 1.0"
    assert results[1]["msg"] == "yanked gamma 1.0"
    assert results[3]["msg"] == "nothing to yank: gamma 1.0 already yanked"


def test_unyank_check_real_check_real_is_changed_changed_ok_ok(remove, mr_chase):
    mr_chase.packages["gamma"]["versions"]["1.1"]["yanked"] = True
    results = four_times(remove, package="gamma", version="1.1", state="unyanked")
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert mr_chase.peer.sent("YANK") == [["YANK", "gamma", "1.1", False]]
    assert results[1]["msg"] == "unyanked gamma 1.1"
    assert results[3]["msg"] == "nothing to unyank: gamma 1.1 not yanked"


def test_yank_only_sends_for_the_versions_whose_flag_differs(remove, mr_chase):
    mr_chase.packages["gamma"]["versions"]["1.1"]["yanked"] = True
    result = remove(package="gamma", version="all", state="yanked", diff=True)
    assert [v["changed"] for v in result["versions"].values()] == [True, False, True]
    assert [request[2] for request in mr_chase.peer.sent("YANK")] == ["1.0", "1.2"]
    assert result["diff"]["before"] == "gamma 1.0 yanked: false\ngamma 1.1 yanked: true\ngamma 1.2 yanked: false\n"
    assert result["diff"]["after"] == "gamma 1.0 yanked: true\ngamma 1.1 yanked: true\ngamma 1.2 yanked: true\n"


def test_yank_of_an_unknown_version_fails_and_yanks_nothing(remove, mr_chase):
    before = copy.deepcopy(mr_chase.packages)
    result = remove(package="gamma", version=["1.0", "9.9"], state="yanked")
    assert result["failed"] is True and result["changed"] is False
    assert result["msg"] == "gamma has no version 9.9 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2"
    assert mr_chase.peer.sent("YANK") == []
    assert mr_chase.packages == before


# unskipped


def test_unskip_check_real_check_real_is_changed_changed_ok_ok(remove, mr_chase):
    mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] = "broken release"
    results = four_times(remove, package="gamma", version="1.0", state="unskipped", diff=True)
    assert [r["changed"] for r in results] == [True, True, False, False]
    assert mr_chase.peer.sent("UNSKIP") == [["UNSKIP", "gamma", "1.0"]]
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] == ""
    assert results[1]["versions"] == {"1.0": {"skip_before": "broken release", "skip_after": "", "changed": True}}
    assert results[0]["diff"]["before"] == "gamma 1.0 skipped: broken release\n"
    assert results[0]["diff"]["after"] == ""
    assert results[1]["msg"] == "cleared the skip reason of gamma 1.0"
    assert results[3]["msg"] == "nothing to un-skip: gamma 1.0 not skipped"


def test_unskip_all_clears_the_package_and_each_skipped_version(remove, mr_chase):
    mr_chase.packages["gamma"]["skip"] = "maintainer asked"
    mr_chase.packages["gamma"]["versions"]["1.2"]["skip"] = "removed by request"
    result = remove(package="gamma", version="all", state="unskipped")
    assert result["changed"] is True
    assert result["package_skip"] == {"before": "maintainer asked", "after": ""}
    assert mr_chase.peer.sent("UNSKIP") == [["UNSKIP", "gamma", "1.2"], ["UNSKIP", "gamma", None]]
    assert result["msg"] == "cleared the skip reason of gamma 1.2; cleared the skip reason of package gamma"
    assert remove(package="gamma", version="all", state="unskipped")["changed"] is False


def test_unskip_of_one_version_leaves_the_package_skipped(remove, mr_chase):
    mr_chase.packages["gamma"]["skip"] = "maintainer asked"
    result = remove(package="gamma", version="1.0", state="unskipped")
    assert result["changed"] is False
    assert result["package_skip"] == {"before": "maintainer asked", "after": "maintainer asked"}
    assert mr_chase.peer.sent("UNSKIP") == []


@pytest.mark.parametrize("state", ["yanked", "unyanked", "unskipped"])
@pytest.mark.parametrize("skip", [dict(skip=True), dict(skip_reason="broken")])
def test_skip_with_a_state_that_never_skips_fails_before_any_request(remove, mr_chase, state, skip):
    result = remove(package="gamma", version="all", state=state, **skip)
    assert result["failed"] is True
    assert f"cannot be used with state={state}" in result["msg"]
    assert mr_chase.peer.requests == []


def test_an_unknown_state_is_refused(remove, mr_chase):
    result = remove(package="gamma", version="1.0", state="deleted")
    assert result["failed"] is True
    assert mr_chase.peer.requests == []


@pytest.mark.parametrize("state", ["forgotten", "yanked", "unskipped"])
def test_a_change_without_a_master_warns_that_the_project_pages_are_stale(remove, mr_chase, state):
    mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] = "broken"
    result = remove(package="gamma", version="1.0", state=state)
    assert result["site_refreshed"] is False
    assert result["warnings"][0].startswith("the project pages and JSON API of gamma were not refreshed")


@pytest.mark.parametrize("state", ["forgotten", "yanked", "unskipped"])
def test_a_change_with_a_master_refreshes_the_site(remove, mr_chase, state):
    mr_chase.site_refresh = True
    mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] = "broken"
    result = remove(package="gamma", version="1.0", state=state)
    assert result["site_refreshed"] is True
    assert "warnings" not in result


@pytest.mark.parametrize("state", ["forgotten", "yanked", "unyanked", "unskipped"])
def test_check_mode_predicts_the_real_run(remove, mr_chase, state):
    mr_chase.packages["gamma"]["versions"]["1.2"].update(skip="broken", yanked=True)
    predicted = remove(package="gamma", version=["1.0", "1.2"], state=state, check_mode=True)
    done = remove(package="gamma", version=["1.0", "1.2"], state=state)
    for words in ("msg", "warnings"):
        predicted.pop(words, None), done.pop(words, None)
    assert predicted == done


def test_forgetting_a_version_already_emptied_names_no_counts(remove):
    remove(package="gamma", version="1.0")
    assert remove(package="gamma", version="1.0", state="forgotten")["msg"] == "forgot gamma 1.0"
