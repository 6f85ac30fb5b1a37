"""The SQL of Mr Chase: parameterised statements on the piwheels 0.23 tables.

Only the tables and columns listed in DESIGN.md are used, so the service runs
unchanged on a real piwheels master.  One connection is kept open (a removal
is a handful of indexed statements; connecting would cost more than the
work).  When PostgreSQL goes away the request in flight fails with
:class:`DatabaseUnavailable` and the next request connects again.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import psycopg

from . import privileges
from .page import LOCAL, PageFile

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached or the connection broke; reply ``database unavailable: ...``."""


class NotFound(Exception):
    """The request names a package or version the database does not have."""


@dataclass
class Deleted:
    """What :meth:`Database.delete_version` did, and what the package's page must now list."""

    previous_skip: str
    skip_changed: bool
    builds: int
    downloads: int
    #: every file of the version, and those of them that live on an archive server, not on this host
    files: list[str]
    archived: list[str]
    remaining: list[PageFile]

    @property
    def local(self) -> list[str]:
        archived = set(self.archived)
        return [name for name in self.files if name not in archived]


class Removal:
    """The open transaction of :meth:`Database.removal`: ``while_committing`` (set inside it)
    runs once COMMIT is sent, before its outcome is awaited."""

    def __init__(self) -> None:
        self.while_committing: Callable[[], None] | None = None


