"""The site audit's scanner: the database and the served tree, compared package by package.

The database is the truth (DESIGN, "Audit and repair"): the packages are
read in batches of BATCH, each batch one read-only snapshot on a connection
of the scan's own (never the service's; the SQL is site_rows.py's), and each
package of a batch is held against what the tree serves for it
(package_check.py).  The batches are checked in Mr Chase itself or, for a
site of more than one batch, in ``audit_workers`` processes
(scan_workers.py); memory holds a few batches, never the site.  A package's
findings are confirmed against a fresh snapshot and a fresh look at its
directory before they are reported, so an import (or removal) committed
between the batch's snapshot and the look at the disk is not a finding.

Then the archive hosts' listings are merged with the file rows of their
location, and the site-wide checks (directories of no package, the root
index, Mr Chase's own staging, site_wide.py) come last, only for a
whole-site audit (with workers, one of them has made them meanwhile).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
from collections.abc import Callable, Iterable, Iterator

import psycopg

from .findings import Finding
from .give_way import SharedGiveWay
from .package_check import Scanned
from .protocol import canonicalize, normalise_location
from .scan_workers import WALK, Settings, audit_checks
from .site_rows import ARCHIVE_ROWS, BATCH, SiteRows, connect
from .tree import Tree

log = logging.getLogger(__name__)

#: the listing sorted as ARCHIVE_ROWS is: by package then filename, byte for byte, on disk (sort(1) spills to
#: temporary files in Mr Chase's state directory, writable under the unit's ProtectSystem=strict, so a million
#: names are never held in memory)
SORT_LISTING = ["sort", "-u", "-t", "/", "-k1,1", "-k2,2"]


class ListingError(Exception):
    """An archive's listing that cannot be read: the job fails, naming the file."""


