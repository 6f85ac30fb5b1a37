"""The site audit as a job: AUDIT starts (or joins) it, JOB follows it, STATUS reports it.

A whole-site audit takes longer than any request may, so it runs on a
thread of its own (the scan, site_scan.py, with a database connection of
its own) and the requests only read its state from memory: AUDIT and JOB
are answered at once by the loop thread, and a REMOVE sent meanwhile is
answered as it would be without an audit.

Repairs are changes like any other, so they are never made on the job's
thread: for each package with findings of a kind to repair, the job hands
``repair(package, findings, min_age)`` to the loop thread (``Handoff``, a
pipe the loop polls together with its socket, so a hand-off costs no poll
interval), which runs it between two requests, and waits for its result.
A package's findings are reported once its repair, if any, has run: a
finding is final once a JOB reply carried it.

One job is kept at a time: the running one, or the last one until the next
audit starts or Mr Chase restarts.  The last finished audit's summary
(``last``) is written durably to ``.mr-chase/last-audit.json``, so STATUS
still reports it after a restart.  A scan that fails ends its job in state
``failed`` with the error; it never touches the service.
"""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import json
import logging
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import CancelledError, Future
from typing import Any, Protocol

from .findings import KINDS, Finding
from .give_way import GiveWay, SharedGiveWay
from .protocol import canonicalize, normalise_location
from .tree import Tree, fsync_dir, write_durably

log = logging.getLogger(__name__)

#: findings per JOB reply (a reply stays well under a frame's size however long the paths)
PAGE = 500
#: how long a stopping service waits for the job thread to notice
STOP_WAIT_S = 5.0
LAST_AUDIT = "last-audit.json"


class AuditRefused(Exception):
    """AUDIT while a job with other options runs, or JOB of an unknown id: the reply's ERROR says which."""


class Scanned(Protocol):
    packages: int
    files: int
    bytes_hashed: int


class Scan(Protocol):
    """What the job needs of a scan (site_scan.SiteScan)."""

    scanned: Scanned
    packages_total: int | None

    def run(self) -> Iterator[tuple[str | None, list[Finding]]]:
        """Each package's findings in package-name order (at least one item per batch of packages, maybe with
        none, so the progress is seen), then (None, site-wide findings)."""


#: (options, should_stop) -> a scan; should_stop() is called before each package (it may wait while a request is
#: served): true, the scan ends there
ScanFactory = Callable[[dict, Callable[[], bool]], Scan]
#: Service.repair: (package or None for site-wide, findings, min_age) -> the same findings, repaired marked
Repair = Callable[[str | None, list[Finding], float], list[Finding]]


def now_iso() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def same_options(options: dict) -> tuple:
    """What makes two audits the same: the packages (canonical, in any order), the kinds to repair (in any
    order), verify_hashes, min_age and the archives' listings (in any order, locations normalised)."""
    packages = options["packages"]
    archives = sorted({(normalise_location(item["location"]), item["listing"]) for item in options["archives"]})
    return (None if packages is None else tuple(sorted({canonicalize(name) for name in packages})),
            tuple(sorted(set(options["repair"]))), options["verify_hashes"], options["min_age"], tuple(archives))


class Handoff:
    """Work another thread gives the loop thread, which runs it between requests.

    ``fileno`` is a pipe the loop polls together with its socket: a byte
    in it wakes the loop at once.  ``call`` (any thread) waits for the
    result; ``run_pending`` (the loop thread) runs what waits.  After
    ``close`` every waiting or later call raises CancelledError.
    """

    def __init__(self) -> None:
        self._read, self._write = os.pipe()
        os.set_blocking(self._read, False)
        self._lock = threading.Lock()
        self._waiting: collections.deque[tuple[Callable[[], Any], Future]] = collections.deque()
        self._closed = False

    def fileno(self) -> int:
        return self._read

    @property
    def pending(self) -> bool:
        """Whether work waits (the loop asks before it polls, so work never waits behind a poll)."""
        return bool(self._waiting)

    def call(self, work: Callable[[], Any]) -> Any:
        """Run ``work`` on the loop thread and return its result (or raise what it raised)."""
        future: Future = Future()
        with self._lock:
            if self._closed:
                raise CancelledError("Mr Chase is stopping")
            self._waiting.append((work, future))
            os.write(self._write, b"!")
        return future.result()

    def run_pending(self) -> None:
        """Run every waiting piece of work, in order (the loop thread, between requests)."""
        with contextlib.suppress(BlockingIOError):
            os.read(self._read, 4096)
        while True:
            with self._lock:
                if not self._waiting:
                    return
                work, future = self._waiting.popleft()
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(work())
                except BaseException as exc:  # handed back to the job, which fails with it
                    future.set_exception(exc)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, collections.deque()
        for _work, future in waiting:
            future.cancel()
        os.close(self._read)
        os.close(self._write)


