"""Telling piw-master what changed, in its own wire format, without ever slowing a removal down.

piw-master's page writer owns the project page and the JSON API, and its
build scheduler must stop building a removed version; both learn of a change
only through its import queue (``master_queue``, ``ipc:///tmp/piw-import`` on
a real master).  Its wire format is one CBOR frame ``[msg, data]``, answered
with ``["DONE", action]`` or ``["ERROR", reason]``; a message that breaks its
schema gets no answer at all (upstream logs it and moves on), so every wait
here is bounded.

A notification is written to ``.mr-chase/outbox/`` (and fsynced) after the
client has its reply and before the removal's journal is dropped, so a crash
loses none: recovery re-sends what a finished journal implies, and a
notification the master did not take stays in the outbox and is retried by a
background thread until it is taken.  The master being down never fails or
undoes a removal; the audit log records each notification's fate.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
import uuid
from typing import Any

import cbor2
import zmq

from .audit import AuditLog
from .tree import Tree, fsync_dir, write_durably

log = logging.getLogger(__name__)

#: seconds between retries of an undelivered notification, doubling up to the maximum
RETRY_FIRST, RETRY_MAX = 1.0, 30.0


def remove_version(package: str, version: str, skip: str) -> list:
    """REMVER with builds=true: the master deletes what is left (nothing), cancels the version's builds
    and rewrites the simple page, project page and JSON without it.  Never REMPKG: that deletes the
    package's whole directory of wheels and pages."""
    return ["REMVER", [package, version, True, skip, False]]


def rewrite_pages(package: str) -> list:
    """REBUILD BOTH: the master rewrites the package's simple page, project page and JSON (after SKIP,
    UNSKIP, YANK and FORGET; never REMVER after FORGET: the master answers NOVER once the row is gone)."""
    return ["REBUILD", ["BOTH", package]]


def rebuild_search() -> list:
    """REBUILD SEARCH, after a whole package is deleted: the master rebuilds its search index from the
    database.  Never REMPKG: it answers NOPKG once the package row is gone, and its page writer would
    delete the package's directories itself, outside Mr Chase's journal."""
    return ["REBUILD", ["SEARCH"]]


class MasterNotifier:
    """An outbox of notifications for piw-master and the thread that delivers them."""

    def __init__(self, queue: str | None, tree: Tree, audit: AuditLog, timeout: float = 5.0):
        self.queue = queue
        self.timeout = timeout
        self.audit = audit
        self.outbox = os.path.join(tree.state, "outbox")
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._failed: set[str] = set()  # outbox entries whose first failure is already audited

    @property
    def enabled(self) -> bool:
        return self.queue is not None

    def start(self) -> None:
        if not self.enabled:
            return
        os.makedirs(self.outbox, exist_ok=True)
        self._thread = threading.Thread(target=self._run, name="master-notifier", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Let the thread finish the delivery in hand (bounded by the timeout); the rest waits on disk."""
        if self._thread is not None:
            self._stopping = True
            self._wake.set()
            self._thread.join(self.timeout + 1)
            self._thread = None

    def submit(self, message: list, key: str | None = None) -> None:
        """Put one notification in the outbox durably and wake the delivery thread.

        Durable on return.  On any OSError (a full disk) it raises and leaves
        no partial or zero-length entry: the entry is written and synced
        under a temporary name that delivery never reads, then renamed.
        With ``key`` (the journal token of the change it tells of; the
        entry's name ends with it) a second submit while the first is still
        queued does nothing, so recovery may repeat it safely.
        """
        if not self.enabled or (key is not None and self.queued(key)):
            return
        name = f"{time.time_ns():020d}-{key or uuid.uuid4().hex[:8]}.json"
        path, temp = os.path.join(self.outbox, name), os.path.join(self.outbox, f".{name}.tmp")
        try:
            write_durably(temp, json.dumps(message).encode("utf-8"))
            os.rename(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        fsync_dir(self.outbox)
        self._wake.set()

    def queued(self, key: str) -> bool:
        """Whether a notification submitted with ``key`` is still in the outbox."""
        suffix = f"-{key}.json"
        return any(name.endswith(suffix) for name in self.pending())

    def pending(self) -> list[str]:
        """The outbox, oldest first."""
        try:
            return sorted(name for name in os.listdir(self.outbox) if name.endswith(".json"))
        except FileNotFoundError:
            return []

    # -- the delivery thread ----------------------------------------------------

    def _run(self) -> None:
        context = zmq.Context.instance()
        delay = RETRY_FIRST
        while not self._stopping:
            delivered_all = self._deliver_all(context)
            delay = RETRY_FIRST if delivered_all else min(delay * 2, RETRY_MAX)
            self._wake.wait(None if delivered_all else delay)
            self._wake.clear()

    def _deliver_all(self, context: zmq.Context) -> bool:
        """Deliver the outbox in order; stop at the first the master does not answer (it is down)."""
        for name in self.pending():
            if self._stopping:
                return False
            path = os.path.join(self.outbox, name)
            try:
                with open(path, encoding="utf-8") as stream:
                    message = json.load(stream)
            except (OSError, ValueError) as exc:
                log.error("unreadable notification %s set aside: %s", path, exc)
                os.replace(path, path + ".bad")
                continue
            reply = self._send(context, message)
            if reply is None:
                self._undelivered(name, message)
                return False
            self._delivered(name, path, message, reply)
        return True

    def _send(self, context: zmq.Context, message: list) -> Any:
        """One request on a fresh REQ socket (a REQ socket that missed its reply cannot send again)."""
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(self.queue)
            sock.send(cbor2.dumps(message))
            if not sock.poll(int(self.timeout * 1000), zmq.POLLIN):
                return None
            return cbor2.loads(sock.recv())
        except (zmq.ZMQError, cbor2.CBORError) as exc:
            log.warning("notifying piw-master at %s failed: %s", self.queue, exc)
            return None
        finally:
            sock.close()

    def _why_undelivered(self) -> str:
        """What the operator should look at: ZeroMQ connects lazily, so a missing or forbidden socket file
        looks like a master that does not answer."""
        if self.queue.startswith("ipc://"):
            path = self.queue[len("ipc://"):]
            if not os.path.exists(path):
                return f"no socket at {path}: is piw-master running?"
            if not os.access(path, os.W_OK):
                return f"permission denied on {path}: the service user may not write piw-master's socket"
        return f"no answer within {self.timeout:g} s"

    def _delivered(self, name: str, path: str, message: list, reply: Any) -> None:
        if isinstance(reply, list) and reply and reply[0] == "DONE":
            outcome = "delivered"
            log.info("piw-master took %s %s: %s", message[0], message[1], reply)
        else:  # the master refused it (e.g. NOVER after a concurrent change): a retry cannot help
            outcome = f"refused by piw-master: {reply!r}"
            log.warning("piw-master refused %s %s: %r", message[0], message[1], reply)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self._failed.discard(name)
        self.audit.record(["NOTIFY", *message], outcome, master_queue=self.queue)

    def _undelivered(self, name: str, message: list) -> None:
        if name in self._failed:
            return
        self._failed.add(name)
        log.warning("piw-master did not take %s %s at %s (%s); kept in %s and retried", message[0], message[1],
                    self.queue, self._why_undelivered(), self.outbox)
        self.audit.record(["NOTIFY", *message], "undelivered, will retry", master_queue=self.queue)
