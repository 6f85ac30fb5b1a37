"""The job's side of the audit in-process: repairs handed to the request loop's thread (between requests, woken at
once, not after a poll interval), a scan that fails, a stop while a repair waits.  The loop is the real one on a
real ZeroMQ socket; the scan and the repair are stand-ins, so each test controls exactly what happens when."""

from __future__ import annotations

import json
import select
import threading
import time

import pytest
import zmq
from mr_chase import loop as loop_module
from mr_chase.audit_job import Audits, Handoff
from mr_chase.findings import Finding
from mr_chase.loop import RequestLoop
from mr_chase.package_check import Scanned
from mr_chase.tree import Tree

PONG = b'["PONG","9.9",{"degraded":[],"warnings":[],"stale_pages":0,"parked_notices":0}]'
OPTIONS = {"packages": None, "repair": ["orphan_wheel", "leftover_staging"], "verify_hashes": False, "min_age": 0,
           "archives": []}


class Handler:
    """A handler whose requests wait for ``release``; it records what ran, in order, on which thread."""

    def __init__(self):
        self.stopping = False
        self.order: list[str] = []
        self.in_hand, self.release = threading.Event(), threading.Event()
        self.after_replies = 0

    def handle(self, frames):
        self.in_hand.set()
        assert self.release.wait(10)
        self.order.append("request")
        return b'["DONE"]'

    def after_reply(self):
        self.after_replies += 1

    def idle(self):
        pass


@pytest.fixture
def loop(ipc_dir, monkeypatch):
    """The real request loop on a thread, with a Handoff, and a poll interval far longer than any wait here."""
    monkeypatch.setattr(loop_module, "POLL_MS", 20_000)
    sock = zmq.Context.instance().socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    address = f"ipc://{ipc_dir}/loop"
    sock.bind(address)
    handler, handoff = Handler(), Handoff()
    request_loop = RequestLoop(handler, sock, b'["PING"]', lambda: PONG, lambda: None, 60, handoff)
    thread = threading.Thread(target=request_loop.run, name="the-loop", daemon=True)
    thread.start()
    yield handler, handoff, address, thread
    handler.stopping = True
    handler.release.set()
    handoff.call(lambda: None)  # wakes the loop, which then sees it is stopping (no poll interval waited for)
    thread.join(10)
    assert not thread.is_alive()
    handoff.close()
    sock.close()


def test_handed_work_runs_on_the_loop_thread_at_once(loop):
    handler, handoff, _address, thread = loop
    started = time.monotonic()
    ran_on = handoff.call(threading.current_thread)
    assert ran_on is thread
    assert time.monotonic() - started < 10, "the hand-off waited for the loop's poll interval (20 s)"
    wait = time.monotonic()
    while handler.after_replies < 1:  # the clean-up a request gets follows the handed work too
        assert time.monotonic() - wait < 10
        time.sleep(0.01)


def test_handed_work_waits_for_the_request_in_hand(loop):
    handler, handoff, address, _thread = loop
    client = zmq.Context.instance().socket(zmq.DEALER)
    client.setsockopt(zmq.LINGER, 0)
    client.connect(address)
    try:
        client.send_multipart([b"", b'["REMOVE","alpha","1.0",false]'])
        assert handler.in_hand.wait(10)
        result: list = []
        caller = threading.Thread(target=lambda: result.append(handoff.call(lambda: handler.order.append("handed"))))
        caller.start()
        deadline = time.monotonic() + 10
        while not handoff.pending:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        handler.release.set()
        caller.join(10)
        assert handler.order == ["request", "handed"] and result == [None]
        assert client.poll(10_000)
        assert client.recv_multipart() == [b"", b'["DONE"]']
    finally:
        client.close()


def test_an_exception_of_handed_work_goes_back_to_the_caller(loop):
    _handler, handoff, _address, _thread = loop

    def fails():
        raise ValueError("repair refused")

    with pytest.raises(ValueError, match="repair refused"):
        handoff.call(fails)
    assert handoff.call(lambda: 42) == 42  # the loop carries on


class FakeScan:
    """What a scan yields, given in advance; ``fail`` raised after the packages."""

    def __init__(self, batches, fail=None):
        self.batches, self.fail = batches, fail
        self.scanned = Scanned()
        self.packages_total = sum(package is not None for package, _findings in batches)

    def run(self):
        for package, findings in self.batches:
            self.scanned.packages += package is not None
            yield package, findings
        if self.fail:
            raise self.fail


