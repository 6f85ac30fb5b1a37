# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_remove against an in-memory Mr Chase: truthful changed, check mode, diff, validation first."""

from __future__ import annotations

import copy
import time

import pytest

from ansible_collections.piwheels.ops.plugins.module_utils import mr_chase_common
from ansible_collections.piwheels.ops.plugins.modules import piw_remove

GAMMA_10 = ["gamma-1.0-cp37-cp37m-linux_armv7l.whl", "gamma-1.0-py3-none-any.whl"]


def test_remove_one_version_reports_what_went(remove, mr_chase):
    result = remove(package="gamma", version="1.0")
    assert result["changed"] is True
    assert result["package"] == "gamma"
    assert result["versions"] == {
        "1.0": {
            "builds": 1,
            "files": GAMMA_10,
            "archived": [],
            "downloads": 6,
            "skip_before": "",
            "skip_after": "",
            "changed": True,
        }
    }
    assert result["msg"] == "removed 1 build, 2 files and 6 downloads of gamma 1.0"
    assert mr_chase.peer.sent("REMOVE") == [["REMOVE", "gamma", "1.0", False]]
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["files"] == []
    assert mr_chase.packages["gamma"]["versions"]["1.1"]["files"] != []


def test_remove_twice_changes_nothing(remove, mr_chase):
    assert remove(package="gamma", version="1.0")["changed"] is True
    second = remove(package="gamma", version="1.0")
    assert second["changed"] is False
    assert second["versions"]["1.0"]["changed"] is False
    assert second["msg"] == "nothing to remove from gamma 1.0"
    assert len(mr_chase.peer.sent("REMOVE")) == 1


def test_check_mode_sends_no_remove(remove, mr_chase):
    before = copy.deepcopy(mr_chase.packages)
    result = remove(package="gamma", version=["1.0", "1.1"], skip=True, check_mode=True)
    assert result["changed"] is True
    assert result["msg"].startswith("would remove 2 builds, 4 files and 12 downloads of gamma 1.0, 1.1")
    assert mr_chase.peer.sent("REMOVE") == []
    assert mr_chase.peer.sent("SKIP") == []
    assert mr_chase.packages == before


def test_check_mode_predicts_the_real_run(remove):
    predicted = remove(package="gamma", version=["1.0", "1.2"], skip_reason="broken", check_mode=True)
    done = remove(package="gamma", version=["1.0", "1.2"], skip_reason="broken")
    for words in ("msg", "warnings"):
        predicted.pop(words), done.pop(words)
    assert predicted == done


def test_a_plan_is_ok_sends_no_change_and_says_it_would_change(remove, mr_chase):
    before = copy.deepcopy(mr_chase.packages)
    for check_mode in (False, True):
        planned = remove(package="gamma", version="1.0", skip=True, plan=True, diff=True, check_mode=check_mode)
        assert (planned["changed"], planned["would_change"]) == (False, True)
        assert planned["versions"]["1.0"]["changed"] is True
        assert "diff" not in planned
        assert planned["msg"].startswith("would remove 1 build, 2 files and 6 downloads of gamma 1.0")
    assert mr_chase.peer.sent("REMOVE") == mr_chase.peer.sent("SKIP") == []
    assert mr_chase.packages == before


def test_the_task_that_acts_after_a_plan_is_the_one_changed_with_the_diff(remove):
    done = remove(package="gamma", version="1.0", skip=True, diff=True)
    assert (done["changed"], done["would_change"]) == (True, True)
    assert done["diff"]["before"] == "".join(f"gamma 1.0 {name}\n" for name in GAMMA_10)
    again = remove(package="gamma", version="1.0", skip=True, plan=True)
    assert (again["changed"], again["would_change"]) == (False, False)


def test_diff_lists_the_files_before_and_none_after(remove):
    result = remove(package="gamma", version="1.0", skip=True, diff=True, check_mode=True)
    assert result["diff"]["before"] == "".join(f"gamma 1.0 {name}\n" for name in GAMMA_10)
    assert result["diff"]["after"] == "gamma 1.0 skipped: removed by request\n"


