"""PostgreSQL stops and starts again under a running Mr Chase.

While the database is down every request that needs it gets ``database
unavailable`` within the client's timeout and changes nothing (PING still
answers: the queue is alive); once it is back the very next request
succeeds, with the same Mr Chase process.  ``pg_cluster`` is shared by the
whole session, so it is started again in a ``finally``.
"""

from __future__ import annotations

import json
import threading
import time

from chase_helpers import Client, snapshot_db, snapshot_tree
from figures import report
from reliability_helpers import make_traversable, scaled

CLIENT_TIMEOUT = 10.0
OUTAGE_S = scaled(3.0, 20.0)
OUTAGES = scaled(2, 6)


class Traffic(threading.Thread):
    """A client that keeps asking STATUS and records (sent, answered, reply) of every request."""

    def __init__(self, address: str):
        super().__init__(daemon=True)
        self.client = Client(address, timeout=CLIENT_TIMEOUT)
        self.records: list[tuple[float, float, list | None]] = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            sent = time.monotonic()
            reply = self.client.raw(b'["STATUS", "alpha", "1.0"]')
            self.records.append((sent, time.monotonic(), reply))
            time.sleep(0.01)


def start_again(cluster) -> None:
    """``cluster.start()``, with its data directory reachable for pgserver's own user again."""
    server = getattr(cluster, "_server", None)
    if server is not None and server.system_user:
        make_traversable(server.pgdata)
    cluster.start()


def unavailable(reply) -> bool:
    return reply is not None and reply[0] == "ERROR" and reply[1].startswith("database unavailable")


def test_requests_during_an_outage_fail_fast_and_the_first_after_it_succeeds(repository, mr_chase, pg_cluster):
    client = Client(mr_chase.address, timeout=CLIENT_TIMEOUT)
    traffic = Traffic(mr_chase.address)
    traffic.start()
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    windows, outage_replies, slowest = [], [], 0.0
    try:
        for n in range(OUTAGES):
            stopping = time.monotonic()
            pg_cluster.stop()
            down = time.monotonic()
            try:
                while time.monotonic() - down < OUTAGE_S:
                    for message in (["REMOVE", "alpha", "1.0", True], ["SKIP", "gamma", "outage"],
                                    ["STATUS", "beta-tools", None], ["REMOVE", "gamma", "1.2", "outage"]):
                        sent = time.monotonic()
                        reply = client.raw(json.dumps(message).encode())
                        slowest = max(slowest, time.monotonic() - sent)
                        assert unavailable(reply), f"{message} during the outage -> {reply}"
                        outage_replies.append(reply)
                    assert client("PING")[0] == "PONG"
                    assert snapshot_tree(repository.output_path) == tree
            finally:
                up_at = time.monotonic()
                start_again(pg_cluster)
                up = time.monotonic()
            windows.append((stopping, down, up_at, up))
            assert mr_chase.proc.poll() is None
            assert client("STATUS", "alpha", "1.0")[0] == "STATUS", f"first request after restart {n + 1}"
            assert snapshot_db(repository.dsn) == db
            assert snapshot_tree(repository.output_path) == tree
            time.sleep(1.0)  # the traffic runs against the database that is back
    finally:
        traffic.stopping.set()
        traffic.join(CLIENT_TIMEOUT * 2)
    # after the last restart a removal works, with the same process
    assert client("REMOVE", "alpha", "1.0", True) == ["DONE"]
    assert client("STATUS", "alpha", "1.0")[1]["builds"] == 0
    assert mr_chase.proc.poll() is None
    during = after = 0
    for sent, answered, reply in traffic.records:
        assert reply is not None, f"a STATUS sent at {sent} got no reply within {CLIENT_TIMEOUT} s"
        slowest = max(slowest, answered - sent)
        if any(down < sent and answered < up_at for _, down, up_at, _ in windows):
            assert unavailable(reply), reply
            during += 1
        elif any(up < sent and answered < next_stop for (*_, up), (next_stop, *_) in zip(
                windows, windows[1:] + [(float("inf"),)], strict=True)):
            after += 1
            assert reply[0] == "STATUS", f"STATUS after a restart -> {reply}"
    report("database_faults", outages=OUTAGES, requests_during_outage=len(outage_replies) + during,
           all_errors=True, slowest_reply_s=round(slowest, 3), traffic_requests=len(traffic.records),
           answered_after_restart=after)
    assert slowest < CLIENT_TIMEOUT


def test_first_request_after_a_quiet_restart_succeeds(repository, mr_chase, pg_cluster):
    """No request while the database was down: the connection Mr Chase holds is dead, and it must notice."""
    client = Client(mr_chase.address, timeout=CLIENT_TIMEOUT)
    assert client("STATUS", "alpha", "1.0")[0] == "STATUS"
    pg_cluster.stop()
    try:
        time.sleep(0.5)
    finally:
        start_again(pg_cluster)
    first = client("REMOVE", "alpha", "1.0", True)
    assert first == ["DONE"], f"first request after a quiet restart -> {first}"
    assert client("STATUS", "alpha", "1.0")[1]["builds"] == 0
    assert mr_chase.proc.poll() is None
