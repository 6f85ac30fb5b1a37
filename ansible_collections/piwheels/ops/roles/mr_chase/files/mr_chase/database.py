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
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import NamedTuple

import psycopg

from . import privileges
from .page import LOCAL, PageFile
from .stall import StallWatch

log = logging.getLogger(__name__)


class DatabaseUnavailable(Exception):
    """PostgreSQL cannot be reached or the connection broke; reply ``database unavailable: ...``."""


class DatabaseStalled(DatabaseUnavailable):
    """The server took the connection but stopped answering; retrying at once would stall again."""


class Locked(Exception):
    """Another transaction holds a row the request needs for longer than lock_timeout."""


class NotFound(Exception):
    """The request names a package or version the database does not have."""


@dataclass
class Deleted:
    """What :meth:`Database.delete_version` did, and what the package's page must now list."""

    previous_skip: str
    skip_changed: bool
    #: the version row itself went too (FORGET)
    forgotten: bool
    builds: int
    downloads: int
    #: every file of the version, and those of them that live on an archive server, not on this host
    files: list[str]
    archived: list[str]
    remaining: list[PageFile]
    #: [location, filename] of each archived file, for the archive hosts' pending list
    archived_files: list[list[str]] = field(default_factory=list)
    #: the evidence recovery asks about: the transaction's id and the version's build ids (journal.py)
    xid: str = ""
    build_ids: list[int] = field(default_factory=list)

    @property
    def local(self) -> list[str]:
        archived = set(self.archived)
        return [name for name in self.files if name not in archived]


@dataclass
class DeletedPackage:
    """What :meth:`Database.delete_package` did, and the packages the root index must now list."""

    versions: list[str]
    builds: int
    files: int
    archived: int
    downloads: int
    #: the package's other names (package_names), each possibly a symlink under project/
    aliases: list[str]
    remaining: list[str]
    #: the transaction's id, the evidence recovery asks about (journal.py)
    xid: str = ""
    #: [location, filename] of each archived file, for the archive hosts' pending list
    archived_files: list[list[str]] = field(default_factory=list)


class Removal:
    """The open transaction of :meth:`Database.removal`: ``while_committing`` (set inside it)
    runs once COMMIT is sent, before its outcome is awaited."""

    def __init__(self) -> None:
        self.while_committing: Callable[[], None] | None = None


class Guard:
    """What :meth:`Database.guard` returns: a class, not a generator, as it wraps every request's queries."""

    def __init__(self, stall: StallWatch, explain: Callable[[psycopg.Error], Exception]):
        self._stall, self._explain = stall, explain

    def __enter__(self) -> None:
        self._stall.__enter__()

    def __exit__(self, exc_type: type | None, exc: BaseException | None, traceback: object) -> None:
        self._stall.__exit__(exc_type, exc, traceback)
        if isinstance(exc, psycopg.Error):
            explained = self._explain(exc)
            if explained is not exc:
                raise explained from exc


