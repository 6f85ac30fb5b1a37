"""Ten clients at once for a fixed time: every request answered, only the expected errors, memory stable.

Each client thread keeps one REQ socket for its requests, as the module's
client does (Lazy Pirate: a socket that missed its reply is replaced), and
loops over a mix: STATUS of a package, STATUS of a version, REMOVE of a
version (sometimes one already removed: DONE again, nothing changes) and,
on purpose, STATUS and REMOVE of a version that does not exist, whose only
allowed answer is ``unknown package version``.  Any other ERROR, and any
request left unanswered within the client timeout, fails the test.  The
service's resident memory (VmRSS) is read at the start (after a warm-up)
and at the end.

(A client that opens a fresh socket for every request is not what the module
does; at ten such clients ZeroMQ's per-connection buffers lift the RSS of
the service to a high-water mark of about 110 MB within some seconds, where
it then stays: churn, not a leak in Mr Chase.)
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections import Counter

import pytest
import zmq
from chase_helpers import page_links, scalar
from figures import report
from reliability_helpers import scaled

from piwheels_testbed import RepositorySpec

CLIENTS = 10
DURATION_S = scaled(10.0, 60.0)
RSS_GROWTH_LIMIT_KB = 20 * 1024


@pytest.fixture
def repository_spec():
    return RepositorySpec(packages=10, versions=scaled(20, 60), builds=1, files=2, downloads=3)


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


class LoadClient(threading.Thread):
    def __init__(self, address: str, packages: dict[str, list[str]], seed: int, until: float):
        super().__init__(daemon=True)
        self.address = address
        self.context = zmq.Context.instance()
        self.sock: zmq.Socket | None = None
        self.packages = packages
        self.rng = random.Random(seed)
        self.until = until
        self.sent: Counter = Counter()
        self.replies: Counter = Counter()
        self.unexpected: list = []

    def request(self):
        rng = self.rng
        package = rng.choice(sorted(self.packages))
        version = rng.choice(self.packages[package])
        kind = rng.choices(["package", "version", "remove", "unknown"], weights=[3, 4, 2, 1])[0]
        if kind == "package":
            return kind, ["STATUS", package, None], "STATUS"
        if kind == "version":
            return kind, ["STATUS", package, version], "STATUS"
        if kind == "remove":
            return kind, ["REMOVE", package, version, rng.choice([True, False, "load test"])], "DONE"
        message = rng.choice([["STATUS", package, "99.0"], ["REMOVE", package, "99.0", True]])
        return kind, message, f"unknown package version {package} 99.0"

    def call(self, message: list) -> list | None:
        """One request on the kept socket; None (and a fresh socket next time) if no reply within 10 s."""
        if self.sock is None:
            self.sock = self.context.socket(zmq.REQ)
            self.sock.setsockopt(zmq.LINGER, 0)
            self.sock.connect(self.address)
        self.sock.send(json.dumps(message).encode())
        if self.sock.poll(10_000):
            return json.loads(self.sock.recv())
        self.sock.close()
        self.sock = None
        return None

    def run(self):
        while time.monotonic() < self.until:
            kind, message, expected = self.request()
            reply = self.call(message)
            self.sent[kind] += 1
            if reply is None:
                self.unexpected.append((message, "no reply"))
            elif reply[0] == "ERROR":
                self.replies["ERROR " + reply[1]] += 1
                if reply[1] != expected:
                    self.unexpected.append((message, reply))
            else:
                self.replies[reply[0]] += 1
                if reply[0] != expected:
                    self.unexpected.append((message, reply))
        if self.sock is not None:
            self.sock.close()


def test_ten_clients_every_request_answered_and_memory_stable(repository, mr_chase):
    packages = {p: list(vs) for p, vs in repository.manifest.packages.items()}
    pid = mr_chase.proc.pid
    for package in packages:  # warm-up: connection, statement caches, one of each request
        mr_chase.client("STATUS", package, None)
    rss_start = rss_kb(pid)
    until = time.monotonic() + DURATION_S
    clients = [LoadClient(mr_chase.address, packages, seed, until) for seed in range(CLIENTS)]
    started = time.monotonic()
    for client in clients:
        client.start()
    for client in clients:
        client.join(DURATION_S + 30)
        assert not client.is_alive()
    elapsed = time.monotonic() - started
    rss_end = rss_kb(pid)
    sent = sum((c.sent for c in clients), Counter())
    replies = sum((c.replies for c in clients), Counter())
    unexpected = [u for c in clients for u in c.unexpected]
    total = sum(sent.values())
    # the removals left the tree consistent: every removed version has no wheel on disk and no link
    removed = 0
    for package, versions in packages.items():
        links = page_links(repository, package)
        for version in versions:
            files = repository.manifest.files(package, version)
            rows = scalar(repository.dsn, "SELECT count(*) FROM files WHERE filename = ANY(%s)", files)
            on_disk = [f for f in files if (repository.simple / package / f).exists()]
            linked = [f for f in files if f in links]
            assert (rows, len(on_disk), len(linked)) in ((0, 0, 0), (len(files),) * 3), (package, version)
            removed += rows == 0
    report("load", clients=CLIENTS, seconds=round(elapsed, 1), requests=total, answered=total - sum(
        1 for _, r in unexpected if r == "no reply"), per_second=round(total / elapsed), versions_removed=removed,
        expected_errors=sum(n for k, n in replies.items() if k.startswith("ERROR")), unexpected=len(unexpected),
        rss_start_kb=rss_start, rss_end_kb=rss_end)
    print("sent:", dict(sent), "replies:", dict(Counter(" ".join(k.split()[:4]) for k in replies.elements())))
    assert not unexpected, unexpected[:5]
    assert mr_chase.proc.poll() is None
    assert rss_end < rss_start + RSS_GROWTH_LIMIT_KB
