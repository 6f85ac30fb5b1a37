"""The request loop: one REP socket, one request at a time, one reply each.

Every request gets exactly one reply, whatever it holds, and no request can
stop the loop.  The socket is polled with a timeout so SIGTERM is noticed
within a fraction of a second; the request in hand is finished first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import psycopg
import zmq

from . import __version__
from .audit import AuditLog
from .config import Config
from .database import Database, DatabaseUnavailable, NotFound
from .journal import Journal
from .protocol import (
    MAX_FRAME_BYTES,
    ProtocolError,
    Request,
    canonicalize,
    decode_request,
    encode_reply,
    error,
    invalid,
    natural_key,
)
from .removal import Remover, no_checkpoint
from .tree import Tree

log = logging.getLogger(__name__)

#: ZeroMQ drops (without a reply) peers that send more than this; between
#: MAX_FRAME_BYTES and this the service answers "invalid message"
HARD_CAP_BYTES = 1 << 20
POLL_MS = 200


def checkpoint_from_env() -> Callable[[str], None]:
    """Test hook: MR_CHASE_CRASH_AT=<step> exits abruptly at that step of a removal,
    MR_CHASE_FAIL_AT=<step> raises there.  Unset (as in production) it does nothing."""
    crash_at = os.environ.get("MR_CHASE_CRASH_AT")
    fail_at = os.environ.get("MR_CHASE_FAIL_AT")
    if not crash_at and not fail_at:
        return no_checkpoint

    def checkpoint(step: str) -> None:
        if step == crash_at:
            os._exit(70)
        if step == fail_at:
            raise RuntimeError(f"failure injected at {step}")

    return checkpoint


class Service:
    def __init__(self, config: Config, checkpoint: Callable[[str], None] | None = None):
        self.config = config
        self.db = Database(config.dsn)
        self.tree = Tree(config.output_path)
        self.journal = Journal(self.tree)
        self.audit = AuditLog(config.audit_log)
        self.remover = Remover(self.db, self.tree, self.journal, checkpoint or checkpoint_from_env())
        self.stopping = False

    # -- requests -------------------------------------------------------------

    def handle(self, frames: list[bytes]) -> bytes:
        """The reply to one message (a list of frames); never raises."""
        started = time.monotonic()
        if len(frames) != 1:
            reply = invalid(f"a message is one frame, not {len(frames)}")
            log.warning("request of %d frames: %s", len(frames), reply.decode())
            return reply
        try:
            request = decode_request(frames[0])
        except ProtocolError as exc:
            log.warning("invalid request (%d bytes): %s", len(frames[0]), exc)
            return invalid(str(exc))
        try:
            reply = self._dispatch(request)
        except Exception:  # an error path that failed in turn (say, a reply that cannot be encoded)
            log.exception("request %s: the error reply itself failed", request.type)
            reply = error("internal error: see the Mr Chase log")
        log.info("%s -> %s (%.1f ms)", [request.type, *request.args], reply[:200].decode("utf-8", "replace"),
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
        had_connection = getattr(self.db, "_conn", None) is not None
        try:
            return self._answer(request)
        except DatabaseUnavailable as exc:
            if not had_connection:
                return self._unavailable(exc)
            log.warning("database connection lost (%s); retrying %s on a fresh one", exc, request.type)
        try:
            return self._answer(request)
        except DatabaseUnavailable as exc:
            return self._unavailable(exc)

    @staticmethod
    def _unavailable(exc: DatabaseUnavailable) -> bytes:
        log.error("database unavailable: %s", exc)
        return error(f"database unavailable: {exc}")

    def _answer(self, request: Request) -> bytes:
        """The reply to a valid request; raises only DatabaseUnavailable."""
        try:
            if request.type == "PING":
                return encode_reply("PONG", __version__)
            package = canonicalize(request.args[0])
            if request.type == "STATUS":
                return encode_reply("STATUS", self._status(package, request.args[1]))
            if request.type == "SKIP":
                return self._skip(request, package, request.args[1])
            return self._remove(request, package, *request.args[1:])
        except NotFound as exc:
            return error(str(exc))
        except DatabaseUnavailable:
            raise
        except OSError as exc:  # the output tree refused (permissions, read-only, immutable, full)
            log.error("file system error: %s", exc)
            return error(f"file system error: {exc.strerror or exc}: {exc.filename}")
        except psycopg.Error as exc:
            log.error("database error: %s", exc)
            return error(f"database error: {str(exc).strip().splitlines()[0] if str(exc).strip() else exc}")
        except Exception as exc:  # the loop must survive anything a request triggers
            log.exception("request %s failed", request.type)
            return error(f"internal error: {exc}")

    def _status(self, package: str, version: str | None) -> dict:
        with self.db.guard():
            if version is None:
                skip = self.db.package_skip(package)
                versions = sorted(self.db.versions(package), key=natural_key)
                return {"package": package, "skip": skip, "versions": versions}
            skip, yanked = self.db.version_row(package, version)
            files = self.db.version_files(package, version)
            return {"package": package, "version": version, "skip": skip, "yanked": yanked,
                    "builds": self.db.build_count(package, version), "files": files,
                    "downloads": self.db.download_count(files)}

    def _skip(self, request: Request, package: str, reason: str) -> bytes:
        with self.db.guard():
            previous, changed = self.db.set_package_skip(package, reason)
        if changed:
            self.audit.record(["SKIP", package, reason], "done", package=package, previous_skip=previous,
                              skip=reason, builds=0, files=[], downloads=0)
        return encode_reply("DONE")

    def _remove(self, request: Request, package: str, version: str, skip: Any) -> bytes:
        result = self.remover.remove(package, version, skip)
        if result.changed:
            self.audit.record(["REMOVE", package, version, skip], "done", package=package, version=version,
                              builds=result.builds, files=result.files, downloads=result.downloads,
                              skip=result.skip, missing_on_disk=result.missing)
        return encode_reply("DONE")

    # -- the loop ---------------------------------------------------------------

    def recover(self) -> None:
        """Settle a removal a crash left half done, before serving anything."""
        self.tree.prepare()
        try:
            with self.db.guard():
                self.journal.recover(self.db)
        except DatabaseUnavailable as exc:
            log.error("cannot settle the journal yet, the database is unavailable: %s", exc)

    def request_stop(self, signum: int = 0, frame: Any = None) -> None:
        log.info("signal %d: stopping after the request in hand", signum)
        self.stopping = True

    def run(self) -> None:
        self.recover()
        context = zmq.Context()
        sock = context.socket(zmq.REP)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.MAXMSGSIZE, HARD_CAP_BYTES)
        try:
            self._bind(sock)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, self.request_stop)
            log.info("Mr Chase %s listening on %s", __version__, self.config.import_queue)
            while not self.stopping:
                if sock.poll(POLL_MS, zmq.POLLIN):
                    frames = sock.recv_multipart()
                    sock.send(self.handle(frames))
        finally:
            sock.close()
            context.term()
            self.db.close()
            self._remove_socket_file()
            log.info("Mr Chase stopped")

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

    def _remove_socket_file(self) -> None:
        path = self.config.ipc_path
        if path is not None:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()


__all__ = ["Service", "MAX_FRAME_BYTES", "HARD_CAP_BYTES"]