class Database:
    """A lazily (re)connected psycopg connection and the queries Mr Chase needs."""

    def __init__(self, dsn: str, connect_timeout: int = 5):
        self._dsn = dsn
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection | None = None
        self._pipeline: psycopg.Pipeline | None = None

    # -- connection ---------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self.discard()
        if self._conn is None:
            self.connect()
        return self._conn

    def connect(self) -> None:
        """Open the connection and check the role's privileges (MissingPrivileges when any is lacking)."""
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout)
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailable(first_line(exc)) from exc
            try:
                privileges.check(self._conn)  # before any statement that needs them
            except privileges.MissingPrivileges:
                self.discard()
                raise
            # a removal waiting on a lock held elsewhere fails instead of hanging the queue
            self._conn.execute("SET lock_timeout = '10s'")
            log.info("connected to the database")

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it may still turn out broken when next used)."""
        return self._conn is not None

    def discard(self) -> None:
        """Forget a broken connection so the next request opens a fresh one."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = None

    close = discard

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Turn a lost connection into DatabaseUnavailable and drop the connection."""
        try:
            yield
        except psycopg.Error as exc:
            lost = isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError))  # noqa: UP038 (3.8)
            if lost or (self._conn is not None and (self._conn.broken or self._conn.closed)):
                self.discard()
                raise DatabaseUnavailable(first_line(exc)) from exc
            raise

    def transaction(self) -> psycopg.Transaction:
        return self.conn.transaction()

    @contextmanager
    def removal(self) -> Iterator[Removal]:
        """A transaction in pipeline mode: BEGIN and all of :meth:`delete_version` cost one
        round trip, COMMIT one more; a removal is as cheap as the deletes themselves.

        BEGIN and COMMIT are plain statements so that the work the caller sets
        as ``while_committing`` runs after COMMIT is sent and before its
        outcome is awaited (the server writes its WAL meanwhile).  Leaving the
        block by an exception rolls back; a connection that cannot roll back
        is closed (the server then aborts the transaction).
        """
        conn, state = self.conn, Removal()
        with conn.pipeline() as pipeline:
            self._pipeline = pipeline
            try:
                conn.execute("BEGIN")
                try:
                    yield state
                except BaseException:
                    self._roll_back()
                    raise
                conn.execute("COMMIT")
                if state.while_committing is not None:
                    state.while_committing()
                pipeline.sync()
            finally:
                self._pipeline = None

    def _roll_back(self) -> None:
        """psycopg's own rollback: it leaves an aborted pipeline and forgets the statements it
        prepared in the transaction, as leaving a psycopg Transaction by an exception does."""
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            return
        try:
            conn.rollback()
        except psycopg.Error as exc:
            log.warning("rollback failed (%s); dropping the connection", first_line(exc))
            self.discard()

    def _one(self, query: str, params: Sequence = ()) -> tuple | None:
        return self.conn.execute(query, params).fetchone()

    def _all(self, query: str, params: Sequence = ()) -> list[tuple]:
        return self.conn.execute(query, params).fetchall()

    # -- reads --------------------------------------------------------------

    def package_skip(self, package: str) -> str:
        row = self._one("SELECT skip FROM packages WHERE package = %s", (package,))
        if row is None:
            raise NotFound(f"unknown package {package}")
        return row[0]

    def package_status(self, package: str) -> tuple[str, list[str]]:
        """(skip, versions) of a package, in one round trip."""
        row = self._prepared(PACKAGE_STATUS, (package,))
        if row is None:
            raise NotFound(f"unknown package {package}")
        return row[0], row[1]

    def version_status(self, package: str, version: str) -> tuple[str, bool, int, list[str], list[str], int]:
        """(skip, yanked, builds, sorted file names, the archived ones, downloads) of a version, in one round trip."""
        row = self._prepared(VERSION_STATUS, {"package": package, "version": version})
        if row is None:
            raise NotFound(f"unknown package {package}")
        if not row[0]:
            raise NotFound(f"unknown package version {package} {version}")
        return row[1], row[2], row[3], row[4], row[5], row[6]

    def _prepared(self, query: str, params: Sequence | dict) -> tuple | None:
        """One row of a query the server keeps planned (STATUS is asked before every removal)."""
        return self.conn.execute(query, params, prepare=True).fetchone()

    def version_files(self, package: str, version: str) -> list[str]:
        rows = self._all(
            "SELECT f.filename FROM builds b JOIN files f ON f.build_id = b.build_id "
            "WHERE b.package = %s AND b.version = %s ORDER BY f.filename",
            (package, version),
        )
        return [r[0] for r in rows]

    # -- writes -------------------------------------------------------------

    def delete_version(self, package: str, version: str, skip: bool | str, default_reason: str,
                       overlap: Callable[[], None] | None = None) -> Deleted:
        """Inside :meth:`removal`: lock the version, collect its files, delete, mark skipped.

        Two statements, pipelined into one round trip with BEGIN.  The first
        locks the version row, so no build can be added to it until COMMIT
        (an INSERT into builds needs a KEY SHARE lock on that row).  The
        second, run after the lock is held, reads the package's files and
        deletes the version's download rows and builds (files and
        dependencies cascade) and sets the skip reason: every part of one
        statement sees the same snapshot, taken before any of its deletes, so
        the wheels to unlink are collected before their rows go.  Every
        part uses an index: versions_pk, builds_pkgver, files_builds,
        downloads_files.

        ``overlap`` runs after the statements are sent and before their
        results are awaited (in :meth:`removal`'s pipeline the server works
        on them meanwhile): the removal writes its journal there.
        """
        conn, key = self.conn, (package, version)
        update = skip is True or (isinstance(skip, str) and bool(skip))
        replace = isinstance(skip, str) and bool(skip)
        reason = skip if replace else default_reason
        lock = conn.execute("SELECT skip FROM versions WHERE package = %s AND version = %s FOR UPDATE", key)
        work = conn.execute(DELETE_VERSION, {"package": package, "version": version, "update": update,
                                             "replace": replace, "reason": reason})
        if overlap is not None:
            overlap()
        if self._pipeline is not None:
            self._pipeline.sync()
        row = lock.fetchone()
        if row is None:
            self.package_skip(package)  # raises "unknown package" when that is the reason
            raise NotFound(f"unknown package version {package} {version}")
        rows = work.fetchall()
        downloads, builds, skipped = rows[0][:3]
        files = [PageFile(*r[3:9]) for r in rows if r[3] is not None]
        return Deleted(
            previous_skip=row[0],
            skip_changed=skipped > 0,
            builds=builds,
            downloads=downloads,
            files=[f.filename for f in files if f.version == version],
            archived=[f.filename for f in files if f.version == version and f.location != LOCAL],
            remaining=[f for f in files if f.version != version],
        )

    def settle(self, package: str, version: str, wait: float) -> bool:
        """Whether the version has no file rows, once no transaction holds its row lock any more.

        Recovery's question "did the journalled removal commit?": a removal
        holds the version's row lock until it ends and deletes every file row
        of the version, so after waiting for the lock, no file rows left means
        it committed.  (The one case this cannot tell apart is a rebuild that
        re-created files for the version in between; then the staged wheels
        are moved back, which keeps the tree consistent with the database.)
        """
        with self.transaction():
            self.conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(wait * 1000)}ms",))
            self.conn.execute("SELECT 1 FROM versions WHERE package = %s AND version = %s FOR UPDATE",
                              (package, version))
            return not self.version_files(package, version)

    def set_package_skip(self, package: str, reason: str) -> tuple[str, bool]:
        """Set the package's skip reason; return (previous reason, whether it changed)."""
        with self.transaction():
            row = self._one("SELECT skip FROM packages WHERE package = %s FOR UPDATE", (package,))
            if row is None:
                raise NotFound(f"unknown package {package}")
            if row[0] == reason:
                return row[0], False
            self.conn.execute("UPDATE packages SET skip = %s WHERE package = %s", (reason, package))
            return row[0], True