class Database:
    """A lazily (re)connected psycopg connection and the queries Mr Chase needs."""

    def __init__(self, dsn: str, connect_timeout: int = 5, allow_superuser: bool = False):
        self._dsn = dsn
        self._allow_superuser = allow_superuser
        #: what the role holds beyond the documented grants, as found at the last connect (PONG's warnings)
        self.warnings: list[str] = []
        self._connect_timeout = connect_timeout
        self._conn: psycopg.Connection | None = None
        self._pipeline: psycopg.Pipeline | None = None
        #: STATUS's cursor, kept with its connection: a cursor per query (conn.execute) costs more
        #: than the rest of the client's side of the query
        self._cursor: psycopg.Cursor | None = None
        self._stall = StallWatch(STALL_LIMIT_S, self._socket_fd)
        self._guard = Guard(self._stall, self._explain)
        self._secrets = _secrets_of(dsn)

    # -- connection ---------------------------------------------------------

    @property
    def conn(self) -> psycopg.Connection:
        if self._conn is not None and (self._conn.closed or self._conn.broken):
            self.discard()
        if self._conn is None:
            self.connect()
        return self._conn

    def connect(self) -> None:
        """Open the connection and check the role's privileges (RoleRefused: some lacking, or a superuser)."""
        if self._conn is None:
            try:
                self._conn = psycopg.connect(self._dsn, autocommit=True, connect_timeout=self._connect_timeout,
                                             **KEEPALIVES)
            except psycopg.OperationalError as exc:
                raise DatabaseUnavailable(self.masked(first_line(exc))) from exc
            try:
                self.warnings = privileges.check(self._conn, self._allow_superuser)  # before any statement
            except privileges.RoleRefused:
                self.discard()
                raise
            # a removal waiting on a lock held elsewhere, or a statement on a stalled server, fails
            # instead of hanging the queue
            self._conn.execute(f"SET lock_timeout = '{LOCK_TIMEOUT_S}s'")
            self._conn.execute(f"SET statement_timeout = '{STATEMENT_TIMEOUT_S}s'")
            log.info("connected to the database")

    def ping(self) -> None:
        """One ``SELECT 1`` (connecting first if need be): the idle check that the database answers."""
        self.conn.execute("SELECT 1")

    @property
    def connected(self) -> bool:
        """Whether a connection is open (it may still turn out broken when next used)."""
        return self._conn is not None

    def discard(self) -> None:
        """Forget a broken connection so the next request opens a fresh one."""
        if self._conn is not None:
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
            self._conn = self._cursor = None

    close = discard

    def masked(self, text: str) -> str:
        """``text`` without the DSN's password (a malformed DSN is quoted back by libpq, in pieces)."""
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text

    def _socket_fd(self) -> int | None:
        conn = self._conn
        return None if conn is None or conn.closed else conn.pgconn.socket

    def guard(self) -> Guard:
        """Bound the calls inside in time (StallWatch) and turn a psycopg error into what it means."""
        return self._guard

    def _explain(self, exc: psycopg.Error) -> Exception:
        """Locked for a lock timeout; DatabaseUnavailable (DatabaseStalled) for a lost, cancelled or cut
        connection, which is dropped so the next request connects afresh; anything else as it is."""
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return Locked(f"locked by another transaction for over {LOCK_TIMEOUT_S} s ({self.lock_holder()}); "
                          "try again when it has finished")
        conn = self._conn
        alive = conn is not None and not (conn.broken or conn.closed)
        if isinstance(exc, psycopg.errors.QueryCanceled) and alive:
            return DatabaseUnavailable(f"a statement took over {STATEMENT_TIMEOUT_S} s and was cancelled "
                                       "(is the database server stalled?)")
        if isinstance(exc, (psycopg.OperationalError, psycopg.InterfaceError)) or not alive:  # noqa: UP038 (3.8)
            self.discard()
            if self._stall.fired:
                return DatabaseStalled(f"the database did not answer within {STALL_LIMIT_S} s (is the server "
                                       "stalled?); the connection was dropped")
            return DatabaseUnavailable(self.masked(first_line(exc)))
        return exc

    def lock_holder(self) -> str:
        """Who holds row locks on versions (pg_locks is readable by every role; the queries of other
        roles' sessions are not, so the backend pid and user are what can be named)."""
        try:
            rows = self.conn.execute(VERSION_LOCK_HOLDERS).fetchall()
        except psycopg.Error:
            return "its holder could not be looked up"
        if not rows:
            return "it has finished since"
        return "held by " + ", ".join(f"backend pid {pid} (user {user})" for pid, user in rows)

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

    def _await(self, overlap: Callable[[], None] | None) -> None:
        """Run ``overlap`` while the statements sent so far run on the server, then wait for their results
        (in :meth:`removal`'s pipeline; outside one the statements have already run)."""
        if overlap is not None:
            overlap()
        if self._pipeline is not None:
            self._pipeline.sync()

    def sync(self) -> None:
        """Wait for the results of the statements sent so far in :meth:`removal`'s pipeline (site_rows.py's
        delete_builds reads their row counts)."""
        self._await(None)

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

    def package_status(self, package: str) -> PackageStatus:
        """Everything STATUS reports of a package, in one round trip."""
        row = self._prepared(PACKAGE_STATUS, {"package": package})
        if row is None:
            raise NotFound(f"unknown package {package}")
        return PackageStatus(*row)

    def versions_of(self, package: str) -> list[str] | None:
        """The package's versions (unsorted), or None when there is no such package (MATCH)."""
        row = self._one("SELECT ARRAY(SELECT version FROM versions v WHERE v.package = p.package) "
                        "FROM packages p WHERE p.package = %s", (package,))
        return None if row is None else row[0]

    def names_near(self, package: str, spread: int) -> list[str]:
        """The package names at most ``spread`` characters longer or shorter than ``package`` (MATCH)."""
        rows = self._all("SELECT package FROM packages WHERE length(package) BETWEEN %s AND %s",
                         (len(package) - spread, len(package) + spread))
        return [row[0] for row in rows]

    def version_status(self, package: str, version: str) -> tuple[str, bool, int, list[str], list[str], int,
                                                                  dict[str, str] | None]:
        """(skip, yanked, builds, sorted file names, the archived ones, downloads, {archived file: location} or
        None) of a version, in one round trip."""
        row = self._prepared(VERSION_STATUS, {"package": package, "version": version})
        if row is None:
            raise NotFound(f"unknown package {package}")
        if not row[0]:
            raise NotFound(f"unknown package version {package} {version}")
        return row[1], row[2], row[3], row[4], row[5], row[6], row[7]

    def _prepared(self, query: str, params: Sequence | dict) -> tuple | None:
        """One row of a query the server keeps planned (STATUS is asked before every removal)."""
        conn = self.conn  # a new connection comes after discard(), which forgets the old cursor
        if self._cursor is None:
            self._cursor = conn.cursor()
        return self._cursor.execute(query, params, prepare=True).fetchone()

    # -- writes -------------------------------------------------------------

    def delete_version(self, package: str, version: str, skip: bool | str, default_reason: str,
                       overlap: Callable[[], None] | None = None, forget: bool = False) -> Deleted:
        """Inside :meth:`removal`: lock the version, collect its files, delete, mark skipped.

        Plain statements, pipelined into one round trip with BEGIN.  The first
        locks the version row, so no build can be added to it until COMMIT
        (an INSERT into builds needs a KEY SHARE lock on that row).  The
        rest run in order after the lock is held: read the package's files
        (so the wheels to unlink are collected before their rows go), delete
        the version's download rows, then its builds (files and dependencies
        cascade), then set the skip reason (or, for FORGET, delete the version
        row).  Every statement uses an index: versions_pk, builds_pkgver,
        files_builds, downloads_files.  (They used to be one statement of
        data-modifying CTEs: no round trip fewer in a pipeline, and about
        0.5 ms slower on the server than these, see benchmarks/bench_remove.py.)

        ``overlap`` runs after the statements are sent and before their
        results are awaited (in :meth:`removal`'s pipeline the server works
        on them meanwhile): the removal writes its journal there.  The first
        statement, the lock, also reads the evidence recovery asks about
        (``xid``, ``build_ids``; as a statement of its own it cost one more
        statement to send, run and parse), which the removal adds to its
        journal before the first file moves.  With ``forget`` the version row is deleted too, in
        the same pipeline (FORGET).
        """
        conn, key = self.conn, (package, version)
        update = skip is True or (isinstance(skip, str) and bool(skip))
        replace = isinstance(skip, str) and bool(skip)
        reason = skip if replace else default_reason
        lock = conn.execute(LOCK_VERSION, key, prepare=True)  # planned once per connection
        files = conn.execute(VERSION_PACKAGE_FILES, (package,))
        downloads = conn.execute(DELETE_DOWNLOADS, key)
        builds = conn.execute("DELETE FROM builds WHERE package = %s AND version = %s", key)
        skipped = forgotten = None
        if forget:
            forgotten = conn.execute("DELETE FROM versions WHERE package = %s AND version = %s", key)
        elif update:
            skipped = conn.execute(SET_VERSION_SKIP, {"package": package, "version": version, "reason": reason,
                                                      "replace": replace})
        self._await(overlap)
        row = lock.fetchone()
        if row is None:
            self.package_skip(package)  # raises "unknown package" when that is the reason
            raise NotFound(f"unknown package version {package} {version}")
        previous_skip, xid, build_ids = row
        package_files = [PageFile(*r) for r in files.fetchall()]
        return Deleted(
            previous_skip=previous_skip,
            skip_changed=skipped is not None and skipped.rowcount > 0,
            forgotten=forgotten is not None and forgotten.rowcount > 0,
            builds=builds.rowcount,
            downloads=downloads.rowcount,
            files=[f.filename for f in package_files if f.version == version],
            archived=[f.filename for f in package_files if f.version == version and f.location != LOCAL],
            remaining=[f for f in package_files if f.version != version],
            archived_files=[[f.location, f.filename] for f in package_files
                            if f.version == version and f.location != LOCAL],
            xid=xid,
            build_ids=build_ids,
        )

    def delete_package(self, package: str, overlap: Callable[[], None] | None = None) -> DeletedPackage:
        """Inside :meth:`removal`: lock the package, delete its downloads and the package row (versions,
        aliases, builds, files and dependencies cascade), and read the names the root index keeps.

        Three statements in one round trip with BEGIN, ``overlap`` (the journal) running meanwhile.
        The package row's lock keeps piw-master from adding a version until COMMIT (its INSERT needs
        a KEY SHARE lock on that row, and then finds the package gone).
        """
        conn = self.conn
        evidence = conn.execute(PACKAGE_EVIDENCE, prepare=True)
        lock = conn.execute("SELECT 1 FROM packages WHERE package = %s FOR UPDATE", (package,))
        work = conn.execute(DELETE_PACKAGE, {"package": package})
        rest = conn.execute(ROOT_INDEX_PACKAGES)
        self._await(overlap)
        if lock.fetchone() is None:
            raise NotFound(f"unknown package {package}")
        downloads, builds, files, archived, versions, aliases, _gone = work.fetchone()
        return DeletedPackage(versions, builds, files, len(archived), downloads, aliases,
                              [row[0] for row in rest.fetchall()], evidence.fetchone()[0], archived)

    def set_yanked(self, package: str, version: str, yanked: bool,
                   overlap: Callable[[], None] | None = None) -> tuple[bool, list[PageFile]]:
        """Inside :meth:`removal`: set the version's yanked flag; return whether it changed and the
        package's files as the page must now list them (read after the UPDATE, in the same round trip)."""
        conn, key = self.conn, (package, version)
        lock = conn.execute("SELECT 1 FROM versions WHERE package = %s AND version = %s FOR UPDATE", key)
        update = conn.execute("UPDATE versions SET yanked = %s WHERE package = %s AND version = %s "
                              "AND yanked <> %s RETURNING 1", (yanked, package, version, yanked))
        files = conn.execute(PACKAGE_FILES, (package,))
        self._await(overlap)
        if lock.fetchone() is None:
            self.package_skip(package)  # raises "unknown package" when that is the reason
            raise NotFound(f"unknown package version {package} {version}")
        return bool(update.fetchall()), [PageFile(*row) for row in files.fetchall()]

    def clear_version_skip(self, package: str, version: str) -> str:
        """UNSKIP a version; return the reason it had ('' when it was not skipped)."""
        with self.transaction():
            row = self._one("SELECT skip FROM versions WHERE package = %s AND version = %s FOR UPDATE",
                            (package, version))
            if row is None:
                self.package_skip(package)
                raise NotFound(f"unknown package version {package} {version}")
            if row[0]:
                self.conn.execute("UPDATE versions SET skip = '' WHERE package = %s AND version = %s",
                                  (package, version))
            return row[0]

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


