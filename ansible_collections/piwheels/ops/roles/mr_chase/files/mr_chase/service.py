"""The service: what each request gets, and the service's life (look, recover, bind, serve, stop).

Every request gets exactly one reply, whatever it holds, and no request can
stop the service.  The request loop (loop.py) answers PING itself (at once,
even while a request takes long) and hands every other request, one at a
time, to ``handle``; SIGTERM is noticed within a fraction of a second and the
request in hand is finished first.

No exception ends the service's work: a database role that lost a grant (or
turns out to be a superuser) after start-up is answered with ERROR and the
statement that fixes it, reported in PONG's health as ``degraded``, and
checked again every second while idle, so a pending journal is settled as
soon as the grant is back.  At start-up the same refusal stops the service
(exit status 3), and a role holding more than it needs is a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import psycopg
import zmq

from . import __version__
from .audit_job import AuditRefused, Audits, Handoff
from .audit_log import AuditLog
from .checkpoints import checkpoint_from_env
from .config import Config, ConfigError
from .database import Database, DatabaseStalled, DatabaseUnavailable, Locked, NotFound, first_line
from .degradation import Degradation
from .deletion import PackageRemover
from .findings import Finding
from .health import Health
from .journal import Journal
from .ledger import STALE_PAGE, ArchivePending, Ledger, StalePages
from .listener import inode, refuse_if_taken
from .loop import RequestLoop
from .metrics import Metrics
from .notifier import MasterNotifier, rebuild_search, remove_version, rewrite_pages
from .privileges import RoleRefused
from .protocol import (
    MAX_FRAME_BYTES,
    ProtocolError,
    Request,
    canonicalize,
    decode_request,
    encode_reply,
    error,
    invalid,
)
from .recovered import RecoveredChanges
from .removal import Cleanup, OutcomeUnknown, Remover
from .site_repair import SiteRepair
from .site_scan import SiteScan
from .status import Status
from .systemd import Watchdog, notify
from .tree import Tree
from .versions import version_key
from .yanking import Yanker

log = logging.getLogger(__name__)

#: ZeroMQ drops (without a reply) peers that send more than this; between
#: MAX_FRAME_BYTES and this the service answers "invalid message"
HARD_CAP_BYTES = 1 << 20
#: the request answered without decoding or encoding anything (its reply, PONG, is built ahead: health.py)
PING_FRAME = b'["PING"]'
#: requests that change something are logged at info, and so is every request answered ERROR (a STATUS of
#: a name that does not exist, a database that is down); a PING or STATUS answered (the module asks STATUS
#: before every change, the role and monitoring PING) at debug, so the log is not a line per probe
LOG_LEVELS = {kind: logging.INFO for kind in ("REMOVE", "SKIP", "UNSKIP", "YANK", "FORGET", "DELETE", "AUDIT")}
ERROR_REPLY = b'["ERROR",'
#: seconds between checks that the queue's socket file is still the one this service bound
WATCH_INTERVAL = 5.0
#: seconds between attempts to settle a pending journal while idle, and the longest one waits for a row lock
SETTLE_INTERVAL, SETTLE_WAIT = 1.0, 2.0
#: at start-up, well below the role's start timeout (30 s): the socket is bound after this at the latest
START_SETTLE_WAIT = 5.0


def committed_but_stale(stale: list[str], why: str) -> str:
    """The ERROR of a change that committed but could not write a page: it begins with "committed" so a
    client tells it from a change that did not happen (the modules report changed, and warn)."""
    return (f"committed, but {', '.join(stale)} could not be written ({why}); it stays stale until a later "
            "write of it succeeds (STATUS stale_pages)")


class AddressLost(Exception):
    """Another process replaced the queue's socket file: clients can no longer reach this service."""


