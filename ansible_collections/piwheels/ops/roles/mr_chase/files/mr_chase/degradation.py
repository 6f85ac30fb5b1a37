"""Why Mr Chase answers but cannot serve changes, found and cleared: what PONG's ``degraded`` says.

A live process is not a working service (health.py).  Four causes make it
degraded, each the ``reason`` label of the metrics: the database role is
refused (a grant missing, a superuser); the database does not answer; the
outbox is undeliverable (notifier.UNDELIVERABLE_AFTER_TIMEOUTS); a change's
outcome cannot be settled.  A request, a settling attempt or the idle checks
find each cause; each clears by itself once a later check passes, and each
is logged once when it arises and once when it clears, never per request.
"""

from __future__ import annotations

import logging
import time

import psycopg

from .database import Database, DatabaseStalled, DatabaseUnavailable, Locked, first_line
from .health import Health
from .notifier import MasterNotifier
from .privileges import MissingPrivileges, RoleRefused
from .protocol import error

log = logging.getLogger(__name__)

#: the causes of PONG's degraded reasons
ROLE, DATABASE, OUTBOX, JOURNAL = "database role", "database", "outbox", "journal"
#: seconds between checks, while idle, that the database still answers (a ``SELECT 1``; never on PING)
DATABASE_CHECK_INTERVAL = 10.0


class Degradation:
    def __init__(self, db: Database, health: Health, notifier: MasterNotifier, retry_interval: float):
        """``retry_interval``: how often the service retries while idle (a refused role, a pending journal,
        a database that is down), which the messages tell the operator."""
        self.db, self.health, self.notifier = db, health, notifier
        self.retry_interval = retry_interval
        self._next_database_check = time.monotonic() + DATABASE_CHECK_INTERVAL

    # -- the database ---------------------------------------------------------

    def unavailable(self, exc: DatabaseUnavailable) -> bytes:
        """The ERROR of a request the database could not serve."""
        log.error("database unavailable: %s", exc)
        self.database_lost(exc)
        return error(f"database unavailable: {exc}")

    def database_lost(self, exc: DatabaseUnavailable) -> None:
        """PONG says degraded from the first request or idle check that finds the database unreachable."""
        if self.health.degrade(DATABASE, f"database unavailable: {exc}"):
            log.error("changes cannot be served until the database answers again (checked every %g s while "
                      "idle)", self.retry_interval)

    def database_answers(self) -> None:
        if self.health.recover(DATABASE):
            log.info("the database answers again: serving changes")

    def connection_works(self) -> None:
        """A request or a settling attempt used the connection: the role passed the check on connecting,
        and the database answers."""
        if self.db.connected:
            self.role_accepted()
            self.database_answers()

    # -- the database role ----------------------------------------------------

    def role_refused(self, exc: RoleRefused) -> bytes:
        """ERROR with what fixes it; PONG says the service is degraded until a check passes again (the idle
        checks retry every ``retry_interval``).  Logged in full once, then at debug."""
        if self.health.degrade(ROLE, f"{exc}; {exc.fix}"):
            detail = "\n".join(exc.statements) if isinstance(exc, MissingPrivileges) else exc.fix
            log.error("%s; changes cannot be served until this is fixed (checked again every %g s):\n%s",
                      exc, self.retry_interval, detail)
        else:
            log.debug("%s", exc)
        return error(f"database error: {exc}; {exc.fix}")

    def role_accepted(self) -> None:
        if self.health.recover(ROLE):
            log.info("the database role passes the privilege check again: serving changes")

    def privilege_lost(self, exc: psycopg.Error) -> bytes:
        """A statement was refused: a grant was revoked after the connection was checked.  Check again on a
        fresh connection, so the reply names the GRANT that is missing (else the refusal as it is)."""
        self.db.discard()
        try:
            self._check_role()
        except RoleRefused as refused:
            return self.role_refused(refused)
        log.error("database error: %s", self.db.masked(str(exc)))
        return error(f"database error: {self.db.masked(first_line(exc))}")

    def _check_role(self) -> None:
        """Connect (a no-op when connected), which checks the role; raises only RoleRefused."""
        try:
            with self.db.guard():
                self.db.connect()
        except (DatabaseUnavailable, Locked, psycopg.Error) as exc:
            log.debug("the database role cannot be checked now: %s", exc)

    # -- a change's outcome ---------------------------------------------------

    def unsettled_change(self, why: str) -> None:
        self.health.degrade(JOURNAL, f"a change's outcome is not settled ({why}); it is settled as soon as it "
                                     f"can be (tried every {self.retry_interval:g} s) and nothing else is changed "
                                     "until then")

    def change_settled(self) -> None:
        if self.health.recover(JOURNAL):
            log.info("the pending change is settled")

    # -- while idle -----------------------------------------------------------

    def check_database_while_idle(self) -> None:
        """While the role is refused, check it again; else see that the database answers (at every call
        while it does not, else every DATABASE_CHECK_INTERVAL)."""
        if self.health.degraded_by(ROLE):
            self._recheck_role()
        elif self.health.degraded_by(DATABASE) or time.monotonic() >= self._next_database_check:
            self._check_database()

    def check_outbox(self) -> None:
        """PONG says degraded while piw-master has not taken the outbox's oldest notice for too long."""
        why = self.notifier.undeliverable()
        if why is None:
            if self.health.recover(OUTBOX):
                log.info("piw-master takes the notices again")
        elif self.health.degrade(OUTBOX, why):
            log.error("%s", why)

    def _check_database(self) -> None:
        """Whether the database answers a ``SELECT 1`` (a connection the server dropped is replaced once)."""
        self._next_database_check = time.monotonic() + DATABASE_CHECK_INTERVAL
        had_connection = self.db.connected
        try:
            try:
                with self.db.guard():
                    self.db.ping()
            except DatabaseUnavailable as exc:
                if not had_connection or isinstance(exc, DatabaseStalled):
                    raise
                with self.db.guard():
                    self.db.ping()
        except DatabaseUnavailable as exc:
            self.database_lost(exc)
        except RoleRefused as exc:
            self.role_refused(exc)
            self.database_answers()
        except (Locked, psycopg.Error) as exc:
            log.debug("the database check failed: %s", exc)
        else:
            self.database_answers()

    def _recheck_role(self) -> None:
        """Connect again (which checks the role) and say in PONG whether it passes now."""
        try:
            self._check_role()
        except RoleRefused as exc:
            self.role_refused(exc)
            return
        if self.db.connected:
            self.role_accepted()
