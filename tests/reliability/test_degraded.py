"""PONG says degraded, with the reason, whenever Mr Chase cannot do what it is for (issue 24, item 3).

A live process is not a working service: while PostgreSQL is down, while
piw-master does not take the notices in the outbox, or while a change's
outcome cannot be settled, PING (and the readiness probe, and ``mr-chase-ctl
status``, which runs it) says so, and says it is over as soon as it is.
PING itself never queries anything: a request or the idle check that finds
the database unreachable degrades the frame PING answers from.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from chase_helpers import SERVICE_PATH, MrChase, journal_pending, make_config, wait_for
from test_database_faults import start_again

from piwheels_testbed.master import StandInMaster


def degraded(chase) -> list[str]:
    return chase.client("PING")[2]["degraded"]


def probe(queue: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_chase.ping", "--queue", queue, "--timeout", "1"],
                          capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)),
                          timeout=30)


def test_a_stopped_database_degrades_pong_until_it_answers_again(repository, mr_chase, pg_cluster):
    assert mr_chase.client("STATUS", "alpha", "1.0")[0] == "STATUS"
    assert degraded(mr_chase) == []
    pg_cluster.stop()
    try:
        # no request at all: the idle check (a SELECT 1 every DATABASE_CHECK_INTERVAL) finds it
        wait_for(lambda: degraded(mr_chase), timeout=15)
        [reason] = degraded(mr_chase)
        assert reason.startswith("database unavailable: "), reason
        not_ready = probe(mr_chase.address)
        assert not_ready.returncode == 2, not_ready
        assert "cannot serve changes: database unavailable: " in not_ready.stderr
    finally:
        start_again(pg_cluster)
    wait_for(lambda: degraded(mr_chase) == [], timeout=15)  # checked every second while degraded
    assert "the database answers again: serving changes" in mr_chase.log()
    assert probe(mr_chase.address).returncode == 0


def test_a_request_that_finds_the_database_down_degrades_pong_at_once(repository, ipc_dir):
    closed = "postgresql://mr_chase@127.0.0.1:9/piwheels?connect_timeout=2"  # port 9 (discard): nothing listens
    chase = MrChase(make_config(repository, ipc_dir, dsn=closed), ipc_dir).start()
    try:
        [reason] = degraded(chase)  # the start-up connect failed: degraded before the first request
        assert reason.startswith("database unavailable: ")
        reply = chase.client("REMOVE", "alpha", "1.0", True)
        assert reply[0] == "ERROR" and reply[1].startswith("database unavailable"), reply
        assert degraded(chase) == [reason]
        assert chase.proc.poll() is None
    finally:
        assert chase.stop() == 0


def test_a_change_pending_while_the_database_is_down_degrades_pong_until_settled(repository, ipc_dir, pg_cluster):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": "moving"})
    assert chase.send_expecting_exit(b'["REMOVE", "alpha", "1.0", true]') == 70
    assert journal_pending(repository.output_path)
    pg_cluster.stop()
    try:
        chase.start()
        reasons = degraded(chase)
        assert any(reason.startswith("database unavailable: ") for reason in reasons), reasons
        assert any(reason.startswith("a change's outcome is not settled (the database is unavailable")
                   for reason in reasons), reasons
        assert chase.client("STATUS", None, None)[1]["settling"] is True
    finally:
        start_again(pg_cluster)
    try:
        wait_for(lambda: degraded(chase) == [], timeout=20)
        assert not journal_pending(repository.output_path)
        assert "the pending change is settled" in chase.log()
    finally:
        assert chase.stop() == 0


class DeafMaster(StandInMaster):
    """piw-master that takes nothing while ``deaf`` (upstream busy or wedged), then answers as it should."""

    deaf = True

    def handle(self, frame: bytes):
        return None if self.deaf else super().handle(frame)


def test_an_outbox_piw_master_does_not_take_degrades_pong_and_the_change_reports_its_notice_queued(repository,
                                                                                                    ipc_dir):
    master = DeafMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    # undeliverable after 12 master_timeouts: 3 s here
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue, master_timeout=0.25), ipc_dir)
    chase.start()
    try:
        assert chase.client("SKIP", "gamma", "deaf master") == ["DONE"]
        outbox = outbox_once_sent(chase)
        assert outbox["last"] == {"package": "gamma", "notice": "queued"}
        assert outbox["queued"] == 1 and outbox["oldest_age"] < 3
        wait_for(lambda: degraded(chase), timeout=15)
        [reason] = degraded(chase)
        assert reason.startswith("piw-master has not taken the notices in ") and "for over 3 s (1 queued" in reason
        master.deaf = False
        assert chase.client("SKIP", "gamma", "master back") == ["DONE"]  # wakes the delivery thread
        assert outbox_once_sent(chase)["last"] == {"package": "gamma", "notice": "delivered"}
        wait_for(lambda: chase.client("STATUS", None, None)[1]["outbox"]["queued"] == 0, timeout=15)
        wait_for(lambda: degraded(chase) == [], timeout=15)
        assert master.accepted == [["REBUILD", ["BOTH", "gamma"]]] * 2
        assert "piw-master takes the notices again" in chase.log()
    finally:
        assert chase.stop() == 0
        master.stop()


def outbox_once_sent(chase) -> dict:
    """The site STATUS's outbox once the last notice is no longer ``sending``, asked as the modules ask."""
    outboxes = []
    wait_for(lambda: outboxes.append(chase.client("STATUS", None, None)[1]["outbox"])
             or outboxes[-1]["last"]["notice"] != "sending", timeout=15)
    return outboxes[-1]


def test_with_piw_master_up_the_change_s_notice_is_delivered_once_its_first_attempt_is_over(repository, ipc_dir):
    master = StandInMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    try:
        assert chase.client("STATUS", None, None)[1]["outbox"] == {"queued": 0, "oldest_age": None, "last": None}
        for request in (["REMOVE", "gamma", "1.0", False], ["DELETE", "beta-tools"]):
            assert chase.client(*request) == ["DONE"]
            last = outbox_once_sent(chase)["last"]
            assert last == {"package": "gamma" if request[0] == "REMOVE" else None, "notice": "delivered"}
        assert degraded(chase) == []
    finally:
        assert chase.stop() == 0
        master.stop()


def test_while_piw_master_keeps_a_notice_waiting_the_site_status_and_other_requests_are_answered(repository,
                                                                                                ipc_dir):
    """The first delivery attempt lasts master_timeout when piw-master takes nothing: STATUS says ``sending``
    meanwhile instead of waiting for it, and a REMOVE is served without waiting either."""
    master = DeafMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue, master_timeout=3), ipc_dir)
    chase.start()
    try:
        started = time.monotonic()
        assert chase.client("SKIP", "gamma", "deaf master") == ["DONE"]
        assert chase.client("STATUS", None, None)[1]["outbox"]["last"] == {"package": "gamma", "notice": "sending"}
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        assert time.monotonic() - started < 2  # before the attempt could end: neither waited for it
        assert outbox_once_sent(chase)["last"]["notice"] == "queued"
    finally:
        assert chase.stop() == 0
        master.stop()
