"""The site audit's SQL: what the database says of each package, read a batch of packages at a time, and the
repair's delete of a build.

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

from collections.abc import Iterator
from dataclasses import dataclass, field

import psycopg

from .database import KEEPALIVES, Database
from .page import PageFile

#: packages per snapshot: few enough that a batch's rows are small, many enough that a query's round trip is
#: spread over hundreds of packages
BATCH = 500
#: a statement of the scan that takes longer fails the audit (a stalled server), never hangs it
STATEMENT_TIMEOUT_S = 120

BATCH_PACKAGES = "SELECT package FROM packages WHERE package > %s ORDER BY package LIMIT %s"
NAMED_PACKAGES = "SELECT package FROM packages WHERE package = ANY(%s) ORDER BY package"
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
#: the download rows of some builds' files (a repair's delete_builds)
DELETE_BUILD_DOWNLOADS = "DELETE FROM downloads WHERE filename IN (SELECT filename FROM files WHERE build_id = ANY(%s))"


@dataclass
class PackageRows:
    """What the database says of one package."""

    files: dict[str, PageFile] = field(default_factory=dict)
    #: the files whose build is younger than min_age (an import in flight: not judged)
    young: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    #: alias -> whether its package_names row was seen within min_age
    aliases: dict[str, bool] = field(default_factory=dict)

    def judged(self) -> list[PageFile]:
        """The files old enough to be judged."""
        young = self.young
        return [file for name, file in self.files.items() if name not in young] if young else list(self.files.values())


#: one batch: each package's name and rows, in the database's order
Batch = list[tuple[str, PackageRows]]


def connect(dsn: str) -> psycopg.Connection:
    """The scan's own connection: read only, each transaction one REPEATABLE READ snapshot."""
    conn = psycopg.connect(dsn, autocommit=True, connect_timeout=5, application_name="mr_chase audit", **KEEPALIVES)
    conn.execute("SET default_transaction_read_only = on")
    conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    return conn


class SiteRows:
    """Each package's rows, BATCH packages per snapshot, in the database's order of names."""

    def __init__(self, conn: psycopg.Connection, min_age: float, named: list[str] | None):
        self._conn, self._min_age, self._named = conn, min_age, named

    def count(self) -> int:
        """How many packages a whole-site audit scans."""
        return self._conn.execute("SELECT count(*) FROM packages").fetchone()[0]

    def batches(self) -> Iterator[Batch]:
        """The packages BATCH at a time, each batch read in one snapshot (keyset pagination: no query result
        grows with the site)."""
        conn = self._conn
        if self._named is not None:
            for start in range(0, len(self._named), BATCH):
                with conn.transaction():
                    names = [row[0] for row in conn.execute(NAMED_PACKAGES, (self._named[start:start + BATCH],))]
                    batch = self._rows(names)
                yield batch
            return
        after = ""
        while True:
            with conn.transaction():
                names = [row[0] for row in conn.execute(BATCH_PACKAGES, (after, BATCH))]
                batch = self._rows(names)
            if not names:
                return
            yield batch
            after = names[-1]

    def fresh(self, package: str) -> PackageRows:
        """The package's rows on a snapshot of their own (a finding's confirmation)."""
        with self._conn.transaction():
            return self._rows([package])[0][1]

    def _rows(self, names: list[str]) -> Batch:
        """Each package's rows; ``names`` in the database's order, every package between the first and the last
        for a whole-site audit (which reads them as a range)."""
        if not names:
            return []
        rows = {name: PackageRows() for name in names}
        which = NAMED if self._named is not None else RANGE
        bounds = {"age": self._min_age, "first": names[0], "last": names[-1], "names": names}
        conn = self._conn
        for package, filename, filehash, requires_python, yanked, version, location, young in conn.execute(
                BATCH_FILES.format(which=which), bounds):
            found = rows[package]
            found.files[filename] = PageFile(filename, filehash, requires_python, yanked, version, location)
            if young:
                found.young.add(filename)
        for package, version in conn.execute(BATCH_VERSIONS.format(which=which), bounds):
            rows[package].versions.add(version)
        for package, alias, young in conn.execute(BATCH_ALIASES.format(which=which), bounds):
            rows[package].aliases[alias] = young
        return list(rows.items())


def delete_builds(db: Database, build_ids: list[int]) -> tuple[int, int]:
    """Inside :meth:`Database.removal` (a repair, site_repair.py): delete these builds as REMOVE deletes a
    version's (their download rows by name, then the builds: files and dependencies cascade), leaving the
    version and its other builds; return (builds, downloads) deleted."""
    conn = db.conn
    downloads = conn.execute(DELETE_BUILD_DOWNLOADS, (build_ids,))
    builds = conn.execute("DELETE FROM builds WHERE build_id = ANY(%s)", (build_ids,))
    db.sync()
    return builds.rowcount, downloads.rowcount


__all__ = ["BATCH", "Batch", "PackageRows", "SiteRows", "connect", "delete_builds"]
