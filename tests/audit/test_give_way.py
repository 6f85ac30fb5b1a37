"""The scan gives way to Mr Chase's requests: its thread and its worker processes wait while a request is served,
never longer than their limit; the workers run at the lowest priority."""

from __future__ import annotations

import multiprocessing
import threading
import time
from pathlib import Path

import pytest
from audit_helpers import options
from chase_helpers import wait_for
from mr_chase import site_wide
from mr_chase.give_way import GiveWay, SharedGiveWay
from mr_chase.site_rows import connect
from mr_chase.site_scan import SiteScan
from mr_chase.site_wide import SiteWide
from mr_chase.tree import Tree

from piwheels_testbed import RepositorySpec

SPAWN = multiprocessing.get_context("spawn")


@pytest.fixture
def repository_spec() -> RepositorySpec:
    return RepositorySpec(packages=12, versions=1, files=1, downloads=0)


def ended_wait(give_way, limit: float = 30.0) -> tuple[threading.Thread, list[float]]:
    """A thread that waits on ``give_way`` and records when the wait ended."""
    ended: list[float] = []
    thread = threading.Thread(target=lambda: (give_way.wait(limit), ended.append(time.monotonic())))
    thread.start()
    return thread, ended


@pytest.mark.parametrize("make", [GiveWay, SharedGiveWay])
def test_a_wait_lasts_while_a_request_is_served(make):
    give_way = make()
    started = time.monotonic()
    give_way.wait()  # no request: at once
    assert time.monotonic() - started < 0.5
    give_way.serving(True)
    thread, ended = ended_wait(give_way)
    time.sleep(0.2)  # long enough for a wait that ignored the request to have ended
    assert not ended
    released = time.monotonic()
    give_way.serving(False)
    thread.join(10)
    assert ended and ended[0] >= released


@pytest.mark.parametrize("make", [GiveWay, SharedGiveWay])
def test_a_request_that_never_ends_holds_a_wait_no_longer_than_its_limit(make):
    give_way = make()
    give_way.serving(True)
    started = time.monotonic()
    thread, ended = ended_wait(give_way, limit=0.3)
    thread.join(10)
    assert ended and 0.3 <= ended[0] - started < 5


def _wait_in_a_process(give_way: SharedGiveWay, ready, done) -> None:
    ready.set()
    give_way.wait(30)
    done.put(time.monotonic())


def test_a_worker_process_sees_the_request_mr_chase_serves():
    """The flag is shared memory: a spawned process waits while this one serves (monotonic time is the
    machine's, so the two processes' times compare)."""
    give_way = SharedGiveWay()
    give_way.serving(True)
    ready, done = SPAWN.Event(), SPAWN.Queue()
    process = SPAWN.Process(target=_wait_in_a_process, args=(give_way, ready, done))
    process.start()
    try:
        assert ready.wait(30)
        time.sleep(0.2)
        assert done.empty()
        released = time.monotonic()
        give_way.serving(False)
        assert done.get(timeout=30) >= released
    finally:
        process.join(30)


def niceness(pid: int) -> int:
    return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[16])


def worker_processes() -> list[int]:
    """This process's children that multiprocessing spawned as workers (not its resource tracker)."""
    children = [int(pid) for task in Path("/proc/self/task").iterdir()
                for pid in (task / "children").read_text().split()]
    return [pid for pid in children if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def test_the_workers_run_at_the_lowest_priority(repository):
    give_way = SharedGiveWay()
    scan = SiteScan(repository.service_dsn, Tree(repository.output_path), options(), lambda: False, workers=2,
                    batch=3, workers_give_way=lambda: give_way)
    looked = False
    for _package, _findings in scan.run():
        if not looked:  # the pool is alive while the scan yields; a worker lowers its priority as it starts
            wait_for(lambda: [niceness(pid) for pid in worker_processes()] == [19, 19])
            looked = True
    assert looked and scan.scanned.packages == 12


def test_the_site_wide_checks_wait_while_a_request_is_served(repository, monkeypatch):
    """In a worker the site-wide checks run beside the batches: they wait between names, as a batch does
    between packages, and find the same once the request is served."""
    monkeypatch.setattr(site_wide, "PAUSE_EVERY", 1)
    (Path(repository.output_path) / "simple" / "no-such-package").mkdir()
    give_way = GiveWay()
    give_way.serving(True)
    found, ended = [], []
    with connect(repository.service_dsn) as conn:
        checks = SiteWide(Tree(repository.output_path), 0, pause=give_way.wait)
        thread = threading.Thread(target=lambda: (found.extend(checks.findings(conn)), ended.append(time.monotonic())))
        thread.start()
        time.sleep(0.2)  # long enough for checks that ignored the request to have ended
        assert not ended
        released = time.monotonic()
        give_way.serving(False)
        thread.join(30)
    assert ended and ended[0] >= released
    assert [(finding.kind, finding.path) for finding in found] == [("orphan_directory", "simple/no-such-package")]