def test_diff_after_a_removal_is_empty_on_both_sides(remove):
    remove(package="gamma", version="1.0")
    result = remove(package="gamma", version="1.0", diff=True)
    assert result["diff"]["before"] == result["diff"]["after"] == ""


def test_unknown_version_fails_and_removes_nothing(remove, mr_chase):
    before = copy.deepcopy(mr_chase.packages)
    result = remove(package="gamma", version=["1.0", "9.9", "1.1"])
    assert result["failed"] is True
    assert result["changed"] is False
    assert result["msg"] == (
        "gamma has no version 9.9 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2")
    assert mr_chase.peer.sent("REMOVE") == []
    assert mr_chase.packages == before


def test_unknown_package_fails_with_mr_chases_message(remove, mr_chase):
    result = remove(package="nosuchpackage", version="1.0")
    assert result["failed"] is True
    assert result["msg"] == "piwheels has no package nosuchpackage and there is no record of deleting it"
    assert mr_chase.peer.sent("REMOVE") == []


def test_package_name_is_canonicalised(remove, mr_chase):
    result = remove(package="Beta_Tools", version="1.0")
    assert result["package"] == "beta-tools"
    assert mr_chase.peer.sent("REMOVE") == [["REMOVE", "beta-tools", "1.0", False]]


def test_all_with_skip_reason_marks_package_and_versions(remove, mr_chase):
    result = remove(package="gamma", version="all", skip_reason="maintainer asked")
    assert result["changed"] is True
    assert sorted(result["versions"]) == ["1.0", "1.1", "1.2"]
    assert result["package_skip"] == {"before": "", "after": "maintainer asked"}
    assert mr_chase.peer.sent("SKIP") == [["SKIP", "gamma", "maintainer asked"]]
    assert mr_chase.packages["gamma"]["skip"] == "maintainer asked"
    for state in mr_chase.packages["gamma"]["versions"].values():
        assert state["skip"] == "maintainer asked"
        assert state["files"] == []
    again = remove(package="gamma", version="all", skip_reason="maintainer asked")
    assert again["changed"] is False
    assert len(mr_chase.peer.sent("SKIP")) == 1


def test_all_without_skip_leaves_the_package_buildable(remove, mr_chase):
    result = remove(package="gamma", version="all")
    assert result["package_skip"] == {"before": "", "after": ""}
    assert mr_chase.peer.sent("SKIP") == []


def test_skip_true_keeps_an_existing_reason(remove, mr_chase):
    mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] = "licence problem"
    result = remove(package="gamma", version="1.0", skip=True)
    assert result["versions"]["1.0"]["skip_after"] == "licence problem"
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] == "licence problem"


def test_a_skip_change_alone_is_a_change(remove, mr_chase):
    remove(package="gamma", version="1.0")
    result = remove(package="gamma", version="1.0", skip_reason="broken")
    assert result["changed"] is True
    assert result["msg"] == "set the skip reason of gamma 1.0"
    assert mr_chase.peer.sent("REMOVE")[-1] == ["REMOVE", "gamma", "1.0", "broken"]


def test_skip_reason_implies_skip_even_with_skip_false(remove, mr_chase):
    remove(package="gamma", version="1.0", skip=False, skip_reason="broken")
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["skip"] == "broken"


def test_repeated_versions_are_removed_once(remove, mr_chase):
    result = remove(package="gamma", version=["1.0", "1.0"])
    assert list(result["versions"]) == ["1.0"]
    assert len(mr_chase.peer.sent("REMOVE")) == 1


def test_a_failure_half_way_says_what_was_already_done(remove, mr_chase):
    mr_chase.refuse_removal_of("1.1")
    result = remove(package="gamma", version=["1.0", "1.1"])
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["msg"] == "database unavailable: connection lost (already done before the failure: gamma 1.0)"