#: STATUS of a package: its skip reason and its versions (unsorted: Python sorts them naturally)
PACKAGE_STATUS = ("SELECT p.skip, ARRAY(SELECT v.version FROM versions v WHERE v.package = p.package) "
                  "FROM packages p WHERE p.package = %s")

#: STATUS of a version: no row for an unknown package, a row whose first column is false for an unknown version
VERSION_STATUS = """
WITH f AS (
    SELECT f.filename, f.location FROM builds b JOIN files f ON f.build_id = b.build_id
    WHERE b.package = %(package)s AND b.version = %(version)s
)
SELECT v.version IS NOT NULL, v.skip, v.yanked,
       (SELECT count(*) FROM builds b WHERE b.package = %(package)s AND b.version = %(version)s),
       ARRAY(SELECT filename FROM f ORDER BY filename),
       ARRAY(SELECT filename FROM f WHERE location <> '/simple' ORDER BY filename),
       (SELECT count(*) FROM downloads d WHERE d.filename IN (SELECT filename FROM f))
FROM packages p LEFT JOIN versions v ON v.package = p.package AND v.version = %(version)s
WHERE p.package = %(package)s
"""

#: The version's deletes as one statement (see Database.delete_version); always at least one row:
#: (downloads deleted, builds deleted, skip rows updated, then one file of the package per row, as the
#: fields of a PageFile, or NULLs).
DELETE_VERSION = """
WITH pkg AS (
    SELECT f.filename, rtrim(f.filehash) AS filehash, f.requires_python, v.yanked, b.version, f.location
    FROM builds b JOIN files f ON f.build_id = b.build_id
    JOIN versions v ON v.package = b.package AND v.version = b.version
    WHERE b.package = %(package)s
), dl AS (
    DELETE FROM downloads WHERE filename IN (SELECT filename FROM pkg WHERE version = %(version)s) RETURNING 1
), bl AS (
    DELETE FROM builds WHERE package = %(package)s AND version = %(version)s RETURNING 1
), sk AS (
    UPDATE versions SET skip = %(reason)s
    WHERE package = %(package)s AND version = %(version)s AND %(update)s
      AND skip <> %(reason)s AND (%(replace)s OR skip = '')
    RETURNING 1
)
SELECT (SELECT count(*) FROM dl), (SELECT count(*) FROM bl), (SELECT count(*) FROM sk),
       pkg.filename, pkg.filehash, pkg.requires_python, pkg.yanked, pkg.version, pkg.location
FROM (SELECT 1) AS one LEFT JOIN pkg ON true
ORDER BY pkg.filename
"""


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (psycopg's messages run on with hints and context)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
