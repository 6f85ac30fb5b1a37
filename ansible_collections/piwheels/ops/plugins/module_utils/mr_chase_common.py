# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every module that talks to Mr Chase shares: options, the pyzmq guard, one way to fail.

Modelled on community.postgresql's ``postgres.py``: the connection options are
declared once (and documented once, in the ``piwheels.ops.mr_chase`` doc
fragment), a missing library gives Ansible's standard message, and every
error from the client becomes one ``fail_json`` whose message says what to do.
"""

from __future__ import annotations

from ansible.module_utils.basic import missing_required_lib

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import (
    DEFAULT_SERVICE_USER,
    HAS_ZMQ,
    ZMQ_IMPORT_ERROR,
    MrChaseClient,
)

__all__ = (
    "DEFAULT_IMPORT_QUEUE",
    "DEFAULT_SERVICE_USER",
    "DEFAULT_TIMEOUT",
    "fail_from_error",
    "mr_chase_argument_spec",
    "mr_chase_client",
)

#: in the service's own runtime directory: never piw-master's ipc:///tmp/piw-import
DEFAULT_IMPORT_QUEUE = "ipc:///run/mr-chase/queue"
DEFAULT_TIMEOUT = 30.0


def mr_chase_argument_spec():
    """The options that say where Mr Chase is and how long to wait for it."""
    return dict(
        import_queue=dict(type="str", default=DEFAULT_IMPORT_QUEUE),
        service_user=dict(type="str", default=DEFAULT_SERVICE_USER),
        timeout=dict(type="float", default=DEFAULT_TIMEOUT),
    )


def mr_chase_client(module):
    """Return a client for the module's options, or fail the module if that cannot work.

    Fails with the standard missing-library message when pyzmq is absent, and
    on a timeout that is not positive (ZeroMQ would read 0 as "do not wait"
    and a negative value as "wait forever").
    """
    if not HAS_ZMQ:
        module.fail_json(msg=missing_required_lib("pyzmq"), exception=ZMQ_IMPORT_ERROR)
    if module.params["timeout"] <= 0:
        module.fail_json(msg=f"timeout must be a positive number of seconds, got {module.params['timeout']:g}")
    params = module.params
    return MrChaseClient(params["import_queue"], params["timeout"], service_user=params["service_user"])


def fail_from_error(module, error, **result):
    """Fail the module with the message of a MrChaseError, keeping whatever ``result`` already holds.

    ``result`` matters after a partial run: if an earlier REMOVE went through,
    the task must still say ``changed`` and what it removed.
    """
    result.setdefault("changed", False)
    module.fail_json(msg=str(error), import_queue=error.address, **result)


def exit_with_plan(module, plan, **extra):
    """End the module with what a plan did (or, in check mode, would do): its result, a one-line message,
    its warnings, and with --diff its diff."""
    result = plan.result()
    result.update(extra)
    result["msg"] = plan.summary(module.check_mode)
    for warning in plan.warnings(module.check_mode):
        module.warn(warning)
    if module._diff:
        result["diff"] = plan.diff()
    module.exit_json(**result)