@pytest.mark.parametrize(
    "args, message",
    [
        (dict(version=1.1), "quote versions"),
        (dict(version=["1.0", 2]), "quote versions"),
        (dict(version=[]), "at least one version"),
        (dict(version=""), "non-empty string"),
        (dict(version=["all", "1.0"]), "cannot be combined"),
        (dict(version="1.0", skip_reason=""), "skip_reason must not be empty"),
        (dict(version="1.0", skip_reason="x" * 101), "longer than 100"),
        (dict(version="1.0", skip_reason="a\nb"), "skip reason contains a control character"),
        (dict(version="1.0", skip_reason="   "), "skip reason is only white space"),
        (dict(version="1.0", skip_reason="ok \u202egnp.exe"), "invisible formatting character (U+202E)"),
        (dict(version="1.0\u200b"), "version contains an invisible formatting character (U+200B)"),
        (dict(version="1.0", timeout=0), "timeout must be a positive"),
        (dict(version="1.0", skip="perhaps"), "skip"),
    ],
)
def test_bad_options_fail_before_any_request(remove, mr_chase, args, message):
    result = remove(package="gamma", **args)
    assert result["failed"] is True
    assert message in result["msg"]
    assert mr_chase.peer.requests == []


def test_mr_chase_down_fails_naming_the_address(run_module, ipc_dir):
    address = f"ipc://{ipc_dir}/piw-import"
    result = run_module(piw_remove, dict(package="gamma", version="1.0", import_queue=address))
    assert result["failed"] is True
    assert result["changed"] is False
    assert address in result["msg"]
    assert result["import_queue"] == address


def test_missing_pyzmq_gives_the_standard_message(run_module, monkeypatch):
    monkeypatch.setattr(mr_chase_common, "HAS_ZMQ", False)
    monkeypatch.setattr(mr_chase_common, "ZMQ_IMPORT_ERROR", "Traceback: No module named 'zmq'")
    result = run_module(piw_remove, dict(package="gamma", version="1.0"))
    assert result["failed"] is True
    assert "Failed to import the required Python library (pyzmq)" in result["msg"]
    assert result["exception"] == "Traceback: No module named 'zmq'"


def test_archived_files_are_reported_apart_from_the_local_ones(remove, mr_chase):
    gamma_10 = mr_chase.packages["gamma"]["versions"]["1.0"]
    gamma_10["files"].append("gamma-1.0-cp34-cp34m-linux_armv6l.whl")
    gamma_10["archived"] = ["gamma-1.0-cp34-cp34m-linux_armv6l.whl"]
    result = remove(package="gamma", version="1.0", diff=True)
    assert result["versions"]["1.0"]["files"] == GAMMA_10
    assert result["versions"]["1.0"]["archived"] == ["gamma-1.0-cp34-cp34m-linux_armv6l.whl"]
    assert result["msg"] == (
        "removed 1 build, 3 files (1 archived, not on this host) and 6 downloads of gamma 1.0"
    )
    assert "gamma 1.0 gamma-1.0-cp34-cp34m-linux_armv6l.whl (archived, not on this host)\n" in result["diff"]["before"]


def test_archived_files_carry_their_location_for_the_archive_hosts(remove, mr_chase):
    gamma_10 = mr_chase.packages["gamma"]["versions"]["1.0"]
    gamma_11 = mr_chase.packages["gamma"]["versions"]["1.1"]
    for state, version in ((gamma_10, "1.0"), (gamma_11, "1.1")):
        name = f"gamma-{version}-cp34-cp34m-linux_armv6l.whl"
        state["files"].append(name)
        state["archived"] = [name]
    gamma_10["archive_locations"] = {"gamma-1.0-cp34-cp34m-linux_armv6l.whl": "https://archive1.example/simple"}
    result = remove(package="gamma", version=["1.0", "1.1"])
    assert result["archived_files"] == [
        {"location": "https://archive1.example/simple", "package": "gamma",
         "filename": "gamma-1.0-cp34-cp34m-linux_armv6l.whl"},
        # a Mr Chase before 0.4 names no location
        {"location": "", "package": "gamma", "filename": "gamma-1.1-cp34-cp34m-linux_armv6l.whl"},
    ]
    again = remove(package="gamma", version=["1.0", "1.1"])
    assert again["changed"] is False and again["archived_files"] == []  # nothing went the second time


