# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Issue 21 item 7d: a list, dict, number or bool where a string is expected fails the task, in every module.

Ansible would turn ``package: ["gamma"]`` into the text ``"['gamma']"``; piw_package then reported ``ok``
("no package ['gamma']"). Failed on 0.3.0: each of these tasks went on with the converted text.
"""

from __future__ import annotations

import pytest

from ansible_collections.piwheels.ops.plugins.modules import (
    piw_package,
    piw_package_info,
    piw_queue_listener,
    piw_remove,
)

NOT_STRINGS = [(["gamma"], "a list"), ({"name": "gamma"}, "a dict"), (5, "a number"), (True, "true or false")]


def modules(mr_chase):
    """module -> (its valid options, the str options to spoil one at a time)."""
    queue = mr_chase.peer.address
    return {
        piw_package: (dict(package="gamma", state="absent", import_queue=queue), ["package", "import_queue"]),
        piw_package_info: (dict(package="gamma", import_queue=queue), ["package", "service_user"]),
        piw_remove: (dict(package="gamma", version="1.0", import_queue=queue),
                     ["package", "skip_reason", "import_queue"]),  # state: its choices refuse them already
        piw_queue_listener: (dict(import_queue=queue), ["import_queue"]),
    }


@pytest.mark.parametrize("value, kind", NOT_STRINGS, ids=[kind for _value, kind in NOT_STRINGS])
def test_a_value_that_is_not_a_string_fails_the_task_and_sends_nothing(run_module, mr_chase, value, kind):
    for module, (options, str_options) in modules(mr_chase).items():
        for name in str_options:
            result = run_module(module, dict(options, **{name: value}), check_mode=True)
            assert result.get("failed") is True, (module.__name__, name, result)
            assert result["msg"].startswith(f"option {name} must be a string, not {kind} ({value!r})"), result["msg"]
    assert mr_chase.peer.requests == []


def test_the_reported_case_a_package_given_as_a_list_is_not_deleted_as_its_text(run_module, mr_chase):
    result = run_module(piw_package, dict(package=["gamma"], state="absent", import_queue=mr_chase.peer.address))
    assert result["failed"] is True and result.get("changed", False) is False
    assert "gamma" in mr_chase.packages


@pytest.mark.parametrize("module, options", [
    (piw_package, dict(package="gamma", state="absent")), (piw_remove, dict(package="gamma", version="1.0")),
])
def test_strings_still_pass(run_module, mr_chase, module, options):
    result = run_module(module, dict(options, import_queue=mr_chase.peer.address), check_mode=True)
    assert not result.get("failed"), result