LOCK_TIMEOUT_S = 10
STATEMENT_TIMEOUT_S = 20
#: the client's own limit on one guarded call, for a server too stalled to enforce statement_timeout
STALL_LIMIT_S = 25
#: a TCP connection to a server that stopped answering is given up within about 20 s (no effect on unix sockets)
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 3, "keepalives_count": 3,
              "tcp_user_timeout": 20000}
#: each backend once, though one that locked a version row and changed another holds two locks on the table
VERSION_LOCK_HOLDERS = """
SELECT DISTINCT l.pid, a.usename FROM pg_locks l LEFT JOIN pg_stat_activity a USING (pid)
WHERE l.relation = 'versions'::regclass AND l.granted AND l.pid <> pg_backend_pid()
  AND l.mode IN ('RowShareLock', 'RowExclusiveLock')
ORDER BY l.pid LIMIT 3
"""

#: every file of a package, as its page lists them (the fields of a PageFile)
PACKAGE_FILES = """
SELECT f.filename, rtrim(f.filehash), f.requires_python, v.yanked, b.version, f.location
FROM builds b JOIN files f ON f.build_id = b.build_id
JOIN versions v ON v.package = b.package AND v.version = b.version
WHERE b.package = %s
"""


class PackageStatus(NamedTuple):
    """A row of PACKAGE_STATUS (version lists unsorted: Python sorts them by PEP 440)."""

    skip: str
    versions: list[str]
    yanked: list[str]
    builds: int
    file_count: int
    archived_count: int
    downloads: int
    aliases: list[str]
    #: filename -> files.location of each archived file (null from the query when there is none)
    archive_locations: dict[str, str] | None


