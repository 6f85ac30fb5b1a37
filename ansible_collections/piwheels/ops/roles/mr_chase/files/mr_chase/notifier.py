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

No one entry can stop the others.  Each is read without following a
symbolic link, up to MAX_ENTRY_BYTES, and checked against the messages the
notifier may send (``SENDABLE``: upstream's own schema for them) before it
is sent; anything else is parked at once.  An entry piw-master does not
answer, in PARK_AFTER rounds in which it answered others, is parked too,
and the queue moves on; entries that never failed go first in each round.
Parked entries wait in ``.mr-chase/parked/`` (counted in PONG's
``parked_notices``; audited); moving one back into ``.mr-chase/outbox/``
retries it.
A round that fails unexpectedly is logged and retried, and a delivery
thread that dies all the same is started again by the service's watch.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import cbor2
import zmq

from .audit_log import AuditLog
from .loop import ThreadDied
from .tree import Tree, fsync_dir, write_durably

log = logging.getLogger(__name__)

#: seconds between retries of an undelivered notification, doubling up to the maximum
RETRY_FIRST, RETRY_MAX = 1.0, 30.0
#: the largest outbox entry read: a notification is a few hundred bytes (names and a reason of column size)
MAX_ENTRY_BYTES = 4096
#: rounds in which piw-master answered other entries but not this one, before it is parked
PARK_AFTER = 3
#: unanswered entries in a row that end a round: piw-master is down (or hung), not refusing one entry
DOWN_AFTER = 2
#: how often a delivery thread that died is started again before the service gives up (and exits)
MAX_RESTARTS = 3
#: the outbox is undeliverable (PONG degraded) once its oldest notice has waited this many master_timeouts
UNDELIVERABLE_AFTER_TIMEOUTS = 12

#: what the notifier may send, as upstream's import queue declares it (piwheels/protocols.py; the tests hold
#: each shape against tests/upstream_format.json): a type stands for a value of exactly that type, a string
#: for itself
SENDABLE: dict[str, tuple[tuple, ...]] = {
    "REMVER": ((str, str, bool, str, bool),),
    "REBUILD": (("BOTH", str), ("SEARCH",)),
}


def sendable(message: Any) -> bool:
    """Whether ``message`` is one of SENDABLE's ``[msg, data]`` (piw-master drops anything else unanswered)."""
    if not (isinstance(message, list) and len(message) == 2 and isinstance(message[0], str)):
        return False
    msg, data = message
    return isinstance(data, list) and any(
        len(data) == len(shape) and all(map(_fits, data, shape)) for shape in SENDABLE.get(msg, ()))


def _fits(value: Any, spec: type | str) -> bool:
    return isinstance(value, spec) if isinstance(spec, type) else value == spec  # no int spec: True is no str


class BadEntry(Exception):
    """An outbox entry that is not a notification the notifier may send; the message says why."""


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
        self.parked_dir = os.path.join(tree.state, "parked")
        #: how many entries wait in parked_dir (PONG's parked_notices); on_parked is told when it grows
        self.parked = 0
        self.on_parked: Callable[[], None] | None = None
        self._wake = threading.Event()
        self._stopping = False
        self._thread: threading.Thread | None = None
        self._restarts = 0
        self._failed: set[str] = set()  # outbox entries whose first failure is already audited
        self._misses: dict[str, int] = {}  # entry -> rounds it went unanswered while piw-master answered others
        #: the notice submitted last (the one a module asks after, in STATUS outbox)
        self.last = LastNotice()

    @property
    def enabled(self) -> bool:
        return self.queue is not None

    def start(self) -> None:
        if not self.enabled:
            return
        os.makedirs(self.outbox, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.parked = len(os.listdir(self.parked_dir))
        if self.parked:
            log.warning("%d notification(s) for piw-master are parked in %s (see the audit log for why)",
                        self.parked, self.parked_dir)
        self._start_thread()

    def _start_thread(self) -> None:
        self._thread = threading.Thread(target=self._run, name="master-notifier", daemon=True)
        self._thread.start()

    def revive(self) -> None:
        """Start the delivery thread again if it died (cheap enough to call after every request); after
        MAX_RESTARTS raise ThreadDied, so the service exits and systemd starts a whole one."""
        if self._thread is None or self._stopping or self._thread.is_alive():
            return
        if self._restarts >= MAX_RESTARTS:
            raise ThreadDied(f"the thread that notifies piw-master died {self._restarts + 1} times (see the log); "
                             "exiting so that the service is restarted whole")
        self._restarts += 1
        log.error("the thread that notifies piw-master died; starting it again (%d of %d)", self._restarts,
                  MAX_RESTARTS)
        self._start_thread()

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
        self.last.submitted(name, message)
        self._wake.set()

    def queued(self, key: str) -> bool:
        """Whether a notification submitted with ``key`` is still in the outbox."""
        suffix = f"-{key}.json"
        return any(name.endswith(suffix) for name in self.pending())

    def state(self) -> dict:
        """STATUS ``outbox``: how many notices wait, how long the oldest has (seconds, null when none), and the
        fate of the last one submitted: ``sending`` until its first delivery attempt is over.  Never waited
        for here: with piw-master down an attempt lasts master_timeout, and the loop that answers STATUS
        serves every other request too (the modules ask again while it says ``sending``)."""
        queued, oldest_age = self.backlog()
        return {"queued": queued, "oldest_age": oldest_age, "last": self.last.describe()}

    def backlog(self) -> tuple[int, float | None]:
        """How many notices wait in the outbox, and the oldest one's age in seconds (None when none)."""
        names = self.pending() if self.enabled else []
        return len(names), self._age(names[0]) if names else None

    def undeliverable(self) -> str | None:
        """Why the outbox counts as undeliverable (its oldest notice waited UNDELIVERABLE_AFTER_TIMEOUTS
        master_timeouts), else None."""
        queued, oldest_age = self.backlog()
        limit = UNDELIVERABLE_AFTER_TIMEOUTS * self.timeout
        if oldest_age is None or oldest_age <= limit:
            return None
        return (f"piw-master has not taken the notices in {self.outbox} for over {limit:g} s ({queued} "
                f"queued; {self._why_undelivered()}): the project pages it writes are stale until it does")

    def _age(self, name: str) -> float:
        """Seconds since the entry was queued: its name begins with the time in nanoseconds (else its mtime)."""
        try:
            queued = int(name[:20]) / 1e9
        except ValueError:
            try:
                queued = os.lstat(os.path.join(self.outbox, name)).st_mtime
            except OSError:
                return 0.0
        return round(max(0.0, time.time() - queued), 1)

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
            try:
                delivered_all = self._deliver_all(context)
            except Exception:  # e.g. an audit log that cannot be written: the entries wait on disk
                log.exception("delivering the notifications for piw-master failed; retrying")
                delivered_all = False
            delay = RETRY_FIRST if delivered_all else min(delay * 2, RETRY_MAX)
            self._wake.wait(None if delivered_all else delay)
            self._wake.clear()

    def _deliver_all(self, context: zmq.Context) -> bool:
        """One round over the outbox, oldest first but entries that failed before last; True when nothing is
        left to retry.  DOWN_AFTER unanswered in a row end the round (the master is down); an entry that
        went unanswered in a round where the master answered another counts towards parking it."""
        unanswered: list[tuple[str, list]] = []
        in_a_row, answered = 0, False
        names = sorted(self.pending(), key=lambda entry: (entry in self._failed, entry))
        for name in names:
            if self._stopping or in_a_row >= DOWN_AFTER:
                break
            message = self._entry(name)
            if message is None:
                continue
            reply = self._send(context, message)
            if reply is None:
                unanswered.append((name, message))
                in_a_row += 1
                self._undelivered(name, message)
                continue
            in_a_row, answered = 0, True
            self._delivered(name, os.path.join(self.outbox, name), message, reply)
        if answered:
            self._count_misses(unanswered)
        self.last.round_over(names)
        return not unanswered and not self._stopping

    def _count_misses(self, unanswered: list[tuple[str, list]]) -> None:
        """piw-master answered others this round: each of these counts one miss, and is parked at PARK_AFTER."""
        for name, message in unanswered:
            self._misses[name] = misses = self._misses.get(name, 0) + 1
            if misses >= PARK_AFTER:
                self._park(name, f"piw-master did not answer it in {misses} rounds while it answered others",
                           message)

    def _entry(self, name: str) -> list | None:
        """The entry's message, or None when it is gone or was parked for being no notification."""
        try:
            return self._read(os.path.join(self.outbox, name))
        except FileNotFoundError:  # taken away meanwhile (an operator): nothing to send
            return None
        except BadEntry as exc:
            self._park(name, str(exc))
            return None

    @staticmethod
    def _read(path: str) -> list:
        """Read one entry without following a symbolic link or waiting on a FIFO, up to MAX_ENTRY_BYTES."""
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            if exc.errno == errno.ENOENT:
                raise FileNotFoundError(path) from None
            raise BadEntry("a symbolic link, never followed" if exc.errno == errno.ELOOP
                           else f"unreadable: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise BadEntry("not a regular file")
            data = stream.read(MAX_ENTRY_BYTES + 1)
        if len(data) > MAX_ENTRY_BYTES:
            raise BadEntry(f"larger than {MAX_ENTRY_BYTES} bytes")
        try:
            message = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise BadEntry("not JSON") from None
        if not sendable(message):
            raise BadEntry(f"not a notification Mr Chase sends: {data[:100].decode('utf-8', 'replace')!r}")
        return message

    def _park(self, name: str, why: str, message: list | None = None) -> None:
        """Move an entry (a symbolic link itself, never its target) to parked/, audit it, count it."""
        os.makedirs(self.parked_dir, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.replace(os.path.join(self.outbox, name), os.path.join(self.parked_dir, name))
            self.parked += 1
        self._misses.pop(name, None)
        self._failed.discard(name)
        self.last.fate(name, "parked")
        log.error("notification %s parked in %s: %s", name, self.parked_dir, why)
        self.audit.record(["NOTIFY", *(message or [name])], f"parked: {why}", master_queue=self.queue,
                          parked=os.path.join(self.parked_dir, name))
        if self.on_parked is not None:
            self.on_parked()

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
        delivered = isinstance(reply, list) and bool(reply) and reply[0] == "DONE"
        if delivered:
            outcome = "delivered"
            log.info("piw-master took %s %s: %s", message[0], message[1], reply)
        else:  # the master refused it (e.g. NOVER after a concurrent change): a retry cannot help
            outcome = f"refused by piw-master: {reply!r}"
            log.warning("piw-master refused %s %s: %r", message[0], message[1], reply)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.last.fate(name, "delivered" if delivered else "refused")  # once it left the outbox
        self._failed.discard(name)
        self._misses.pop(name, None)
        self.audit.record(["NOTIFY", *message], outcome, master_queue=self.queue)

    def _undelivered(self, name: str, message: list) -> None:
        if name in self._failed:
            return
        self._failed.add(name)
        log.warning("piw-master did not take %s %s at %s (%s); kept in %s and retried", message[0], message[1],
                    self.queue, self._why_undelivered(), self.outbox)
        self.audit.record(["NOTIFY", *message], "undelivered, will retry", master_queue=self.queue)


class LastNotice:
    """The fate of the notice submitted last: sending, then delivered, refused or parked (or queued once an
    attempt failed).  Written by the delivery thread, read by the service's."""

    def __init__(self):
        self._name: str | None = None
        self._package: str | None = None
        self._fate = "queued"
        self._attempted = threading.Event()
        self._attempted.set()

    def submitted(self, name: str, message: list) -> None:
        self._attempted.clear()
        self._name, self._package, self._fate = name, about(message), "queued"

    def fate(self, name: str, fate: str) -> None:
        if name == self._name:
            self._fate = fate
            self._attempted.set()

    def round_over(self, names: list[str]) -> None:
        """A round that listed the last notice has tried it, or ended before it (piw-master is down)."""
        if self._name in names:
            self._attempted.set()

    def describe(self) -> dict | None:
        """``{"package": name or null (a search index rebuild), "notice": fate}``, null before the first; the
        fate is ``sending`` while its first delivery attempt lasts."""
        if self._name is None:
            return None
        return {"package": self._package, "notice": self._fate if self._attempted.is_set() else "sending"}


def about(message: list) -> str | None:
    """The package a notice tells of: REMVER's first field, REBUILD BOTH's second; None for REBUILD SEARCH."""
    msg, data = message
    if msg == "REMVER":
        return data[0]
    return data[1] if data[0] == "BOTH" else None