class Service:
    def __init__(self, config: Config, checkpoint: Callable[[str], None] | None = None):
        self.config = config
        self.db = Database(config.dsn, allow_superuser=config.allow_superuser)
        self.tree = Tree(config.output_path)
        checkpoint = self._checkpoint = checkpoint or checkpoint_from_env()
        #: debts that outlive a change (ledger.py): PING's health counts them with ``ledger.count(kind)``
        self.ledger = Ledger(self.tree)
        #: the pages committed changes could not write (STATUS stale_pages)
        self.stale = StalePages(self.ledger, self.tree)
        #: the archived files of committed changes that archive hosts still serve (STATUS archives, PENDING)
        self.archives = ArchivePending(self.ledger)
        self.audit = AuditLog(config.audit_log)
        self.notifier = MasterNotifier(config.master_queue, self.tree, self.audit, config.master_timeout)
        #: the audit records and notices that changes settled by recovery still owe (recovered.py)
        recovered = RecoveredChanges(self.tree, self.audit, self.notifier)
        self.journal = Journal(self.tree, on_committed=recovered.committed, on_set_aside=recovered.set_aside,
                               stale=self.stale, checkpoint=checkpoint, archives=self.archives,
                               mounts={location: str(root) for location, root in config.archives.items()})
        self.health = Health(__version__, lambda: self.db.warnings, lambda: self.ledger.count(STALE_PAGE),
                             lambda: self.notifier.parked, self.archives.total)
        self.notifier.on_parked = self.health.refresh
        #: finds and clears the reasons PONG says degraded (degradation.py)
        self.degradation = Degradation(self.db, self.health, self.notifier, SETTLE_INTERVAL)
        #: systemd's watchdog, kept alive by the request loop (never by the stand-in that answers PING)
        self.watchdog = Watchdog()
        #: every change of the tree shares the journal and the clean-up slot, so changes never overlap
        self.cleanup = Cleanup(self.journal)
        self.remover = Remover(self.db, self.tree, self.journal, checkpoint, self.cleanup)
        self.package_remover = PackageRemover(self.db, self.tree, self.journal, checkpoint, self.cleanup)
        self.yanker = Yanker(self.db, self.tree, self.journal, checkpoint, self.cleanup)
        self.site_repair = SiteRepair(self.db, self.tree, self.journal, checkpoint, self.cleanup,
                                      master=self.notifier.enabled)
        #: the site audit (audit_job.py): its scan runs on a thread of its own, its repairs are handed to the
        #: request loop's thread through ``handoff``
        self.handoff = Handoff()
        self.audits = Audits(self.tree, self._site_scan, self.repair, self.handoff)
        #: the read-only answers (STATUS, MATCH, PENDING) and the metrics' sample
        self.status = Status(self.db, self.journal, self.ledger, self.stale, self.archives, self.notifier, self.audit,
                             self.audits, self.health)
        #: the textfile metrics (metrics_dir), sampled from memory on a thread of their own
        self.metrics = Metrics(config.metrics_dir, self.status.metrics_sample) if config.metrics_dir else None
        self.archives.on_change = self._archives_changed
        self.stopping = False
        #: the notification of the request in hand, put in the outbox once its reply is sent, and the
        #: journal token of its change (None for a change without a journal: SKIP, UNSKIP)
        self._notice: list | None = None
        self._notice_key: str | None = None
        #: why the pending journal could not be settled last time (a file system error), logged once
        self._unsettled: str | None = None
        self._bound: tuple[int, int] | None = None
        self._next_watch = time.monotonic() + WATCH_INTERVAL

    # -- requests -------------------------------------------------------------

    def handle(self, frames: list[bytes]) -> bytes:
        """The reply to one message (a list of frames); never raises."""
        if frames == [PING_FRAME]:
            if log.isEnabledFor(logging.DEBUG):
                log.debug("['PING'] -> %s", self.health.frame.decode())
            return self.health.frame
        self.audits.serving(True)
        try:
            return self._reply(frames)
        finally:
            self.audits.serving(False)

    def _reply(self, frames: list[bytes]) -> bytes:
        started = time.monotonic()
        if self.journal.exists():  # an outcome still unknown is settled before anything is answered
            self.settle_pending(SETTLE_WAIT)
        if len(frames) != 1:
            reply = invalid(f"a message is one frame, not {len(frames)}")
            log.warning("request of %d frames: %s", len(frames), reply.decode())
            return reply
        try:
            request = decode_request(frames[0])
        except ProtocolError as exc:
            log.warning("invalid request (%d bytes): %s", len(frames[0]), exc)
            if self.metrics is not None:
                self.metrics.count("invalid", True, 0.0)
            return invalid(str(exc))
        try:
            reply = self._dispatch(request)
        except Exception:  # an error path that failed in turn (say, a reply that cannot be encoded)
            log.exception("request %s: the error reply itself failed", request.type)
            reply = error("internal error: see the Mr Chase log")
        failed = reply.startswith(ERROR_REPLY)
        if self.metrics is not None and request.type != "PING":
            self.metrics.count(request.type, failed, time.monotonic() - started)
        level = logging.INFO if failed else LOG_LEVELS.get(request.type, logging.DEBUG)
        if log.isEnabledFor(level):
            log.log(level, "%s -> %s (%.1f ms)", [request.type, *request.args], reply[:200].decode("utf-8", "replace"),
                    (time.monotonic() - started) * 1000)
        return reply

    def _dispatch(self, request: Request) -> bytes:
        """The reply; a connection PostgreSQL dropped since the last request is replaced, not reported.

        psycopg learns that the server went away (a restart, an idle
        timeout) only when it next uses the connection, so without a retry
        the first request after a database restart would fail.  It is
        retried once, on a fresh connection, and only when the connection
        was already open: while the database is down each request fails at
        connect time, once, within the connect timeout.  Every request is
        safe to repeat (STATUS reads, SKIP and REMOVE are idempotent, and a
        REMOVE first settles any journal its failed attempt left).
        """
        had_connection = self.db.connected
        try:
            reply = self._answer(request)
            if self.health.degraded:
                self.degradation.connection_works()
            return reply
        except DatabaseUnavailable as exc:
            if not had_connection or isinstance(exc, DatabaseStalled):
                return self.degradation.unavailable(exc)
            log.warning("database connection lost (%s); retrying %s on a fresh one", exc, request.type)
        try:
            return self._answer(request)
        except DatabaseUnavailable as exc:
            return self.degradation.unavailable(exc)

    def _answer(self, request: Request) -> bytes:
        """The reply to a valid request; raises only DatabaseUnavailable."""
        try:
            if request.type == "PING":  # spelled other than PING_FRAME (say, with spaces)
                return self.health.frame
            if request.type == "STATUS" and request.args[0] is None:
                return encode_reply("STATUS", self.status.site())
            if request.type == "PENDING":
                return encode_reply("PENDING", self.status.pending(*request.args))
            if request.type == "ARCHIVED":
                return self._archived(*request.args)
            if request.type in ("AUDIT", "JOB"):
                return self._audit_request(request)
            package = canonicalize(request.args[0])
            if request.type == "STATUS":
                return encode_reply("STATUS", self.status.of(package, request.args[1]))
            if request.type == "MATCH":
                return encode_reply("MATCH", self.status.match(package, request.args[1]))
            handler = {"SKIP": self._skip, "UNSKIP": self._unskip, "YANK": self._yank, "FORGET": self._forget,
                       "DELETE": self._delete, "REMOVE": self._remove}[request.type]
            return handler(package, *request.args[1:])
        except NotFound as exc:
            return error(str(exc))
        except DatabaseUnavailable:
            raise
        except (Locked, OutcomeUnknown) as exc:
            log.error("%s", exc)
            return error(str(exc))
        except RoleRefused as exc:
            return self.degradation.role_refused(exc)
        except OSError as exc:  # the output tree refused (permissions, read-only, immutable, full)
            log.error("file system error: %s", exc)
            return error(f"file system error: {exc.strerror or exc}: {exc.filename}")
        except psycopg.errors.InsufficientPrivilege as exc:
            return self.degradation.privilege_lost(exc)
        except psycopg.Error as exc:
            log.error("database error: %s", self.db.masked(str(exc)))
            return error(f"database error: {self.db.masked(first_line(exc))}")
        except Exception as exc:  # the loop must survive anything a request triggers
            log.exception("request %s failed", request.type)
            return error(f"internal error: {exc}")

    def _archived(self, location: str, files: list[list[str]]) -> bytes:
        """ARCHIVED: the archive hosts of ``location`` no longer serve ``files``; pairs not pending are
        ignored, so a repeated acknowledgement is harmless."""
        acknowledged = self.archives.acknowledge(location, files)
        self.audit.record(["ARCHIVED", location, len(files)], "done", location=location, acknowledged=acknowledged,
                          files=files)
        return encode_reply("DONE")

    def _audit_request(self, request: Request) -> bytes:
        """AUDIT starts or joins the site audit, JOB reports it: from memory, at once (audit_job.py)."""
        try:
            if request.type == "AUDIT":
                return encode_reply("AUDIT", self.audits.start(request.args[0]))
            return encode_reply("JOB", self.audits.job(*request.args))
        except AuditRefused as exc:
            return error(str(exc))

    def _site_scan(self, options: dict, should_stop: Callable[[], bool]) -> SiteScan:
        """The audit's scan, on a database connection of its own (never the worker's)."""
        return SiteScan(self.config.dsn, self.tree, options, should_stop, self._checkpoint,
                        workers=self.config.audit_workers, workers_give_way=self.audits.workers_give_way)

    def _skip(self, package: str, reason: str) -> bytes:
        with self.db.guard():
            previous, changed = self.db.set_package_skip(package, reason)
        if changed:
            self.audit.record(["SKIP", package, reason], "done", package=package, previous_skip=previous,
                              skip=reason, builds=0, files=[], downloads=0)
            self._notice = rewrite_pages(package)
        return encode_reply("DONE")

    def _unskip(self, package: str, version: str | None) -> bytes:
        with self.db.guard():
            if version is None:
                previous, changed = self.db.set_package_skip(package, "")
            else:
                previous = self.db.clear_version_skip(package, version)
                changed = bool(previous)
        if changed:
            self.audit.record(["UNSKIP", package, version], "done", package=package, version=version,
                              previous_skip=previous)
            self._notice = rewrite_pages(package)
        return encode_reply("DONE")

    def _yank(self, package: str, version: str, yanked: bool) -> bytes:
        changed, token, stale = self.yanker.yank(package, version, yanked)
        if changed:
            self.audit.record(["YANK", package, version, yanked], "done", package=package, version=version,
                              yanked=yanked, token=token, **self._stale_detail(stale))
            self._notify(rewrite_pages(package), token)
        return self._done(stale)

    def _remove(self, package: str, version: str, skip: Any) -> bytes:
        result = self.remover.remove(package, version, skip)
        if result.changed:
            self._audit_removal(["REMOVE", package, version, skip], package, version, result)
            self._notify(remove_version(package, version, result.skip), result.token)
        return self._done(result.stale_pages)

    def _forget(self, package: str, version: str) -> bytes:
        result = self.remover.remove(package, version, False, forget=True)
        self._audit_removal(["FORGET", package, version], package, version, result)
        # REMVER would be answered NOVER: the version row is gone
        self._notify(rewrite_pages(package), result.token)
        return self._done(result.stale_pages)

    def _audit_removal(self, request: list, package: str, version: str, result: Any) -> None:
        self.audit.record(request, "done", package=package, version=version, builds=result.builds,
                          files=result.files, downloads=result.downloads, skip=result.skip,
                          archived=result.archived, missing_on_disk=result.missing, token=result.token,
                          **self._stale_detail(result.stale_pages))

    def _delete(self, package: str) -> bytes:
        deleted, moved, token, stale = self.package_remover.delete(package)
        self.audit.record(["DELETE", package], "done", package=package,
                          versions=sorted(deleted.versions, key=version_key), builds=deleted.builds,
                          files=deleted.files, archived=deleted.archived, downloads=deleted.downloads,
                          aliases=deleted.aliases, moved=moved, token=token, **self._stale_detail(stale))
        self._notify(rebuild_search(), token)
        return self._done(stale)

    def repair(self, package: str | None, findings: list[Finding], min_age: float) -> list[Finding]:
        """The site audit's repair of one package's findings (``package`` None: the site's), run by the
        loop between requests like one (audit_job.py hands it over): all or nothing (site_repair.py),
        audited as ``["REPAIR", package, kinds]`` with the counts and the change's token, piw-master told
        once.  Returns the findings with ``repaired`` (and ``detail``) as they came out; never raises: a
        repair that failed returns every finding unrepaired, its detail saying why."""
        if self.journal.exists():
            self.settle_pending(SETTLE_WAIT)
        try:
            result = self.site_repair.repair(package, findings, min_age)
        except Exception as exc:  # the loop must survive anything, as it does a request
            why = (f"{exc.strerror or exc}: {exc.filename}" if isinstance(exc, OSError)
                   else self.db.masked(first_line(exc)))
            log.error("the repair of %s failed: %s", package or "the site", why)
            return [replace(finding, repaired=False, detail=f"{finding.detail} (not repaired: {why})")
                    for finding in findings]
        if result.token:
            self.audit.record(["REPAIR", package, sorted(result.counts)], "done", package=package,
                              counts=result.counts, repaired=sum(result.counts.values()), moved=result.moved,
                              builds=result.builds, files=result.files, downloads=result.downloads,
                              links=result.links, token=result.token, **self._stale_detail(result.stale_pages))
            log.info("repaired %s: %s", package or "the site", result.counts)
            if result.notice is not None:
                self._notify(result.notice, result.token)
        self.after_reply()  # the notice queued, then the staged paths deleted and the journal emptied
        return result.findings

    def _notify(self, notice: list, token: str) -> None:
        """The notice for piw-master, queued once the reply is sent (see after_reply)."""
        self._notice, self._notice_key = notice, token

    @staticmethod
    def _stale_detail(stale: list[str]) -> dict:
        return {"stale_pages": stale} if stale else {}

    def _done(self, stale: list[str]) -> bytes:
        """DONE, or, when the committed change could not write a page, an ERROR that says both."""
        if not stale:
            return encode_reply("DONE")
        self.health.refresh()  # PONG counts the new debt at once (a page written again later: while idle)
        return error(committed_but_stale(stale, self.stale.error_of(stale[0])))

    def settle_pending(self, wait: float) -> None:
        """Try to settle a pending journal now; a database that cannot say yet leaves it for the next try,
        and PONG says degraded (but for a row lock held elsewhere, which passes) until it is settled."""
        try:
            with self.db.guard():
                self.journal.recover(self.db, wait=wait)
        except Locked as exc:
            log.debug("pending removal not settled yet: %s", exc)
        except DatabaseUnavailable as exc:
            log.debug("pending removal not settled yet: %s", exc)
            self.degradation.database_lost(exc)
            self.degradation.unsettled_change(f"the database is unavailable: {exc}")
        except RoleRefused as exc:  # retried while idle, settled once the grant is back
            self.degradation.role_refused(exc)
            self.degradation.database_answers()  # it answered: with a refusal
            self.degradation.unsettled_change("the database role is refused")
        except OSError as exc:  # a full disk, say: retried while idle, logged once per reason
            if str(exc) != self._unsettled:
                log.warning("the pending change is not settled yet (%s); trying again every %g s while idle",
                            exc, SETTLE_INTERVAL)
            self._unsettled = str(exc)
            self.degradation.unsettled_change(str(exc))
        except Exception as exc:  # a journal must never stop the service: the log has the details
            log.exception("settling the pending removal failed")
            self.degradation.unsettled_change(f"settling it failed ({exc}; see the log)")
        else:
            self._unsettled = None
            self.degradation.connection_works()
            if not self.journal.exists():
                self.degradation.change_settled()

    def after_reply(self) -> None:
        """What the last request left to do once its client has the reply: tell piw-master (the outbox
        entry is on disk before the removal's journal goes), then clean up the removal (the audit's scan
        waits meanwhile, as during the request)."""
        self.audits.serving(True)
        try:
            self._after_reply()
        finally:
            self.audits.serving(False)

    def _after_reply(self) -> None:
        notice, key, self._notice, self._notice_key = self._notice, self._notice_key, None, None
        queued = True
        if notice is not None:
            try:
                self.notifier.submit(notice, key=key)
            except OSError as exc:
                queued = False
                log.error("cannot queue the notification %s for piw-master (%s); the change's journal stays "
                          "and the notification is queued as soon as it can be", notice, exc)
                self.audit.record(["NOTIFY", *notice], f"not queued: {exc.strerror or exc}; kept in the journal "
                                  "and queued again by recovery", master_queue=self.notifier.queue, token=key)
        self.cleanup.flush(keep_journal=not queued)

    # -- the loop ---------------------------------------------------------------

    def recover(self) -> None:
        """Check the database role and settle a removal a crash left half done, before serving anything."""
        self.tree.prepare()
        self.tree.lock()
        self.journal.create()
        try:
            with self.db.guard():
                self.db.connect()  # a role without the privileges it needs (or a superuser) stops the start here
        except DatabaseUnavailable as exc:
            log.error("the database is unavailable (%s); serving anyway, requests fail until it is back", exc)
            self.degradation.database_lost(exc)
            if self.journal.exists():
                self.degradation.unsettled_change(f"the database is unavailable: {exc}")
            return
        for warning in self.db.warnings:
            log.warning("%s", warning)
        self.health.refresh()
        if self.journal.exists():
            self.settle_pending(START_SETTLE_WAIT)
            if self.journal.exists():
                log.warning("a removal's outcome is not settled yet (waited %g s for the database); serving now "
                            "and settling it every %g s while idle", START_SETTLE_WAIT, SETTLE_INTERVAL)

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        log.info("signal %d: stopping after the request in hand", signum)
        self.stopping = True

    def run(self) -> None:
        refuse_if_taken(self.config.import_queue, self.config.ipc_path and str(self.config.ipc_path))
        self.recover()
        self._start_metrics()
        self.notifier.start()
        context = zmq.Context()
        sock = context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, HARD_CAP_BYTES)
        bound = False
        try:
            self._bind(sock)
            bound = True
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.request_stop)
            log.info("Mr Chase %s listening on %s", __version__, self.config.import_queue)
            notify("READY=1")
            RequestLoop(self, sock, PING_FRAME, self.health.pong, self._watch, SETTLE_INTERVAL, self.handoff).run()
        finally:
            self.audits.stop()  # a repair waiting for the loop is cancelled: the loop is gone
            notify("STOPPING=1")
            sock.close()
            context.term()
            self.after_reply()  # a stop never leaves a removal's staged wheels or journal behind
            self.notifier.stop()
            if self.metrics is not None:
                self.metrics.stop()
            self.db.close()
            if bound:
                self._remove_socket_file()
            log.info("Mr Chase stopped")

    def _start_metrics(self) -> None:
        """Write the metrics file once before serving: a directory Mr Chase cannot write stops the start."""
        if self.metrics is None:
            return
        try:
            self.metrics.start()
        except OSError as exc:
            raise ConfigError("metrics_dir", f"cannot write {self.metrics.path}: {exc.strerror or exc}") from None

    def _archives_changed(self) -> None:
        """A pending list changed (settled after a reply, or ARCHIVED): PONG's count and the metrics are news."""
        self.health.refresh()
        if self.metrics is not None:
            self.metrics.changed()

    def idle(self) -> None:
        """The loop has had nothing to do for SETTLE_INTERVAL: settle a pending removal, if any, else check
        the database role and the database (degradation.py); see that the outbox is delivered; bring PONG
        up to date."""
        if self.journal.exists():
            self.settle_pending(SETTLE_WAIT)
        else:
            self.degradation.check_database_while_idle()
        self.degradation.check_outbox()
        self.health.refresh()

    def _watch(self) -> None:
        """After every turn of the loop: the notifier's thread runs (restarted if it died); every
        WATCH_INTERVAL, raise AddressLost when the socket file is no longer the one bound (another
        process bound over it).  Tells systemd's watchdog the loop turns: a wedged loop is restarted."""
        self.watchdog.kick()
        self.notifier.revive()
        now = time.monotonic()
        if now < self._next_watch:
            return
        self._next_watch = now + WATCH_INTERVAL
        path = self.config.ipc_path
        if path is not None and inode(str(path)) != self._bound:
            raise AddressLost(f"the socket file of {self.config.import_queue} was replaced or removed by another "
                              "process; stopping, as no client can reach this Mr Chase any more")

    def _bind(self, sock: zmq.Socket) -> None:
        """Bind with a umask that leaves the socket file private, then set socket_mode."""
        path = self.config.ipc_path
        if path is None:
            sock.bind(self.config.import_queue)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        old = os.umask(0o077)
        try:
            sock.bind(self.config.import_queue)
        finally:
            os.umask(old)
        os.chmod(path, self.config.socket_mode)
        self._bound = inode(str(path))

    def _remove_socket_file(self) -> None:
        """Unlink the socket file only if it is still the one this service bound (never another's)."""
        path = self.config.ipc_path
        if path is None:
            return
        if inode(str(path)) != self._bound:
            log.warning("not removing %s: it is no longer the socket file this Mr Chase bound", path)
            return
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


__all__ = ["AddressLost", "Service", "MAX_FRAME_BYTES", "HARD_CAP_BYTES"]