#: STATUS of a package: what a whole-package deletion would take (see PackageStatus)
PACKAGE_STATUS = """
WITH f AS (
    SELECT f.filename, f.location FROM builds b JOIN files f ON f.build_id = b.build_id
    WHERE b.package = %(package)s
)
SELECT p.skip,
       ARRAY(SELECT v.version FROM versions v WHERE v.package = p.package),
       ARRAY(SELECT v.version FROM versions v WHERE v.package = p.package AND v.yanked),
       (SELECT count(*) FROM builds b WHERE b.package = p.package),
       (SELECT count(*) FROM f), (SELECT count(*) FROM f WHERE f.location <> '/simple'),
       (SELECT count(*) FROM downloads d WHERE d.filename IN (SELECT filename FROM f)),
       ARRAY(SELECT n.name FROM package_names n WHERE n.package = p.package AND n.name <> p.package
             ORDER BY n.name),
       (SELECT json_object_agg(f.filename, f.location) FROM f WHERE f.location <> '/simple')
FROM packages p WHERE p.package = %(package)s
"""

#: A whole package's deletes as one statement (see Database.delete_package): one row of
#: (downloads deleted, builds, files, archived files as [location, filename], versions, aliases), read before
#: the deletes.
DELETE_PACKAGE = """
WITH f AS (
    SELECT f.filename, f.location FROM builds b JOIN files f ON f.build_id = b.build_id
    WHERE b.package = %(package)s
), dl AS (
    DELETE FROM downloads WHERE filename IN (SELECT filename FROM f) RETURNING 1
), pk AS (
    DELETE FROM packages WHERE package = %(package)s RETURNING 1
)
SELECT (SELECT count(*) FROM dl), (SELECT count(*) FROM builds WHERE package = %(package)s),
       (SELECT count(*) FROM f),
       ARRAY(SELECT ARRAY[f.location, f.filename]::text[] FROM f WHERE f.location <> '/simple' ORDER BY f.filename),
       ARRAY(SELECT version FROM versions WHERE package = %(package)s),
       ARRAY(SELECT name FROM package_names WHERE package = %(package)s AND name <> %(package)s ORDER BY name),
       (SELECT count(*) FROM pk)
"""

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
       (SELECT count(*) FROM downloads d WHERE d.filename IN (SELECT filename FROM f)),
       (SELECT json_object_agg(f.filename, f.location) FROM f WHERE f.location <> '/simple')
