"""Who may talk to Mr Chase: the socket file's owner and mode decide, as the configuration says.

Mr Chase runs as a service account made for the session (never root, as on a
real master).  With ipc, connecting needs write permission on the socket
file, so with ``socket_mode: "0660"`` the service's group may send requests
and everyone else is refused (EACCES on connect; the module's client says
"permission denied on PATH: ..." and what to do), and with ``"0600"`` only
the service user itself may.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys

import pytest
from chase_helpers import ROOT
from figures import report
from reliability_helpers import as_user

PROBE = r"""
import errno, json, socket, sys
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import MrChaseClient
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseError
path, owner = sys.argv[1], sys.argv[2]
result = {}
raw = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    raw.connect(path)
    result["connect"] = "ok"
except OSError as exc:
    result["connect"] = errno.errorcode.get(exc.errno, str(exc.errno))
finally:
    raw.close()
try:
    with MrChaseClient("ipc://" + path, 5, service_user=owner) as client:
        result["client"] = "PONG " + client.ping()
except MrChaseError as exc:
    result["client"] = "error: " + str(exc)
print(json.dumps(result))
"""


def probe(user: str, path, owner: str) -> dict:
    """PING the socket as ``user`` with the module's own client (expecting ``owner`` to own the socket file);
    also try a raw connect()."""
    proc = subprocess.run([*as_user(user), sys.executable, "-c", PROBE, str(path), owner], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)), timeout=30)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("mode", ["0660", "0600"])
def test_socket_mode_and_owner_decide_who_may_connect(chase_as_service, accounts, mode):
    chase = chase_as_service(socket_mode=mode)
    path = chase.address[len("ipc://"):]
    info = os.stat(path)
    uid, gid = accounts.ids(accounts.service)
    assert stat.S_ISSOCK(info.st_mode)
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (int(mode, 8), uid, gid)
    results = {who: probe(user, path, accounts.service) for who, user in
               (("service", accounts.service), ("member", accounts.member), ("outsider", accounts.outsider))}
    assert results["service"] == {"connect": "ok", "client": "PONG " + chase.client("PING")[1]}
    assert results["outsider"]["connect"] == "EACCES"
    denied = results["outsider"]["client"]
    assert denied.startswith(f"error: permission denied on {path}"), denied
    assert "member of its group" in denied and "mr_chase_socket_mode" in denied  # says what to do
    if mode == "0660":
        assert results["member"] == results["service"]
    else:
        assert results["member"]["connect"] == "EACCES"
        assert results["member"]["client"].startswith(f"error: permission denied on {path}")
    report(f"access_{mode}", socket=f"{stat.S_IMODE(info.st_mode):04o} {accounts.service}:{accounts.group}",
           service=results["service"]["client"], member=results["member"]["connect"],
           outsider=results["outsider"]["connect"])
    print("outsider's message:", denied)


def test_the_client_refuses_a_socket_owned_by_someone_else(chase_as_service, accounts):
    """A socket the service user does not own (anyone may bind a path first in /tmp) is refused, unasked."""
    chase = chase_as_service()
    path = chase.address[len("ipc://"):]
    result = probe(accounts.service, path, "piwheels-impostor-check")
    assert result["connect"] == "ok"
    assert result["client"].startswith(f"error: refusing to talk to {path}"), result
    assert f"owned by {accounts.service}" in result["client"]
