# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Run a module's main() in-process and catch what it reports, as Ansible would."""

from __future__ import annotations

import contextlib
import json

import pytest
from ansible.module_utils import basic
from ansible.module_utils.common.text.converters import to_bytes

from ansible_collections.piwheels.ops.plugins.modules import piw_remove

try:
    from ansible.module_utils.testing import patch_module_args  # ansible-core 2.19 and later
except ImportError:  # 2.16-2.18: AnsibleModule reads basic._ANSIBLE_ARGS

    @contextlib.contextmanager
    def patch_module_args(args):
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = to_bytes(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved


class ModuleExit(Exception):
    """Raised instead of exit_json/fail_json, carrying the result."""

    def __init__(self, result):
        super().__init__(result)
        self.result = result


@pytest.fixture
def run_module(monkeypatch):
    """``run_module(module, args, check_mode=False, diff=False)`` -> the result dict, with ``failed`` on failure.

    Warnings the module gave are in the result's ``warnings``, as Ansible shows them.
    """
    warned = []

    def exit_json(self, **result):
        if warned:
            result["warnings"] = list(warned)
        raise ModuleExit(result)

    def fail_json(self, msg, **result):
        raise ModuleExit(dict(result, msg=msg, failed=True))

    monkeypatch.setattr(basic.AnsibleModule, "exit_json", exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", fail_json)
    monkeypatch.setattr(basic.AnsibleModule, "warn", lambda self, warning: warned.append(warning))

    def run(module, args, check_mode=False, diff=False):
        warned.clear()
        args = dict(args, _ansible_check_mode=check_mode, _ansible_diff=diff)
        with patch_module_args(args), pytest.raises(ModuleExit) as raised:
            module.main()
        return raised.value.result

    return run


@pytest.fixture
def runner(run_module):
    """``runner(module, peer, **defaults)`` -> ``run(check_mode=False, diff=False, **args)``: the module run against
    a fake Mr Chase (``peer``), each option of ``defaults`` used where the test gives none."""
    def bind(module, peer, **defaults):
        def run(check_mode=False, diff=False, **args):
            args = {"import_queue": peer.address, **defaults, **args}
            return run_module(module, args, check_mode=check_mode, diff=diff)

        return run

    return bind


@pytest.fixture
def remove(runner, mr_chase):
    """Run piw_remove against the fake Mr Chase (the ``mr_chase`` fixture) with these options."""
    return runner(piw_remove, mr_chase.peer, timeout=5)