def pump(handoff: Handoff, stop: threading.Event) -> threading.Thread:
    """A stand-in for the loop thread: runs handed work when woken."""

    def run():
        while not stop.is_set():
            readable, _w, _x = select.select([handoff.fileno()], [], [], 0.05)
            if readable:
                handoff.run_pending()

    thread = threading.Thread(target=run, name="pump", daemon=True)
    thread.start()
    return thread


def wait_done(audits: Audits, job_id: str) -> dict:
    deadline = time.monotonic() + 10
    while (job := audits.job(job_id, 0))["state"] in ("scanning", "repairing"):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    return job


def tree_of(tmp_path) -> Tree:
    tree = Tree(tmp_path)
    tree.prepare()
    return tree


def test_the_job_hands_the_kinds_to_repair_to_the_loop_and_reports_them_repaired(tmp_path):
    orphan = Finding("orphan_wheel", "alpha", "simple/alpha/a.whl", "no row")
    foreign = Finding("foreign_file", "alpha", "simple/alpha/x.txt", "foreign")
    staging = Finding("leftover_staging", None, ".mr-chase/staging/t", "left")
    calls = []

    def repair(package, findings, min_age):
        calls.append((package, [f.kind for f in findings], min_age, threading.current_thread().name))
        return [Finding(**{**f.as_dict(), "repaired": True}) for f in findings]

    handoff, stop = Handoff(), threading.Event()
    thread = pump(handoff, stop)
    scan = FakeScan([("alpha", [orphan, foreign]), ("beta", []), (None, [staging])])
    audits = Audits(tree_of(tmp_path), lambda options, should_stop: scan, repair, handoff)
    try:
        job = wait_done(audits, audits.start(OPTIONS)["id"])
    finally:
        stop.set()
        thread.join()
    assert calls == [("alpha", ["orphan_wheel"], 0.0, "pump"), (None, ["leftover_staging"], 0.0, "pump")]
    assert [(f["kind"], f["repaired"]) for f in job["findings"]] == [
        ("foreign_file", False), ("orphan_wheel", True), ("leftover_staging", True)]
    assert job["progress"] == {"packages_done": 2, "packages_total": 2} and job["next"] is None
    assert audits.site_status()["last"]["repaired"] == 2
    assert json.loads((tmp_path / ".mr-chase" / "last-audit.json").read_text()) == audits.site_status()["last"]


def test_a_scan_that_fails_ends_its_job_failed_and_keeps_what_it_found(tmp_path):
    found = Finding("missing_page", "alpha", "simple/alpha/index.html", "missing")
    scan = FakeScan([("alpha", [found])], fail=OSError(5, "Input/output error"))
    audits = Audits(tree_of(tmp_path), lambda options, should_stop: scan, None, Handoff())
    job = wait_done(audits, audits.start({**OPTIONS, "repair": []})["id"])
    assert job["state"] == "failed" and job["error"] == "OSError: [Errno 5] Input/output error"
    assert job["finished"] and job["findings"] == [found.as_dict()] and job["next"] is None
    assert audits.site_status() == {"last": None, "running": None}  # a failed audit is no "last audit"
    assert not (tmp_path / ".mr-chase" / "last-audit.json").exists()


def test_a_stop_cancels_a_repair_waiting_for_the_loop(tmp_path):
    scan = FakeScan([("alpha", [Finding("orphan_wheel", "alpha", "simple/alpha/a.whl", "no row")])])
    handoff = Handoff()  # nothing runs handed work: the repair waits
    audits = Audits(tree_of(tmp_path), lambda options, should_stop: scan, lambda *args: [], handoff)
    job_id = audits.start(OPTIONS)["id"]
    deadline = time.monotonic() + 10
    while not handoff.pending:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert audits.job(job_id, 0)["state"] == "repairing"
    audits.stop()
    job = audits.job(job_id, 0)
    assert job["state"] == "failed" and job["error"] == "Mr Chase stopped before the audit finished"


def test_an_unreadable_last_audit_is_no_last_audit(tmp_path):
    tree = tree_of(tmp_path)
    (tmp_path / ".mr-chase" / "last-audit.json").write_text("{not json")
    assert Audits(tree, None, None, Handoff()).site_status() == {"last": None, "running": None}
