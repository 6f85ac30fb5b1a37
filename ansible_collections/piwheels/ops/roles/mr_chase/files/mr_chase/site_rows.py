"""The site audit's SQL: what the database says of each package, read a batch of packages at a time.

The scan (site_scan.py) reads on a connection of its own, read only, each
batch of BATCH packages in one short REPEATABLE READ snapshot, so that no
snapshot is held while the disk is walked and a live master's vacuum is
never held back for long.  Every statement of a batch reaches its rows
through an index (``packages_pk``, ``versions_pk``, ``builds_pkgver``,
``files_builds``, ``package_names_package``), restricted on every table to
the batch's range of names: a batch costs the same whatever the size of the
site (a join the planner may answer with a scan of the whole ``files``
table would make a whole-site audit grow with the square of the site).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg

from .database import KEEPALIVES
from .page import LOCAL, PageFile

#: packages per snapshot: few enough that a batch's rows are small, many enough that a query's round trip is
#: spread over hundreds of packages
BATCH = 500
#: a statement of the scan that takes longer fails the audit (a stalled server), never hangs it
STATEMENT_TIMEOUT_S = 120

#: every package in the order of names, streamed once to cut a whole-site audit into batches
ALL_PACKAGES = "SELECT package FROM packages ORDER BY package"
#: a whole-site batch's packages: those after the previous batch's last, up to its own last (the final batch has
#: no last: a package added since the audit started is scanned too)
RANGE_PACKAGES = "SELECT package FROM packages WHERE package > %(after)s AND package <= %(last)s ORDER BY package"
TAIL_PACKAGES = "SELECT package FROM packages WHERE package > %(after)s ORDER BY package"
NAMED_PACKAGES = "SELECT package FROM packages WHERE package = ANY(%(names)s) ORDER BY package"
#: the files of a batch's packages (a PageFile's fields), with whether the build is younger than min_age (an
#: import in flight); the batch's names restrict versions and builds alike, so the planner joins through their
#: indexes (versions_pk, builds_pkgver, then files_builds) and never scans the files table
BATCH_FILES = """
SELECT b.package, f.filename, rtrim(f.filehash), f.requires_python, v.yanked, b.version, f.location,
       b.built_at > (now() AT TIME ZONE 'UTC') - %(age)s * interval '1 second'
FROM versions v JOIN builds b ON b.package = v.package AND b.version = v.version
JOIN files f ON f.build_id = b.build_id
WHERE v.package {which} AND b.package {which}
"""
BATCH_VERSIONS = "SELECT package, version FROM versions WHERE package {which}"
BATCH_ALIASES = """
SELECT package, name, seen > (now() AT TIME ZONE 'UTC') - %(age)s * interval '1 second'
FROM package_names WHERE package {which} AND name <> package
"""
#: which packages a batch's queries read: a whole-site batch is a range of the packages' order (an index range
#: scan), a named audit's batch the names themselves
RANGE, NAMED = "BETWEEN %(first)s AND %(last)s", "= ANY(%(names)s)"
#: every name a directory under simple/ or project/ may have, in code point order (Python's str order)
SITE_NAMES = """
SELECT name FROM (SELECT package AS name FROM packages UNION SELECT name FROM package_names) AS names
ORDER BY name COLLATE "C"
"""
#: every file row in (package, filename) order, byte for byte (the sorted listing's order), with its location and
#: whether its build is younger than min_age: the archive comparison merges it with a listing
ARCHIVE_ROWS = """
SELECT b.package, f.filename, f.location,
       b.built_at > (now() AT TIME ZONE 'UTC') - %(age)s * interval '1 second'