FROM packages p LEFT JOIN versions v ON v.package = p.package AND v.version = %(version)s
WHERE p.package = %(package)s
"""

#: the packages the root index lists, in byte order (COLLATE "C"), as Python sorts: the page is the same
#: whatever the database's collation (DELETE's root index, and catch_up.py's check of it)
ROOT_INDEX_PACKAGES = 'SELECT package FROM packages ORDER BY package COLLATE "C"'
#: a REMOVE's and FORGET's first statement: lock the version row, and read its skip reason and what recovery
#: asks about (the transaction's id, the version's build ids) in the same statement
LOCK_VERSION = """
SELECT v.skip, pg_current_xact_id()::text,
       ARRAY(SELECT b.build_id FROM builds b WHERE b.package = v.package AND b.version = v.version)
FROM versions v WHERE v.package = %s AND v.version = %s FOR UPDATE OF v
"""
#: what recovery asks about a DELETE: its transaction id
PACKAGE_EVIDENCE = "SELECT pg_current_xact_id()::text"

#: every file of a package in filename order, for Database.delete_version
VERSION_PACKAGE_FILES = PACKAGE_FILES + "ORDER BY f.filename\n"

#: the download rows of a version's files (downloads has no foreign key: its rows go by name)
DELETE_DOWNLOADS = """
DELETE FROM downloads WHERE filename IN (
    SELECT f.filename FROM builds b JOIN files f ON f.build_id = b.build_id
    WHERE b.package = %s AND b.version = %s
)
"""

#: a REMOVE's skip reason: ``replace`` sets it whatever it was, otherwise only an empty one is set
SET_VERSION_SKIP = """
UPDATE versions SET skip = %(reason)s
WHERE package = %(package)s AND version = %(version)s AND skip <> %(reason)s AND (%(replace)s OR skip = '')
"""


def _secrets_of(dsn: str) -> list[str]:
    """The DSN's password and its words (longest first), which no message may repeat."""
    try:
        password = psycopg.conninfo.conninfo_to_dict(dsn).get("password") or ""
    except psycopg.Error:  # unparsable: take whatever follows password= or the user: of a URI
        found = re.findall(r"password\s*=\s*(\S+)|://[^:/@]*:([^@]*)@", dsn)
        password = " ".join(part for match in found for part in match if part)
    words = [word for word in password.split() if len(word) >= 3]
    return sorted({password, *words} - {""}, key=len, reverse=True)


def first_line(exc: BaseException) -> str:
    """The first line of an error's text (psycopg's messages run on with hints and context)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0]
