"""What recovery asks the database of a change a crash left in the journal (journal.py's recovery).

Did it commit?  Best from its transaction id (pg_xact_status), which no
later import can fake; when the server no longer knows it (or the journal
predates it), from the build ids the version had (a rebuild gets new ones);
for a journal of 0.3 and before, from whether the rows are gone.  And what
is committed now, to write a page from.

A transaction that is still running is the journal's own, whose client died
before the server noticed: every question first waits (up to ``wait``) for
the row lock the change held, so it is answered only once that transaction
has ended, and fails with Locked if it has not.
"""

from __future__ import annotations

import logging

import psycopg

from .database import PACKAGE_FILES, Database, Locked, first_line
from .page import PageFile

log = logging.getLogger(__name__)

#: the version's file names: none left, after its lock, means a removal of it committed
VERSION_FILES = """
SELECT f.filename FROM builds b JOIN files f ON f.build_id = b.build_id
WHERE b.package = %s AND b.version = %s
"""


class RecoveryEvidence:
    """Recovery's questions, on the service's connection (the caller holds its guard)."""

    def __init__(self, db: Database):
        self._db = db

    def transaction_committed(self, xid: str, lock: tuple[str, str | None], wait: float) -> bool | None:
        """Whether transaction ``xid`` committed (True) or aborted (False); None when the server no
        longer knows (too old: its commit log was truncated) or never knew (another cluster).

        A transaction still in progress: wait for the row lock it holds (``lock``: package, version or
        None for the package row), then ask again.
        """
        status = self._xact_status(xid)
        if status == "in progress":
            with self._db.transaction():
                package, version = lock
                if version is None:
                    self._lock_package(package, wait)
                else:
                    self._lock_version(package, version, wait)
            status = self._xact_status(xid)
            if status == "in progress":
                raise Locked(f"transaction {xid} of the pending change is still running")
        return {"committed": True, "aborted": False}.get(status)

    def builds_gone(self, package: str, version: str, build_ids: list[int], wait: float) -> bool:
        """Whether none of the version's recorded builds is left: the evidence for a transaction too old to
        be known (a rebuild of the version has new build ids)."""
        with self._db.transaction():
            self._lock_version(package, version, wait)
            return self._db.conn.execute("SELECT 1 FROM builds WHERE build_id = ANY(%s) LIMIT 1",
                                         (build_ids,)).fetchone() is None

    def version_files_gone(self, package: str, version: str, wait: float) -> bool:
        """Whether the version has no file rows: a removal holds the version's row lock until it ends and
        deletes every file row of the version.  A rebuild that re-created files in between fakes "aborted":
        this is only the evidence of a journal of 0.3 and before, which recorded nothing better."""
        with self._db.transaction():
            self._lock_version(package, version, wait)
            return self._db.conn.execute(VERSION_FILES, (package, version)).fetchone() is None

    def package_gone(self, package: str, wait: float) -> bool:
        """Whether the package row is gone: "did the journalled DELETE commit?" (an aborted one left the row
        as it was)."""
        with self._db.transaction():
            return self._lock_package(package, wait) is None

    def package_files(self, package: str, version: str, wait: float) -> list[PageFile]:
        """The package's files as committed (recovery of a page rewrite: whatever the outcome of the change,
        the page is written from what is committed)."""
        with self._db.transaction():
            self._lock_version(package, version, wait)
            return [PageFile(*row) for row in self._db.conn.execute(PACKAGE_FILES, (package,)).fetchall()]

    def _xact_status(self, xid: str) -> str | None:
        try:
            return self._db.conn.execute("SELECT pg_xact_status(%s::xid8)", (xid,)).fetchone()[0]
        except (psycopg.errors.InvalidParameterValue, psycopg.errors.DataException) as exc:
            log.warning("the database cannot say whether transaction %s committed (%s)", xid, first_line(exc))
            return None

    def _lock_package(self, package: str, wait: float) -> tuple | None:
        """Wait (up to ``wait``) until no other transaction holds the package's row lock, then hold it; None
        when there is no such package."""
        self._lock_timeout(wait)
        return self._db.conn.execute("SELECT 1 FROM packages WHERE package = %s FOR UPDATE", (package,)).fetchone()

    def _lock_version(self, package: str, version: str, wait: float) -> None:
        """Wait (up to ``wait``) until no other transaction holds the version's row lock, then hold it."""
        self._lock_timeout(wait)
        self._db.conn.execute("SELECT 1 FROM versions WHERE package = %s AND version = %s FOR UPDATE",
                              (package, version))

    def _lock_timeout(self, wait: float) -> None:
        """Recovery's own lock timeout, for the rest of its transaction."""
        self._db.conn.execute("SELECT set_config('lock_timeout', %s, true)", (f"{int(wait * 1000)}ms",))


__all__ = ["RecoveryEvidence"]