FROM builds b JOIN files f ON f.build_id = b.build_id {where}
ORDER BY b.package COLLATE "C", f.filename COLLATE "C"
"""


@dataclass
class PackageRows:
    """What the database says of one package."""

    files: dict[str, PageFile] = field(default_factory=dict)
    #: the files whose build is younger than min_age (an import in flight: not judged)
    young: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    #: alias -> whether its package_names row was seen within min_age
    aliases: dict[str, bool] = field(default_factory=dict)
    #: the files an archive host serves (not in simple/ here)
    archived: set[str] = field(default_factory=set)

    def judged_local(self) -> Collection[str]:
        """The names of the files in simple/ here old enough to be judged."""
        return self.files.keys() - self.young - self.archived if self.young or self.archived else self.files.keys()

    def judged(self) -> list[PageFile]:
        """The files old enough to be judged."""
        young = self.young
        return [file for name, file in self.files.items() if name not in young] if young else list(self.files.values())


#: one batch: each package's name and rows, in the database's order
Batch = list[tuple[str, PackageRows]]


class Bounds(NamedTuple):
    """Which packages one batch reads: ``names`` (a named audit), or those after ``after`` up to ``last``
    (None: to the end) in the database's order (a whole-site audit)."""

    after: str = ""
    last: str | None = None
    names: tuple[str, ...] | None = None


def connect(dsn: str) -> psycopg.Connection:
    """The scan's own connection: read only, each transaction one REPEATABLE READ snapshot."""
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5, application_name="mr_chase audit", **KEEPALIVES)
    conn.execute("SET default_transaction_read_only = on")
    conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


class SiteRows:
    """Each package's rows, a batch of packages per snapshot, in the database's order of names."""

    def __init__(self, conn: psycopg.Connection, min_age: float):
        self._conn, self._min_age = conn, min_age

    def bounds(self, named: list[str] | None, batch: int = BATCH) -> tuple[list[Bounds], int]:
        """The batches of ``batch`` packages of an audit of ``named`` (None: the whole site) and how many
        packages they hold: a whole site's names are streamed once (a server-side cursor), keeping every
        ``batch``-th (keyset pagination: no query result grows with the site)."""
        if named is not None:
            return [Bounds(names=tuple(named[start:start + batch])) for start in range(0, len(named), batch)], \
                len(named)
        bounds, after, count = [], "", 0
        with self._conn.transaction(), self._conn.cursor(name="mr_chase_audit_bounds") as cursor:
            cursor.itersize = 10_000
            for (package,) in cursor.execute(ALL_PACKAGES):
                count += 1
                if count % batch == 0:
                    bounds.append(Bounds(after, package))
                    after = package
        return [*bounds, Bounds(after)], count

    def batch(self, bounds: Bounds) -> Batch:
        """The packages of ``bounds`` and their rows, in one snapshot."""
        conn = self._conn
        with conn.transaction():
            if bounds.names is not None:
                names = [row[0] for row in conn.execute(NAMED_PACKAGES, {"names": list(bounds.names)})]
            else:
                query = TAIL_PACKAGES if bounds.last is None else RANGE_PACKAGES
                names = [row[0] for row in conn.execute(query, bounds._asdict())]
            return self._rows(names, named=bounds.names is not None)

    def fresh(self, package: str) -> PackageRows:
        """The package's rows on a snapshot of their own (a finding's confirmation)."""
        with self._conn.transaction():
            return self._rows([package], named=True)[0][1]

    def _rows(self, names: list[str], named: bool) -> Batch:
        """Each package's rows; ``names`` in the database's order, every package between the first and the last
        unless ``named`` (a range is read as a range)."""
        if not names:
            return []
        rows = {name: PackageRows() for name in names}
        which = NAMED if named else RANGE
        bounds = {"age": self._min_age, "first": names[0], "last": names[-1], "names": names}
        conn = self._conn
        for package, filename, filehash, requires_python, yanked, version, location, young in conn.execute(
                BATCH_FILES.format(which=which), bounds):
            found = rows[package]
            found.files[filename] = PageFile(filename, filehash, requires_python, yanked, version, location)
            if young:
                found.young.add(filename)
            if location != LOCAL:
                found.archived.add(filename)
        for package, version in conn.execute(BATCH_VERSIONS.format(which=which), bounds):
            rows[package].versions.add(version)
        for package, alias, young in conn.execute(BATCH_ALIASES.format(which=which), bounds):
            rows[package].aliases[alias] = young
        return list(rows.items())


__all__ = ["BATCH", "Batch", "Bounds", "PackageRows", "SiteRows", "connect"]
