#!/usr/bin/python
# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

# Ansible modules put DOCUMENTATION, EXAMPLES and RETURN before the imports.
# ruff: noqa: E402

DOCUMENTATION = r"""
module: piw_queue_listener
short_description: Find the process that listens on an ipc queue's socket
version_added: 0.2.0
description:
  - Tells whether a live process listens on the socket file of an C(ipc://) ZeroMQ address and, if so, which one
    (pid, user and command line), without sending it anything.
  - The P(piwheels.ops.mr_chase#role) role runs it before it touches the host, so that Mr Chase is never
    deployed onto piw-master's queue (C(ipc:///tmp/piw-import)) or another service's socket.
  - It connects a plain Unix stream socket to the path and asks the kernel who is at the other end
    (C(SO_PEERCRED)), then closes it; a ZeroMQ peer sees a connection that never completes its handshake.
author:
  - piwheels.ops maintainers (@piwheels)
options:
  import_queue:
    description:
      - The C(ipc://) address whose socket file is looked at. C(ipc://@name) is a Linux abstract socket.
    type: str
    default: ipc:///run/mr-chase/queue
extends_documentation_fragment:
  - piwheels.ops.mr_chase.attributes
attributes:
  check_mode:
    support: full
    details:
      - The module only looks, so check mode changes nothing about what it does.
  diff_mode:
    support: N/A
    details:
      - The module changes nothing.
  idempotent:
    support: full
notes:
  - Linux only (C(SO_PEERCRED) and C(/proc)). Run it as root to read the command line of another user's process.
seealso:
  - module: piwheels.ops.piw_package_info
"""

EXAMPLES = r"""
- name: Who holds piw-master's import queue?
  piwheels.ops.piw_queue_listener:
    import_queue: ipc:///tmp/piw-import
  register: holder

- name: Show it
  ansible.builtin.debug:
    msg: "{{ holder.path }}: pid {{ holder.pid }} ({{ holder.command }})"
  when: holder.listening
"""

RETURN = r"""
path:
  description: The socket's path (C(@name) for an abstract socket).
  returned: always
  type: str
  sample: /run/mr-chase/queue
exists:
  description: Whether a file (of any kind) is at the path; for an abstract socket, whether it listens.
  returned: always
  type: bool
  sample: true
listening:
  description:
    - Whether a live process accepts connections on the path. A socket file left behind by a process that died
      is not listening.
  returned: always
  type: bool
  sample: true
pid:
  description: The listening process, as the kernel recorded it when the socket started to listen; 0 if unknown.
  returned: always
  type: int
  sample: 1234
user:
  description: The user the listening process runs as; empty when nothing listens.
  returned: always
  type: str
  sample: piwheels
command:
  description: Its command line, arguments separated by spaces; empty when nothing listens or it cannot be read.
  returned: always
  type: str
  sample: /opt/piwheels-ops/mr-chase/venv/bin/python -m mr_chase --config /etc/piwheels/mr-chase.yaml
msg:
  description: One line saying what was found.
  returned: always
  type: str
  sample: "/run/mr-chase/queue: listening, pid 1234 (piwheels): python -m mr_chase --config /etc/piwheels/mr-chase.yaml"
"""

import errno
import os
import pwd
import socket
import struct

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.piwheels.ops.plugins.module_utils.mr_chase_common import (
    DEFAULT_IMPORT_QUEUE,
    refuse_non_strings,
)

_IPC = "ipc://"
_CONNECT_TIMEOUT = 2.0
# struct ucred: pid, uid, gid
_UCRED = struct.Struct("3i")


def socket_path(module):
    """The path of the ``ipc://`` address, or fail: other transports have no socket file to look at."""
    address = module.params["import_queue"]
    if not address.startswith(_IPC) or len(address) == len(_IPC):
        module.fail_json(msg=f"import_queue must be an ipc:// address, got {address}")
    return address[len(_IPC) :]


def peer_of(path):
    """(pid, uid) of the process listening on ``path``, or None when none does.

    A refused connection is a socket file without a listener (its process
    died).  A socket of another type (datagram, seqpacket) cannot be asked
    who listens, but something holds the path: pid 0, uid -1.
    """
    address = "\0" + path[1:] if path.startswith("@") else path
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(_CONNECT_TIMEOUT)
        try:
            probe.connect(address)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
        except OSError as error:
            if error.errno == errno.EPROTOTYPE:  # a listener of another socket type
                return 0, -1
            raise
        pid, uid, _gid = _UCRED.unpack(probe.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size))
    return pid, uid


def command_of(pid):
    """The command line of ``pid``, or "" when it cannot be read (gone, or another user's without root)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            raw = cmdline.read()
    except OSError:
        return ""
    return raw.rstrip(b"\0").replace(b"\0", b" ").decode("utf-8", errors="replace")


def user_of(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return "" if uid < 0 else str(uid)


def main():
    module = AnsibleModule(
        argument_spec=dict(import_queue=dict(type="str", default=DEFAULT_IMPORT_QUEUE)),
        supports_check_mode=True,
    )
    refuse_non_strings(module)
    path = socket_path(module)
    try:
        peer = peer_of(path)
    except OSError as error:
        module.fail_json(msg=f"cannot tell who listens on {path}: {error}", path=path)
    if peer is None:
        exists = not path.startswith("@") and os.path.lexists(path)
        state = "a file nobody listens on" if exists else "nothing there"
        module.exit_json(changed=False, path=path, exists=exists, listening=False, pid=0, user="", command="",
                         msg=f"{path}: {state}")
    pid, uid = peer
    command = command_of(pid) if pid else ""
    user = user_of(uid)
    module.exit_json(changed=False, path=path, exists=True, listening=True, pid=pid, user=user, command=command,
                     msg=f"{path}: listening, pid {pid or 'unknown'} ({user or 'unknown user'}): {command or '?'}")


if __name__ == "__main__":
    main()
