# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_remove sends its REMOVEs pipelined two deep: what a failure in the middle reports."""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.modules import piw_remove


def test_a_failure_in_the_middle_names_the_removal_already_on_its_way(run_module, mr_chase):
    mr_chase.refuse_removal_of("1.1")
    result = run_module(piw_remove, dict(package="Gamma", version=["1.0", "1.1", "1.2"],
                                         import_queue=mr_chase.peer.address))
    assert result["failed"] is True
    assert result["changed"] is True
    assert result["msg"] == (
        "database unavailable: connection lost (already done before the failure: gamma 1.0; "
        "also done, already sent when it failed: gamma 1.2)"
    )
    assert mr_chase.packages["gamma"]["versions"]["1.2"]["files"] == []
    assert mr_chase.packages["gamma"]["versions"]["1.1"]["files"] != []


def test_every_version_is_removed_in_the_order_given(run_module, mr_chase):
    result = run_module(piw_remove, dict(package="gamma", version=["1.2", "1.0", "1.1"],
                                         import_queue=mr_chase.peer.address))
    assert result["changed"] is True
    assert [request[2] for request in mr_chase.peer.sent("REMOVE")] == ["1.2", "1.0", "1.1"]
    assert all(not state["files"] for state in mr_chase.packages["gamma"]["versions"].values())
