# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Documentation shared by the modules that talk to Mr Chase."""

from __future__ import annotations


class ModuleDocFragment:
    """Options from ``mr_chase_common.mr_chase_argument_spec`` and the attributes every such module has."""

    DOCUMENTATION = r"""
options:
  import_queue:
    description:
      - The ZeroMQ address of Mr Chase's import queue on the managed host.
      - Must match C(mr_chase_import_queue) of the P(piwheels.ops.mr_chase#role) role.
      - For an C(ipc://) address the module checks first that the socket file exists, that it is owned by
        O(service_user) or root, and that the user the task runs as may write to it, and says which is wrong.
      - Never piw-master's own queue C(ipc:///tmp/piw-import), which is a different service with a different protocol.
    type: str
    default: ipc:///run/mr-chase/queue
  service_user:
    description:
      - The user Mr Chase runs as, C(mr_chase_user) of the P(piwheels.ops.mr_chase#role) role.
      - The module refuses an C(ipc://) socket file owned by anyone but this user or root, and says who owns
        it. Anyone may bind a path in a shared directory first; a server that is not Mr Chase must not be told
        what to remove, nor believed when it answers.
    type: str
    default: piwheels
  timeout:
    description:
      - Seconds to wait for each answer from Mr Chase before the task fails with a message naming
        O(import_queue).
      - Must be positive.
    type: float
    default: 30.0
requirements:
  - pyzmq (on the managed host)
notes:
  - The module runs on the piwheels master host, where Mr Chase listens; the task must run as a user allowed to
    write to the queue's socket, normally the service user or a member of its group (use C(become)).
  - Becoming the service user (C(become_user=piwheels)) from a non-root account needs pipelining
    (C(ansible_pipelining=true), as the C(piwheels.ops.remove) runbook sets) or the C(acl) package on the managed
    host; otherwise Ansible fails with "Failed to set permissions on the temporary files Ansible needs to create when
    becoming an unprivileged user".
"""

    # The option of the modules that change things, for a play that shows a plan before it acts.
    PLAN = r"""
options:
  plan:
    description:
      - Only work out what the task would do, as in check mode, and report C(changed=false) with the answer in
        RV(would_change), and no diff.
      - For a play that shows a plan and asks before it acts, as the C(piwheels.ops.remove) runbook does. Its
        planning task is then C(ok), so the play recap counts each real change once (the acting task's), and
        C(--diff) shows the diff once.
      - Nothing but STATUS is sent, in check mode or not.
    type: bool
    default: false
    version_added: 0.4.0
"""

    # What the attributes mean; each module states its own support level for them.
    ATTRIBUTES = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in C(check_mode)), when in
      diff mode.
  idempotent:
    description:
      - When run twice in a row outside check mode, with the same arguments, the second invocation indicates no
        change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
"""
