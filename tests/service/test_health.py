"""PONG's health, the readiness probe, and the database role: refused when it is a superuser or lacks a grant
(at start-up and at any time after), a warning when it holds more than the documented grants."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import threading

import psycopg
import zmq
from chase_helpers import HEALTHY, SERVICE_PATH, MrChase, make_config, scalar, wait_for
from mr_chase import __version__
from mr_chase.privileges import grant
from psycopg import sql

from piwheels_testbed import role_dsn

GRANT = "GRANT DELETE ON TABLE public.downloads TO mr_chase;"
REVOKE = "REVOKE DELETE ON TABLE public.downloads FROM mr_chase;"


def run_service(config_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(config_path)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)), timeout=30)


def probe(queue: str, timeout: float = 3) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_chase.ping", "--queue", queue, "--timeout", str(timeout)],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)),
                          timeout=30)


def admin(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def test_a_superuser_is_refused_at_start_up_with_exit_3(repository, ipc_dir):
    result = run_service(MrChase(make_config(repository, ipc_dir, dsn=repository.dsn), ipc_dir).config_path)
    assert result.returncode == 3, result.stderr
    assert "is a superuser, which Mr Chase refuses; not starting" in result.stderr
    assert "allow_superuser: true" in result.stderr


def test_a_superuser_allowed_by_the_configuration_starts_with_a_warning(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir, dsn=repository.dsn, allow_superuser=True), ipc_dir).start()
    try:
        version, health = chase.client("PING")[1:]
        assert health["degraded"] == [] and len(health["warnings"]) == 1
        assert "is a superuser (allow_superuser: true)" in health["warnings"][0]
        assert "is a superuser (allow_superuser: true)" in chase.log()
    finally:
        assert chase.stop() == 0


def test_a_role_with_more_than_the_documented_grants_is_a_warning_naming_each(repository, ipc_dir):
    role = f"mc_{secrets.token_hex(4)}"
    with psycopg.connect(repository.dsn, autocommit=True) as conn:
        grant(conn, role)
        conn.execute(sql.SQL("GRANT INSERT ON builds TO {}").format(sql.Identifier(role)))
        conn.execute(sql.SQL("ALTER ROLE {} CREATEDB").format(sql.Identifier(role)))
    chase = MrChase(make_config(repository, ipc_dir, dsn=role_dsn(repository.dsn, role)), ipc_dir).start()
    try:
        health = chase.client("PING")[2]
        assert health["degraded"] == []
        [warning] = health["warnings"]
        assert "holds 2 privilege(s) beyond the documented grants" in warning
        assert f"REVOKE INSERT ON TABLE public.builds FROM {role};" in warning
        assert f"ALTER ROLE {role} NOCREATEDB;" in warning
        assert f"WARNING mr_chase.service: the database role {role} holds 2 privilege(s)" in chase.log()
        assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]  # a warning never stops the service
        ready = probe(chase.address)
        assert ready.returncode == 0, ready.stderr
        assert f"warning: the database role {role} holds 2" in ready.stdout
    finally:
        assert chase.stop() == 0


def test_the_tests_own_mr_chase_holds_exactly_the_documented_grants(mr_chase):
    """No warning, nothing degraded: the suites never run Mr Chase as a superuser or with more than it needs."""
    assert mr_chase.client("PING") == ["PONG", __version__, HEALTHY]
    ready = probe(mr_chase.address)
    assert (ready.returncode, ready.stdout) == (0, f"Mr Chase {__version__} answers at {mr_chase.address}\n")


def test_a_grant_revoked_while_connected_is_answered_with_the_grant_and_degrades_until_it_is_back(repository,
                                                                                                  mr_chase):
    assert mr_chase.client("STATUS", "alpha", "1.0")[0] == "STATUS"  # connected, the role checked
    admin(repository.dsn, REVOKE)
    reply = mr_chase.client("REMOVE", "alpha", "1.0", True)
    assert reply[0] == "ERROR" and GRANT in reply[1], reply
    assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' AND version = '1.0'") > 0
    [reason] = mr_chase.client("PING")[2]["degraded"]
    assert "lacks 1 privilege(s)" in reason and GRANT in reason
    assert GRANT in mr_chase.log()
    degraded = probe(mr_chase.address, timeout=1.5)
    assert degraded.returncode == 2
    assert "but cannot serve changes: " in degraded.stderr and GRANT in degraded.stderr
    admin(repository.dsn, GRANT)
    wait_for(lambda: mr_chase.client("PING")[2]["degraded"] == [], timeout=10)  # checked again while idle
    assert mr_chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
    assert mr_chase.proc.poll() is None


def test_the_probe_keeps_asking_a_degraded_service_and_passes_once_it_recovers(ipc_dir):
    """A fake Mr Chase: degraded for its first PINGs, then healthy."""
    address = f"ipc://{ipc_dir}/fake"
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)
    answered = []

    def serve():
        while len(answered) < 4 and sock.poll(5000):
            envelope = sock.recv_multipart()[:-1]
            health = dict(HEALTHY, degraded=["a thread died"] if len(answered) < 3 else [])
            sock.send_multipart([*envelope, json.dumps(["PONG", "9.9", health]).encode()])
            answered.append(health)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        ready = probe(address, timeout=10)
    finally:
        server.join(10)
        sock.close()
    assert ready.returncode == 0, ready.stderr
    assert len(answered) == 4