class SiteScan:
    """One audit's scan; ``run`` yields each package's findings, then the site-wide ones."""

    def __init__(self, dsn: str, tree: Tree, options: dict, should_stop: Callable[[], bool],
                 checkpoint: Callable[[str], None] = lambda step: None, workers: int = 1, batch: int = BATCH,
                 workers_give_way: Callable[[], SharedGiveWay] | None = None):
        self._dsn, self._tree, self._should_stop, self._checkpoint = dsn, tree, should_stop, checkpoint
        #: worker processes for an audit of more than one batch (1: none, the batches are checked here), and the
        #: flag they wait on before each package (None: they never wait)
        self._workers, self._batch, self._workers_give_way = workers, batch, workers_give_way
        self._min_age = options["min_age"]
        self._verify = options["verify_hashes"]
        packages = options["packages"]
        self._named = None if packages is None else sorted({canonicalize(name) for name in packages})
        self.packages_total: int | None = None if packages is None else len(self._named)
        self.scanned = Scanned()
        #: (location, listing path) of each archive whose listing is compared with its location's rows
        self._archives = [(normalise_location(item["location"]), item["listing"]) for item in options["archives"]]

    def run(self) -> Iterator[tuple[str | None, list[Finding]]]:
        """Each package's findings in name order (a package without findings may be left out; at least one
        item per batch, so the job sees the progress), then the archives' findings, then (None, the site-wide
        findings) for a whole-site audit."""
        for _location, listing in self._archives:
            _readable(listing)  # before anything is scanned: a listing that cannot be read fails the job at once
        with connect(self._dsn) as conn:
            all_bounds, self.packages_total = SiteRows(conn, self._min_age).bounds(self._named, self._batch)
            workers = min(self._workers, len(all_bounds))
            log.info("audit: %d packages, %d batches in %s", self.packages_total, len(all_bounds),
                     f"{workers} worker processes" if workers > 1 else "Mr Chase's own process")
            give_way = self._workers_give_way() if workers > 1 and self._workers_give_way is not None else None
            settings = Settings(self._dsn, self._tree.root, self._min_age, self._verify)
            with audit_checks(settings, workers, conn, self._checkpoint, self._should_stop, give_way,
                              site_wide=self._named is None) as checks:
                for result in checks.batches(all_bounds):
                    self.scanned.add(result.scanned)
                    yield from result.found
                    if not result.found and result.last is not None:
                        yield result.last, []
                    if result.stopped or self._should_stop():
                        return
                for location, listing in self._archives:
                    if self._should_stop():
                        return
                    yield from self._archive(conn, location, listing)
                if checks.site_wide is not None:
                    yield None, checks.site_wide()

    # -- the archives -----------------------------------------------------------------

    def _archive(self, conn: psycopg.Connection, location: str, listing: str) -> Iterator[tuple[str, list[Finding]]]:
        """Each package's orphan_archived_wheel and missing_archived_wheel findings at ``location``: the sorted
        listing merged with every file row in the same order (both streamed), one package at a time."""
        where, names = ("", {}) if self._named is None else ("WHERE b.package = ANY(%(names)s)", {"names": self._named})
        package, findings = None, []
        with _sorted_listing(listing, self._tree.state) as listed, conn.transaction(), \
                conn.cursor(name="mr_chase_audit_archive") as cursor:
            cursor.itersize = 10_000
            rows = cursor.execute(ARCHIVE_ROWS.format(where=where), {"age": self._min_age, **names})
            for key, row, on_host in _merged(self._listed(listed), rows):
                finding = self._archive_finding(location, key, row, on_host)
                if finding is None:
                    continue
                if key[0] != package and findings:
                    yield package, findings
                    findings = []
                package = key[0]
                findings.append(finding)
        if findings:
            yield package, findings

    def _listed(self, lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
        """(package, filename) of each line of a sorted listing that names a file of a package audited."""
        named = None if self._named is None else set(self._named)
        for line in lines:
            package, _slash, filename = line.rstrip(b"\n").decode("utf-8", errors="surrogateescape").partition("/")
            if package and filename and "/" not in filename and (named is None or package in named):
                yield package, filename

    @staticmethod
    def _archive_finding(location: str, key: tuple[str, str], row: tuple | None, on_host: bool) -> Finding | None:
        package, filename = key
        path = f"{location}/{package}/{filename}"
        if on_host and row is None and filename.endswith(".whl"):
            return Finding("orphan_archived_wheel", package, path, f"{location}'s archive host serves it; the "
                           "database has no files row for it")
        if not on_host and row is not None and normalise_location(row[2]) == location and not row[3]:
            return Finding("missing_archived_wheel", package, path, f"the database links it at {location}; its "
                           "archive host's listing lacks it (a dead link)")
        return None


# -- helpers ---------------------------------------------------------------------------------


def _readable(listing: str) -> None:
    """ListingError naming the listing unless it is a file this process can read."""
    try:
        with open(listing, "rb") as stream:
            stream.read(1)
    except OSError as exc:
        raise ListingError(f"cannot read the archive listing {listing}: {exc.strerror or exc} (copy the listing "
                           "piw_archive state listed wrote to the master, readable by Mr Chase's user)") from exc


@contextlib.contextmanager
def _sorted_listing(listing: str, temporary: str) -> Iterator[Iterable[bytes]]:
    """The listing's lines in (package, filename) byte order, streamed from sort(1) (its temporary files in
    ``temporary``)."""
    try:
        source = open(listing, "rb")  # noqa: SIM115 (sort reads it; closed below)
    except OSError as exc:
        raise ListingError(f"cannot read the archive listing {listing}: {exc.strerror or exc}") from exc
    with source, subprocess.Popen([*SORT_LISTING, "-T", temporary], stdin=source, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "LC_ALL": "C"}) as sort:
        try:
            yield sort.stdout
        finally:
            sort.stdout.close()
            error = sort.stderr.read().decode("utf-8", errors="replace").strip()
            if sort.wait() not in (0, -13) and error:  # -13: SIGPIPE, the scan stopped reading
                raise ListingError(f"cannot sort the archive listing {listing}: {error}")


#: what _merged yields: the (package, filename) key, the row or None, whether the listing has the key
MergedKey = tuple[tuple[str, str], "tuple | None", bool]


def _merged(listed: Iterable[tuple[str, str]], rows: Iterable[tuple]) -> Iterator[MergedKey]:
    """Merge-join a listing's (package, filename) with rows (package, filename, ...), both in that order:
    (key, the row or None, whether the listing has it) for every key of either."""
    listed, rows = iter(listed), iter(rows)
    item, row = next(listed, None), next(rows, None)
    while item is not None or row is not None:
        key = None if row is None else (row[0], row[1])
        if key is None or (item is not None and item < key):
            yield item, None, True
            item = next(listed, None)
        elif item is None or key < item:
            yield key, row, False
            row = next(rows, None)
        else:
            yield key, row, True
            item, row = next(listed, None), next(rows, None)


__all__ = ["BATCH", "WALK", "ListingError", "SiteScan"]
