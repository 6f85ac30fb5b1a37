"""Fixtures shared by every pytest suite: a real PostgreSQL, a sample repository, a real Mr Chase.

``pg_cluster`` starts one private PostgreSQL (pgserver) for the whole session,
or uses the server in PIW_TEST_DSN.  ``repository`` gives each test its own
freshly made database and output tree, so tests never see each other's work.
``mr_chase`` runs the service as a subprocess on that repository; the helpers
it is made of live in chase_helpers.py.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pytest
from chase_helpers import ROOT, SERVICE_PATH, MrChase, make_config
from figures import FIGURES, portable

for path in (ROOT, SERVICE_PATH):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from piwheels_testbed import (  # noqa: E402
    SERVICE_ROLE,
    Cluster,
    RepositorySpec,
    build_repository,
    create_database,
    drop_database,
    role_dsn,
)
from piwheels_testbed.repository import Manifest  # noqa: E402

# -- figures the tests record (figures.py), gathered from every pytest-xdist worker -----------------------------------


def pytest_sessionfinish(session):
    if hasattr(session.config, "workeroutput"):  # an xdist worker: its figures go to the controller
        session.config.workeroutput["figures"] = portable(FIGURES)


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error):
    for test, figures in getattr(node, "workeroutput", {}).get("figures", {}).items():
        FIGURES.setdefault(test, {}).update(figures)


def pytest_terminal_summary(terminalreporter):
    if not FIGURES or hasattr(terminalreporter.config, "workeroutput"):
        return
    soak = os.environ.get("PIW_SOAK") == "1"
    terminalreporter.section(f"reliability figures ({'soak' if soak else 'bounded'})")
    for test, figures in sorted(FIGURES.items()):
        terminalreporter.write_line(f"{test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()))


@dataclass
class Repository:
    """A database and output tree made for one test.

    ``dsn`` is a superuser's, for setting up and checking; Mr Chase gets
    ``service_dsn``, its own role with exactly the documented grants.
    """

    dsn: str
    output_path: Path
    manifest: Manifest

    @property
    def service_dsn(self) -> str:
        return role_dsn(self.dsn, SERVICE_ROLE)

    @property
    def simple(self) -> Path:
        return self.output_path / "simple"


@pytest.fixture(scope="session")
def pg_cluster():
    # Not under pytest's basetemp: a concurrent pytest run on the same machine
    # prunes old basetemp directories, and would delete a live data directory.
    base = Path(tempfile.mkdtemp(prefix="piw-pg-"))
    cluster = Cluster(base / "pgdata")
    yield cluster
    cluster.close()
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def empty_database(pg_cluster):
    dsn = create_database(pg_cluster)
    yield dsn
    drop_database(pg_cluster, dsn)


@pytest.fixture
def repository_spec() -> RepositorySpec:
    """Override in a test module to make a bigger or different repository."""
    return RepositorySpec()


@pytest.fixture
def repository(empty_database, tmp_path, repository_spec) -> Repository:
    output = tmp_path / "www"
    manifest = build_repository(empty_database, output, repository_spec)
    return Repository(empty_database, output, manifest)


@pytest.fixture
def ipc_dir():
    """A fresh directory directly under /tmp for the socket, config and log (ipc paths are limited to ~107 bytes)."""
    path = tempfile.mkdtemp(prefix="mc-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mr_chase_log_level() -> str:
    """Override in a suite whose requests would flood a debug log."""
    return "debug"


@pytest.fixture
def mr_chase(repository, ipc_dir, mr_chase_log_level):
    """A running Mr Chase subprocess on the test's repository."""
    chase = MrChase(make_config(repository, ipc_dir, log_level=mr_chase_log_level), ipc_dir).start()
    yield chase
    chase.stop()


@pytest.fixture
def service(repository, ipc_dir):
    """Mr Chase in-process (no socket): ``service(*message)`` -> reply, through the same handler."""
    from mr_chase.config import parse_config
    from mr_chase.service import Service

    svc = Service(parse_config(make_config(repository, ipc_dir)))
    svc.recover()

    def call(*message):
        reply = svc.handle([json.dumps(list(message)).encode()])
        svc.after_reply()  # as the socket loop does once the reply is sent
        return json.loads(reply)

    call.service = svc
    yield call
    svc.db.close()