class Job:
    """One audit: its options, its state and every finding it reported, in order."""

    def __init__(self, options: dict):
        self.id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(3)}"
        self.options = options
        self.key = same_options(options)
        self.state = "scanning"
        self.started, self.finished = now_iso(), None
        self.error: str | None = None
        self.packages_done, self.packages_total = 0, None
        self.scanned = {"packages": 0, "files": 0, "bytes_hashed": 0}
        self.counts = dict.fromkeys(KINDS, 0)
        self.findings: list[dict] = []
        self._lock = threading.Lock()

    @property
    def running(self) -> bool:
        return self.finished is None

    def report(self, findings: list[Finding], scan: Scan) -> None:
        """A package's findings (final: repaired, if they were to be) and the scan's progress."""
        scanned = scan.scanned
        with self._lock:
            self.packages_total = scan.packages_total
            for finding in findings:
                self.counts[finding.kind] += 1
                self.findings.append(finding.as_dict())
            self.scanned = {"packages": scanned.packages, "files": scanned.files,
                            "bytes_hashed": scanned.bytes_hashed}
            self.packages_done = scanned.packages

    def end(self, state: str, error: str | None = None, finished: str | None = None) -> None:
        with self._lock:
            self.state, self.error, self.finished = state, error, finished or now_iso()

    def view(self, offset: int, joined: bool = False) -> dict:
        """The job object of AUDIT and JOB replies, with at most PAGE findings from ``offset``."""
        with self._lock:
            page = self.findings[offset:offset + PAGE]
            after = offset + len(page)
            more = after < len(self.findings) or self.running
            return {"id": self.id, "state": self.state, "joined": joined, "options": self.options,
                    "started": self.started, "finished": self.finished, "progress": self.progress(),
                    "scanned": dict(self.scanned), "counts": dict(self.counts), "findings": page,
                    "next": after if more else None, "error": self.error}

    def progress(self) -> dict:
        return {"packages_done": self.packages_done, "packages_total": self.packages_total}

    def running_view(self) -> dict:
        with self._lock:
            return {"id": self.id, "state": self.state, "started": self.started, "options": self.options,
                    "progress": self.progress()}

    def summary(self, finished: str) -> dict:
        """STATUS' ``last``: what monitoring needs of a finished audit."""
        with self._lock:
            return {"id": self.id, "started": self.started, "finished": finished, "options": self.options,
                    "counts": dict(self.counts), "scanned": dict(self.scanned),
                    "repaired": sum(1 for finding in self.findings if finding["repaired"])}


