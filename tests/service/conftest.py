"""Fixtures for the Mr Chase tests; the helpers they use live in chase_helpers.py."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest
from chase_helpers import MrChase, make_config
from mr_chase.config import parse_config
from mr_chase.service import Service


@pytest.fixture
def ipc_dir():
    path = tempfile.mkdtemp(prefix="mc-", dir="/tmp")
    yield Path(path)
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def mr_chase(repository, ipc_dir):
    """A running Mr Chase subprocess on the test's repository."""
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    yield chase
    chase.stop()


@pytest.fixture
def service(repository, ipc_dir):
    """Mr Chase in-process (no socket): ``service(*message)`` -> reply, through the same handler."""
    svc = Service(parse_config(make_config(repository, ipc_dir)))
    svc.recover()

    def call(*message):
        reply = svc.handle([json.dumps(list(message)).encode()])
        svc.remover.flush()  # as the socket loop does once the reply is sent
        return json.loads(reply)

    call.service = svc
    yield call
    svc.db.close()
