"""The site audit's batches, checked in Mr Chase itself or in worker processes of its own.

A whole-site audit is work for the interpreter (reading a million rows,
listing a hundred thousand directories, reading and comparing their pages),
and one interpreter runs on one core at a time.  With ``audit_workers`` above
1, an audit of more than one batch hands its batches to that many worker
processes, each with a read-only database connection of its own, and takes
their results back in the order of the batches.  The workers are spawned
fresh (Mr Chase's threads and sockets are never forked), live as long as the
audit, and read only: what they find goes back to the job, which alone
repairs (through the loop thread, as before).  While they work, Mr Chase's
own interpreter is free for requests.

The workers run at the lowest priority (nice 19) and wait before each
package while Mr Chase serves a request (give_way.py): on a machine whose
cores they fill, every thread a request wakes (the client's, Mr Chase's
socket and loop threads, its database backend) would otherwise wait for a
core behind them, before the request is even in hand.

A worker that dies (killed, out of memory) fails the audit with a message
that says so, never the service.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field

import psycopg

from .checkpoints import checkpoint_from_env
from .findings import Finding
from .give_way import SharedGiveWay
from .package_check import PackageCheck, Scanned
from .site_rows import Bounds, SiteRows, connect
from .site_wide import SiteWide
from .tree import Tree

#: the checkpoint the scan passes between a batch's snapshot and its look at the disk (tests)
WALK = "audit_walk"
#: the workers' niceness: the lowest priority, so that any thread a request wakes takes a core from them at once
NICENESS = 19


@dataclass
class BatchResult:
    """One batch checked: the packages with findings (in order), how many packages, what was examined."""

    found: list[tuple[str, list[Finding]]] = field(default_factory=list)
    #: the batch's last package (None: the batch was empty)
    last: str | None = None
    scanned: Scanned = field(default_factory=Scanned)
    #: should_stop said so before the batch's end
    stopped: bool = False


class WorkerDied(Exception):
    """A worker process ended without its result (killed, out of memory): the audit fails, saying so."""


def check_batch(site_rows: SiteRows, check: PackageCheck, bounds: Bounds, checkpoint: Callable[[str], None],
                should_stop: Callable[[], bool]) -> BatchResult:
    """The batch's packages checked, each finding confirmed against a fresh snapshot and a fresh look at the
    disk (an import or a removal committed since the batch's snapshot is not reported)."""
    if should_stop():  # before the batch's queries too: they keep a core of the database busy
        return BatchResult(stopped=True)
    batch = site_rows.batch(bounds)
    checkpoint(WALK)
    check.scanned = result_scanned = Scanned()
    result = BatchResult(scanned=result_scanned)
    for package, rows in batch:
        if should_stop():
            result.stopped = True
            break
        findings = check.findings(package, rows)
        if findings:
            again = check.findings(package, site_rows.fresh(package), count=False)
            first = {(finding.kind, finding.path) for finding in findings}
            findings = [finding for finding in again if (finding.kind, finding.path) in first]
        if findings:
            result.found.append((package, findings))
        result.last = package
    return result


@dataclass(frozen=True)
class Settings:
    """What a check needs to know of the audit (sent to each worker process as it starts)."""

    dsn: str
    root: str
    min_age: float
    verify_hashes: bool


@dataclass(frozen=True)
class Checks:
    """An audit's checks: ``batches`` takes the bounds and yields each batch's result in the same order;
    ``site_wide`` (None: not asked for) returns the site-wide findings."""

    batches: Callable[[Iterable[Bounds]], Iterator[BatchResult]]
    site_wide: Callable[[], list[Finding]] | None


@contextlib.contextmanager
def audit_checks(settings: Settings, workers: int, conn: psycopg.Connection, checkpoint: Callable[[str], None],
                 should_stop: Callable[[], bool], give_way: SharedGiveWay | None = None,
                 site_wide: bool = False) -> Iterator[Checks]:
    """Check in this process (``workers`` 1, on ``conn``: between packages ``should_stop`` may pause or end
    the scan; the site-wide checks when asked, after the batches) or in ``workers`` processes, which wait on
    ``give_way`` (if any) before each package, so a request Mr Chase serves meanwhile does not share the cores
    with them; the caller may stop between batches.  In processes the site-wide checks start first, in one of
    them, beside the batches: after them, one core would idle while they ran."""
    if workers <= 1:
        site_rows = SiteRows(conn, settings.min_age)
        tree = Tree(settings.root)
        check = PackageCheck(tree, settings.min_age, settings.verify_hashes)
        yield Checks(lambda all_bounds: (check_batch(site_rows, check, bounds, checkpoint, should_stop)
                                         for bounds in all_bounds),
                     (lambda: SiteWide(tree, settings.min_age).findings(conn)) if site_wide else None)
        return
    pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"), initializer=_start_worker,
                               initargs=(settings, give_way))
    try:
        found_site_wide = pool.submit(_site_wide_in_worker) if site_wide else None
        yield Checks(lambda all_bounds: _results(pool.map(_check_in_worker, all_bounds)),
                     (lambda: _site_wide_result(found_site_wide)) if site_wide else None)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _results(results: Iterator[BatchResult]) -> Iterator[BatchResult]:
    with _a_death_fails_the_audit():
        yield from results


