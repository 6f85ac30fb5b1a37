# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What every module that talks to Mr Chase shares: options, the pyzmq guard, one way to fail.

Modelled on community.postgresql's ``postgres.py``: the connection options are
declared once (and documented once, in the ``piwheels.ops.mr_chase`` doc
fragment), a missing library gives Ansible's standard message, and every
error from the client becomes one ``fail_json`` whose message says what to do.
"""

from __future__ import annotations

from ansible.module_utils.basic import _load_params, missing_required_lib

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
    "acting",
    "exit_with_plan",
    "fail_from_error",
    "mr_chase_argument_spec",
    "mr_chase_client",
    "refuse_non_strings",
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


def refuse_non_strings(module):
    """Fail the task when an option of type ``str`` was given anything but a string; call it right after
    building the AnsibleModule.

    Ansible turns a list, a dict, a number or a bool given for a ``str``
    option into its text (``package: ["gamma"]`` becomes ``"['gamma']"``,
    ansible-core 2.19 without even a warning), and the task would go on with
    a name nobody wrote: a STATUS of a package called ``['gamma']`` answers
    "unknown package" and a deletion reports ``ok``.  ``_load_params`` gives
    the options as the task passed them (ansible-core keeps it for modules
    that must see them so).
    """
    given = _load_params()
    for name, spec in module.argument_spec.items():
        if spec.get("type", "str") != "str":
            continue
        for key in (name, *spec.get("aliases", ())):
            value = given.get(key)
            if value is not None and not isinstance(value, str):
                module.fail_json(msg=f"option {key} must be a string, not {_kind(value)} ({value!r}); write one "
                                 "value, and quote it in YAML if it looks like a number or true/false")


def _kind(value):
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):  # noqa: UP038 (module_utils run on the Pythons ansible-core targets)
        return "a number"
    return {list: "a list", dict: "a dict"}.get(type(value), f"a {type(value).__name__}")


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


def acting(module) -> bool:
    """Whether the task may change anything: not in check mode, and not a plan (the option ``plan``)."""
    return not (module.check_mode or module.params["plan"])


def exit_with_plan(module, plan, **extra):
    """End the module with what a plan did (or, in check mode, would do): its result, a one-line message,
    its warnings, and with --diff its diff.

    ``would_change`` always says whether the plan changes something.  A task
    run with ``plan: true`` reports ``changed: false`` and no diff: it only
    looked, and the task that acts after it reports the change and shows the
    diff, so that a play which plans first counts (and shows) each change once.
    """
    planning = module.params["plan"]
    result = plan.result()
    result.update(extra)
    result["would_change"] = result["changed"]
    result["changed"] = result["changed"] and not planning
    result["msg"] = plan.summary(not acting(module))
    for warning in plan.warnings(not acting(module)):
        module.warn(warning)
    if result.get("notice") == "unknown":
        module.warn("Mr Chase could not be asked after the change whether piw-master took its notice: see "
                    "mr-chase-ctl status and .mr-chase/outbox/ in the output tree before trusting the project pages")
    if module._diff and not planning:
        result["diff"] = plan.diff()
    module.exit_json(**result)