def test_a_version_with_only_archived_files_left_is_still_a_change(remove, mr_chase):
    gamma_10 = mr_chase.packages["gamma"]["versions"]["1.0"]
    gamma_10.update(builds=0, files=["gamma-1.0-cp34-cp34m-linux_armv6l.whl"], downloads=0)
    gamma_10["archived"] = list(gamma_10["files"])
    result = remove(package="gamma", version="1.0")
    assert result["changed"] is True
    assert mr_chase.peer.sent("REMOVE") == [["REMOVE", "gamma", "1.0", False]]


def test_without_a_master_a_change_warns_that_the_project_pages_are_stale(remove, mr_chase):
    result = remove(package="gamma", version="1.0")
    assert result["site_refreshed"] is False
    assert result["warnings"] == [
        "the project pages and JSON API of gamma were not refreshed: Mr Chase has no piw-master to notify "
        "(mr_chase_master_queue is not set), so they still list what was removed"
    ]


def test_with_a_master_a_change_refreshes_the_site_without_a_warning(remove, mr_chase):
    mr_chase.site_refresh = True
    result = remove(package="gamma", version="1.0")
    assert result["site_refreshed"] is True
    assert "warnings" not in result


@pytest.mark.parametrize("fate", ["delivered", "queued", "parked", "refused"])
def test_the_result_says_what_became_of_the_notice_for_piw_master(remove, mr_chase, fate):
    mr_chase.site_refresh = True
    mr_chase.notice = {"package": "gamma", "notice": fate}
    assert remove(package="gamma", version="1.0")["notice"] == fate
    assert mr_chase.peer.sent("STATUS")[-1] == ["STATUS", None, None]


def test_while_the_notice_is_sending_the_site_status_is_asked_again(remove, mr_chase):
    mr_chase.site_refresh, mr_chase.sending = True, 2
    assert remove(package="gamma", version="1.0")["notice"] == "delivered"
    assert mr_chase.peer.sent("STATUS").count(["STATUS", None, None]) == 3 and mr_chase.sending == 0


def test_a_notice_still_sending_at_the_timeout_is_reported_queued(remove, mr_chase):
    """Mr Chase's first delivery attempt outlasts the module's timeout: the notice waits in the outbox."""
    mr_chase.site_refresh, mr_chase.sending = True, 10**6
    started = time.monotonic()
    assert remove(package="gamma", version="1.0", timeout=1)["notice"] == "queued"
    assert time.monotonic() - started < 10
    assert mr_chase.peer.sent("STATUS").count(["STATUS", None, None]) > 2


def test_another_package_s_notice_last_is_read_from_the_outbox(remove, mr_chase):
    mr_chase.site_refresh = True
    mr_chase.notice = {"package": "beta-tools", "notice": "queued"}  # another client's change came between
    assert remove(package="gamma", version="1.0")["notice"] == "queued"


def test_no_notice_is_asked_after_without_a_master_or_a_change_or_in_check_mode(remove, mr_chase):
    assert remove(package="gamma", version="1.0")["notice"] == "none"  # no piw-master
    mr_chase.site_refresh = True
    assert remove(package="gamma", version="1.1", check_mode=True)["notice"] == "none"
    remove(package="gamma", version="1.1")
    assert remove(package="gamma", version="1.1")["notice"] == "none"  # nothing changed
    assert mr_chase.peer.sent("STATUS").count(["STATUS", None, None]) == 1


