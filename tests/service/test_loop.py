"""The request loop outlives anything its steps raise, and stops (so systemd restarts the service) only when a
thread it cannot work without has died.  A handler that fails on purpose stands in for a bug in the service."""

from __future__ import annotations

import json
import threading

import pytest
import zmq
from chase_helpers import Client
from mr_chase.loop import INTERNAL_ERROR, RequestLoop, ThreadDied

PONG = b'["PONG","9.9",{"degraded":[],"warnings":[],"stale_pages":0,"parked_notices":0,"archive_pending":0}]'


class Faulty:
    """Each of its three steps raises on its first call, then works."""

    def __init__(self):
        self.stopping = False
        self.calls = {"handle": 0, "after_reply": 0, "idle": 0}

    def _step(self, name: str) -> None:
        self.calls[name] += 1
        if self.calls[name] == 1:
            raise RuntimeError(f"{name} fails once")

    def handle(self, frames: list[bytes]) -> bytes:
        self._step("handle")
        return b'["DONE"]'

    def after_reply(self) -> None:
        self._step("after_reply")

    def idle(self) -> None:
        self._step("idle")


@pytest.fixture
def bound(ipc_dir):
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    address = f"ipc://{ipc_dir}/loop"
    sock.bind(address)
    yield sock, address
    sock.close()


def run_in_thread(loop: RequestLoop) -> tuple[threading.Thread, list]:
    raised: list = []

    def run():
        try:
            loop.run()
        except Exception as exc:  # what the service would exit with
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, raised


def test_a_failing_request_clean_up_or_idle_step_is_logged_and_the_loop_serves_on(bound, caplog):
    sock, address = bound
    handler = Faulty()
    idled = threading.Event()
    loop = RequestLoop(handler, sock, b'["PING"]', lambda: PONG, lambda: handler.calls["idle"] > 1 and idled.set(),
                       idle_interval=0.1)
    thread, raised = run_in_thread(loop)
    client = Client(address, timeout=5)
    try:
        assert client("REMOVE", "a", "1", False) == json.loads(INTERNAL_ERROR)  # handle raised
        assert client("REMOVE", "a", "1", False) == ["DONE"]  # after_reply raised the time before
        assert idled.wait(5)  # idle raised once and was called again
        assert client("PING") == json.loads(PONG)
    finally:
        handler.stopping = True
        thread.join(5)
    assert raised == [] and handler.calls["after_reply"] == 2
    assert sum("fails once" in record.getMessage() or "failed; the service carries on" in record.getMessage()
               for record in caplog.records) >= 3


def test_a_dead_stand_in_stops_the_loop_with_thread_died(bound, monkeypatch):
    sock, _address = bound
    handler = Faulty()

    def die(self):
        raise RuntimeError("the stand-in dies")

    monkeypatch.setattr(RequestLoop, "_stand_in_loop", die)
    thread, raised = run_in_thread(RequestLoop(handler, sock, b'["PING"]', lambda: PONG, lambda: None, 10))
    thread.join(5)
    assert not thread.is_alive()
    assert len(raised) == 1 and isinstance(raised[0], ThreadDied), raised
