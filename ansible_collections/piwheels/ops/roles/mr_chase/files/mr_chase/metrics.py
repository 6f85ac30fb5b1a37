"""What monitoring sees of Mr Chase: Prometheus text-format metrics for node_exporter's textfile collector.

With ``metrics_dir`` set, Mr Chase writes ``mr_chase.prom`` there through
prometheus-client (its own CollectorRegistry and ``write_to_textfile``,
which writes a temporary file and renames it: the collector never reads half
a file).  A thread of its own writes it, soon after a request and at most
once every MIN_INTERVAL_S, and at least every REFRESH_S while nothing
happens (ages grow): never the request loop, so no reply waits on it.  The
loop only counts (a few microseconds per request).

The counters start at zero with each process, as Prometheus expects of a
``_total``; the gauges are read from the service's own state when written.
``piwheels_mr_chase_up`` is 0 in the file the service leaves when it stops;
a service that died leaves 1 in a file that stops changing: alert on the
file's age too (node_exporter's ``node_textfile_mtime_seconds``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, write_to_textfile

log = logging.getLogger(__name__)

FILE_NAME = "mr_chase.prom"
#: at most one write per MIN_INTERVAL_S, and one at least every REFRESH_S
MIN_INTERVAL_S, REFRESH_S = 2.0, 15.0
#: the requests whose duration the removal histogram holds (when answered DONE)
REMOVALS = ("REMOVE", "FORGET", "DELETE")
#: a REMOVE takes milliseconds; a DELETE of a big package or a stalled disk takes seconds
REMOVAL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class Metrics:
    def __init__(self, directory: Path, sample: Callable[[], dict]):
        """``sample()`` returns the service's state: ``degraded`` (causes), ``journal_pending`` (bool),
        ``outbox_queued``, ``outbox_oldest_age`` (seconds or None), ``stale_pages``, ``parked_notices``,
        ``archive_pending`` ({location: files pending}, only locations with something pending)."""
        self.path = str(directory / FILE_NAME)
        self._sample = sample
        registry = self.registry = CollectorRegistry(auto_describe=False)
        self._up = Gauge("piwheels_mr_chase_up", "1 while Mr Chase serves, 0 once it has stopped",
                         registry=registry)
        self._degraded = Gauge("piwheels_mr_chase_degraded", "1 for each reason Mr Chase cannot do its work (PONG's "
                               "degraded): database, database role, outbox, journal", ["reason"], registry=registry)
        self._requests = Counter("piwheels_mr_chase_requests", "Requests answered, by type (PING is not counted)",
                                 ["type"], registry=registry)
        self._errors = Counter("piwheels_mr_chase_errors", "Requests answered ERROR, by type (invalid: refused by "
                               "the protocol)", ["type"], registry=registry)
        self._removals = Histogram("piwheels_mr_chase_removal_seconds", "Time to answer a removal that was done "
                                   "(REMOVE, FORGET, DELETE)", ["type"], buckets=REMOVAL_BUCKETS, registry=registry)
        self._gauges = {name: Gauge(f"piwheels_mr_chase_{name}", text, registry=registry) for name, text in (
            ("journal_pending", "1 while a change's journal is pending (being settled)"),
            ("outbox_notices", "Notices for piw-master waiting in the outbox"),
            ("outbox_oldest_age_seconds", "Age of the oldest notice in the outbox (0 when it is empty)"),
            ("stale_pages", "Pages committed changes could not write (STATUS stale_pages)"),
            ("parked_notices", "Notices for piw-master parked in .mr-chase/parked/"),
        )}
        self._archive_pending = Gauge("piwheels_mr_chase_archive_pending", "Removed files the archive hosts of a "
                                      "location still serve (PENDING's total)", ["location"], registry=registry)
        #: every location that has had files pending since this process started
        self._archive_locations: set[str] = set()
        self._changed, self._stopping = threading.Event(), threading.Event()
        self._thread: threading.Thread | None = None
        self._failed: str | None = None

    def start(self) -> None:
        """Write the file once, now (OSError when the directory is not writable: the caller stops the start),
        then keep it up to date from a thread of its own."""
        self._up.set(1)
        self._write()
        self._thread = threading.Thread(target=self._run, name="mr-chase-metrics", daemon=True)
        self._thread.start()

    def count(self, kind: str, failed: bool, seconds: float) -> None:
        """One request answered (the loop's thread: counts only; the file is written later)."""
        self._requests.labels(kind).inc()
        if failed:
            self._errors.labels(kind).inc()
        elif kind in REMOVALS:
            self._removals.labels(kind).observe(seconds)
        self._changed.set()

    def changed(self) -> None:
        """Something the file reports changed outside a request (an archive list settled after the reply):
        write it soon, as after a request."""
        self._changed.set()

    def stop(self) -> None:
        """Leave a file that says the service is down."""
        self._stopping.set()
        self._changed.set()
        if self._thread is not None:
            self._thread.join(5)
        self._up.set(0)
        self._write_logged()

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._changed.wait(REFRESH_S)
            self._changed.clear()
            if self._stopping.is_set():
                return
            self._write_logged()
            self._stopping.wait(MIN_INTERVAL_S)

    def _write_logged(self) -> None:
        """Write; a failure (a full disk) is logged once per reason and never stops the service."""
        try:
            self._write()
        except Exception as exc:  # monitoring must never take the service down
            if str(exc) != self._failed:
                log.error("cannot write the metrics file %s: %s", self.path, exc)
            self._failed = str(exc)
        else:
            self._failed = None

    def _write(self) -> None:
        state = self._sample()
        self._degraded.clear()
        for cause in state["degraded"]:
            self._degraded.labels(cause).set(1)
        gauges = self._gauges
        gauges["journal_pending"].set(int(state["journal_pending"]))
        gauges["outbox_notices"].set(state["outbox_queued"])
        gauges["outbox_oldest_age_seconds"].set(state["outbox_oldest_age"] or 0)
        gauges["stale_pages"].set(state["stale_pages"])
        gauges["parked_notices"].set(state["parked_notices"])
        self._set_archive_pending(state["archive_pending"])
        write_to_textfile(self.path, self.registry)

    def _set_archive_pending(self, counts: dict[str, int]) -> None:
        """One series per location; a location drained since this process started stays, at 0, so a graph
        (and an alert's ``for``) sees the count fall rather than the series vanish."""
        self._archive_locations.update(counts)
        for location in self._archive_locations:
            self._archive_pending.labels(location).set(counts.get(location, 0))
