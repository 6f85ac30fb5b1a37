"""The in-process Mr Chase of the service tests (``ipc_dir`` and ``mr_chase`` are in tests/conftest.py)."""

from __future__ import annotations

import json

import pytest
from chase_helpers import make_config
from mr_chase.config import parse_config
from mr_chase.service import Service


@pytest.fixture
def service(repository, ipc_dir):
    """Mr Chase in-process (no socket): ``service(*message)`` -> reply, through the same handler."""
    svc = Service(parse_config(make_config(repository, ipc_dir)))
    svc.recover()

    def call(*message):
        reply = svc.handle([json.dumps(list(message)).encode()])
        svc.after_reply()  # as the socket loop does once the reply is sent
        return json.loads(reply)

    call.service = svc
    yield call
    svc.db.close()