class Audits:
    """The service's audits: at most one job runs; the last one is kept for JOB, its summary for STATUS."""

    def __init__(self, tree: Tree, scan: ScanFactory, repair: Repair, handoff: Handoff):
        self._scan, self._repair, self._handoff = scan, repair, handoff
        self._path = os.path.join(tree.state, LAST_AUDIT)
        self._job: Job | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        #: the scan's thread waits on it before each package while the loop serves a request (``serving``)
        self._give_way = GiveWay()
        #: the same, for the scan's worker processes (made for the first audit that has workers)
        self._workers_give_way: SharedGiveWay | None = None
        self._last = self._read_last()

    # -- requests (the loop thread) --------------------------------------------

    def start(self, options: dict) -> dict:
        """AUDIT: a new job, or the running one when its options are the same; AuditRefused otherwise."""
        job = self._job
        if job is not None and job.running:
            if job.key == same_options(options):
                return job.view(len(job.findings), joined=True)
            raise AuditRefused(f"an audit is already running (job {job.id}, started {job.started}, options "
                               f"{json.dumps(job.options, separators=(',', ':'))}): wait for it, or run with the "
                               "same options to join it")
        job = self._job = Job(options)
        self._thread = threading.Thread(target=self._run, args=(job,), name=f"mr-chase-audit-{job.id}", daemon=True)
        self._thread.start()
        log.info("audit %s started: %s", job.id, json.dumps(options, separators=(",", ":")))
        return job.view(0)

    def job(self, job_id: str, offset: int) -> dict:
        """JOB: the kept job's state and its findings from ``offset``; AuditRefused for another id."""
        job = self._job
        if job is None or job.id != job_id:
            raise AuditRefused(f"unknown audit job {job_id} (jobs are kept until the next audit starts or "
                               "Mr Chase restarts)")
        return job.view(offset)

    def serving(self, busy: bool) -> None:
        """The loop starts (True) or ends (False) serving a request: meanwhile the scan waits before its next
        package, so it never competes with a request for the interpreter or the cores, and a REMOVE is
        answered as fast as without an audit."""
        self._give_way.serving(busy)
        if self._workers_give_way is not None:
            self._workers_give_way.serving(busy)

    def workers_give_way(self) -> SharedGiveWay:
        """What the scan's worker processes look at before each package, as the scan's thread waits for the
        loop: made for the first audit that has workers (it lives in shared memory)."""
        if self._workers_give_way is None:
            self._workers_give_way = SharedGiveWay()
        return self._workers_give_way

    def site_status(self) -> dict:
        """STATUS' ``audit`` field: the last finished audit and the running one (each None when there is none)."""
        job = self._job
        return {"last": self._last, "running": job.running_view() if job is not None and job.running else None}

    def stop(self) -> None:
        """The service stops: the job ends at its next package (a waiting repair is cancelled)."""
        self._stopping.set()
        self._handoff.close()
        thread = self._thread
        if thread is not None:
            thread.join(STOP_WAIT_S)

    # -- the job's thread -----------------------------------------------------------

    def _run(self, job: Job) -> None:
        try:
            self._scan_and_repair(job)
        except CancelledError:
            job.end("failed", "Mr Chase stopped before the audit finished")
        except Exception as exc:  # a scan that fails ends its job, never the service
            log.exception("audit %s failed", job.id)
            job.end("failed", f"{type(exc).__name__}: {exc}")
        else:  # remembered first: once JOB says done, STATUS and last-audit.json say it too
            finished = now_iso()
            self._remember(job, finished)
            job.end("done", finished=finished)
        log.info("audit %s %s: %s", job.id, job.state,
                 ", ".join(f"{kind} {count}" for kind, count in job.counts.items() if count) or "no findings")

    def _scan_and_repair(self, job: Job) -> None:
        repair = set(job.options["repair"])
        scan = self._scan(job.options, self._between_packages)
        for package, findings in scan.run():
            if self._stopping.is_set():
                raise CancelledError
            chosen = [finding for finding in findings if finding.kind in repair]
            if chosen:
                findings = [finding for finding in findings if finding.kind not in repair]
                findings += self._repaired(job, package, chosen)
            job.report(findings, scan)

    def _between_packages(self) -> bool:
        """The scan's call before each package: give way to the request in hand, if any; whether to stop."""
        self._give_way.wait()
        return self._stopping.is_set()

    def _repaired(self, job: Job, package: str | None, findings: list[Finding]) -> list[Finding]:
        """``findings`` as the loop thread's repair returns them (repaired marked)."""
        job.state = "repairing"
        min_age = float(job.options["min_age"])
        try:
            return self._handoff.call(lambda: self._repair(package, findings, min_age))
        finally:
            job.state = "scanning"

    def _remember(self, job: Job, finished: str) -> None:
        """Keep the finished audit's summary for STATUS, on disk too; a write that fails is logged, not fatal
        (STATUS reports it until the restart all the same)."""
        self._last = job.summary(finished)
        temp = f"{self._path}.tmp"
        try:
            write_durably(temp, json.dumps(self._last, sort_keys=True).encode("utf-8"))
            os.replace(temp, self._path)
            fsync_dir(os.path.dirname(self._path))
        except OSError as exc:
            log.error("cannot write %s (%s): a restart will not report audit %s as the last", self._path, exc,
                      job.id)

    def _read_last(self) -> dict | None:
        try:
            with open(self._path, encoding="utf-8") as file:
                last = json.load(file)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            log.warning("cannot read %s (%s): STATUS reports no last audit", self._path, exc)
            return None
        return last if isinstance(last, dict) else None


__all__ = ["PAGE", "AuditRefused", "Audits", "Handoff", "Job", "same_options"]