def test_no_change_refreshes_nothing_and_warns_of_nothing(remove, mr_chase):
    remove(package="gamma", version="1.0")
    again = remove(package="gamma", version="1.0")
    assert again["site_refreshed"] is False
    assert "warnings" not in again


def test_an_older_mr_chase_is_read_as_one_without_a_master(remove, mr_chase):
    mr_chase.speaks_0_1 = True
    result = remove(package="gamma", version="1.0", check_mode=True)
    assert result["changed"] is True
    assert result["versions"]["1.0"]["archived"] == []
    assert result["site_refreshed"] is False
    assert "would not be refreshed" in result["warnings"][0]


def test_versions_are_listed_in_pep_440_order_and_removed_in_the_order_asked(remove, mr_chase):
    gamma = mr_chase.packages["gamma"]["versions"]
    gamma["1.10"] = dict(gamma["1.2"], files=["gamma-1.10-py3-none-any.whl"])
    gamma["1.9"] = dict(gamma["1.2"], files=["gamma-1.9-py3-none-any.whl"])
    result = remove(package="gamma", version=["1.10", "1.9"], diff=True)
    assert result["msg"] == "removed 2 builds, 2 files and 12 downloads of gamma 1.9, 1.10"
    assert result["diff"]["before"] == "gamma 1.9 gamma-1.9-py3-none-any.whl\ngamma 1.10 gamma-1.10-py3-none-any.whl\n"
    assert [request[2] for request in mr_chase.peer.sent("REMOVE")] == ["1.10", "1.9"]


def test_a_removal_still_being_settled_is_never_reported_ok(remove, mr_chase):
    """Mr Chase lost the database at COMMIT: STATUS may show nothing left, but the outcome is not known yet."""
    state = mr_chase.packages["gamma"]["versions"]["1.0"]
    state.update(builds=0, files=[], downloads=0, settling=True)
    for check_mode in (True, False):
        result = remove(package="gamma", version="1.0", check_mode=check_mode)
        assert result["failed"] is True and result["changed"] is False
        assert "still being settled" in result["msg"]
    assert mr_chase.peer.sent("REMOVE") == []


@pytest.mark.parametrize("field, value", [
    ("package", "gam\u2028ma"), ("package", "gamma\x85"), ("version", "1.0\u2029"), ("version", "1.0\x9b"),
    ("skip_reason", "broken\u2028forged log line"),
])
def test_line_separators_and_c1_controls_are_refused_before_anything_is_sent(remove, mr_chase, field, value):
    args = {"package": "gamma", "version": "1.0", field: value}
    result = remove(**args)
    assert result["failed"] is True
    assert "control character" in result["msg"]
    assert mr_chase.peer.sent("STATUS") == [] and mr_chase.peer.sent("REMOVE") == []


STALE_PAGE = ("committed, but simple/gamma/index.html could not be written (Operation not permitted); it stays "
              "stale until a later write of it succeeds (STATUS stale_pages)")


def test_a_removal_that_left_its_page_stale_is_changed_and_warns_until_the_page_is_written(remove, mr_chase):
    remove_rows, status = mr_chase.do_REMOVE, mr_chase.do_STATUS
    stale = []

    def remove_leaving_the_page(name, version, skip):
        remove_rows(name, version, skip)
        stale[:] = ["simple/gamma/index.html"]
        return ["ERROR", STALE_PAGE]

    mr_chase.do_REMOVE = remove_leaving_the_page
    mr_chase.do_STATUS = lambda name, version: ["STATUS", dict(status(name, version)[1], stale_pages=list(stale))]
    first = remove(package="gamma", version="1.0")
    assert not first.get("failed") and first["changed"] is True
    assert f"gamma: Mr Chase {STALE_PAGE}" in first["warnings"]
    second = remove(package="gamma", version="1.0")
    assert not second.get("failed") and second["changed"] is False
    assert any("simple/gamma/index.html could not be written by an earlier change" in w for w in second["warnings"])
    stale.clear()
    assert "warnings" not in remove(package="gamma", version="1.0")