def _site_wide_result(future: Future) -> list[Finding]:
    with _a_death_fails_the_audit():
        return future.result()


@contextlib.contextmanager
def _a_death_fails_the_audit() -> Iterator[None]:
    try:
        yield
    except BrokenProcessPool as exc:
        raise WorkerDied("an audit worker process ended without its result (killed? out of memory? its exit is "
                         "in the journal of the unit); set audit_workers: 1 to scan in Mr Chase's own process") from exc


@dataclass
class _Worker:
    """A worker process's own connection, rows and checks, for the life of the process."""

    conn: psycopg.Connection
    site_rows: SiteRows
    check: PackageCheck
    site_wide: SiteWide
    checkpoint: Callable[[str], None]
    should_stop: Callable[[], bool]


_worker: _Worker | None = None


def _start_worker(settings: Settings, give_way: SharedGiveWay | None) -> None:
    global _worker  # noqa: PLW0603 (one per worker process, for the life of the process)
    _lower_priority()
    conn, tree, should_stop = connect(settings.dsn), Tree(settings.root), _giving_way(give_way)
    _worker = _Worker(conn, SiteRows(conn, settings.min_age),
                      PackageCheck(tree, settings.min_age, settings.verify_hashes),
                      SiteWide(tree, settings.min_age, pause=should_stop), checkpoint_from_env(), should_stop)


def _lower_priority() -> None:
    """Nice 19; a system that forbids it (a unit's SystemCallFilter without setpriority) is told on stderr
    (the unit's journal) and the audit goes on at Mr Chase's priority."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, NICENESS)
    except OSError as exc:
        print(f"mr_chase audit worker {os.getpid()}: cannot lower its priority ({exc}); requests served during "
              "the audit share the cores with it", file=sys.stderr, flush=True)


def _giving_way(give_way: SharedGiveWay | None) -> Callable[[], bool]:
    """A worker's should_stop: wait while Mr Chase serves a request; never stop (the caller stops between
    batches)."""
    def should_stop() -> bool:
        if give_way is not None:
            give_way.wait()
        return False
    return should_stop


def _check_in_worker(bounds: Bounds) -> BatchResult:
    worker = _worker
    return check_batch(worker.site_rows, worker.check, bounds, worker.checkpoint, worker.should_stop)


def _site_wide_in_worker() -> list[Finding]:
    return _worker.site_wide.findings(_worker.conn)


__all__ = ["WALK", "BatchResult", "Checks", "Settings", "WorkerDied", "audit_checks", "check_batch"]
