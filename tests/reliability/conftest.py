"""Fixtures and figures for the reliability suite.

Every test here runs twice over: bounded (``make test``, a few seconds each)
and with big counts when ``PIW_SOAK=1`` (``make soak``).  :func:`scaled`
picks the count.  Each test records its figures (kills survived, malformed
inputs tried, requests served, RSS...) with :func:`report`; they are printed
in the test's own output and again in one table at the end of the run, so
the closing note can quote them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pwd
import secrets
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from chase_helpers import SERVICE_PATH, MrChase, make_config
from reliability_helpers import as_user, make_traversable


@pytest.fixture
def mr_chase_log_level() -> str:
    """The fuzzer and the load test are loud: log requests at info, not debug."""
    return "info"


# -- a service account, as on a real master: Mr Chase never runs as root there ------------------------------------


@dataclass
class Accounts:
    """Local users made for the test session: the service, a member of its group, an outsider."""

    group: str
    service: str
    member: str
    outsider: str

    def ids(self, user: str) -> tuple[int, int]:
        entry = pwd.getpwnam(user)
        return entry.pw_uid, entry.pw_gid


def _run_admin(*command: str) -> None:
    """useradd & co., retried while another process holds the lock on /etc/passwd."""
    for _ in range(20):
        proc = subprocess.run(command, capture_output=True, text=True)
        if proc.returncode == 0:
            return
        if "lock" not in proc.stderr:
            break
        time.sleep(0.5)
    raise RuntimeError(f"{' '.join(command)} failed: {proc.stderr.strip()}")


@pytest.fixture(scope="session")
def accounts():
    if os.geteuid() != 0:
        reason = "creating local users needs root (useradd); run the reliability suite as root"
        print(f"SKIP: {reason}")
        pytest.skip(reason)
    for tool in ("useradd", "userdel", "groupadd", "groupdel", "setpriv"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} is not installed")
    token = secrets.token_hex(3)
    made = Accounts(f"prg{token}", f"prs{token}", f"prm{token}", f"pro{token}")
    created: list[tuple[str, str]] = []
    try:
        _run_admin("groupadd", made.group)
        created.append(("groupdel", made.group))
        _run_admin("useradd", "-M", "-s", "/usr/sbin/nologin", "-g", made.group, made.service)
        created.append(("userdel", made.service))
        _run_admin("useradd", "-M", "-s", "/usr/sbin/nologin", "-U", "-G", made.group, made.member)
        created.append(("userdel", made.member))
        _run_admin("useradd", "-M", "-s", "/usr/sbin/nologin", "-U", made.outsider)
        created.append(("userdel", made.outsider))
        yield made
    finally:
        for command, name in reversed(created):
            with contextlib.suppress(RuntimeError):
                _run_admin(command, name)


class MrChaseAs(MrChase):
    """Mr Chase as a subprocess running as an unprivileged user."""

    def __init__(self, config: dict, workdir: Path, user: str):
        super().__init__(config, workdir)
        self.user = user

    def start(self, env: dict | None = None, wait: bool = True) -> MrChaseAs:
        full_env = dict(os.environ, PYTHONPATH=str(SERVICE_PATH), **(env or {}))
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([*as_user(self.user), sys.executable, "-m", "mr_chase", "--config",
                                          str(self.config_path)], env=full_env, stdout=log, stderr=subprocess.STDOUT)
        if wait:
            self.wait_ready()
        return self


@pytest.fixture
def user_repository(repository, ipc_dir, accounts, pg_cluster):
    """The test's repository copied into ``ipc_dir`` and owned by the service user, who can reach everything."""
    uid, gid = accounts.ids(accounts.service)
    output = ipc_dir / "www"
    shutil.copytree(repository.output_path, output)
    for path in [ipc_dir, *ipc_dir.rglob("*")]:
        os.chown(path, uid, gid)
    ipc_dir.chmod(0o755)
    socket_dir = getattr(pg_cluster, "socket_dir", None)
    if socket_dir is not None:
        make_traversable(socket_dir / "x")
    return dataclasses.replace(repository, output_path=output)


@pytest.fixture
def chase_as_service(user_repository, ipc_dir, accounts):
    """Start Mr Chase as the service user: ``chase_as_service(**config)`` -> a running MrChaseAs."""
    started: list[MrChaseAs] = []

    def start(**extra) -> MrChaseAs:
        config = make_config(user_repository, ipc_dir, log_level="info", **extra)
        chase = MrChaseAs(config, ipc_dir, accounts.service)
        started.append(chase)
        return chase.start()

    yield start
    for chase in started:
        chase.stop()
