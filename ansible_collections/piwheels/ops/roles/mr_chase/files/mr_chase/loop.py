"""The request loop: requests are handled where they are received, and a stand-in answers PING while one takes long.

Requests that touch the database or the tree are handled one at a time, in
the order they arrived, by the thread that receives them: a STATUS costs
no hand-off between threads, only its query.  While a request (or its
clean-up, or the idle settling of a journal) has taken longer than
TAKEOVER_S, a stand-in thread takes the socket: it answers PING at once and
keeps every other request, in order, for the loop.  So a liveness probe is
answered even while a request waits on a stalled database, and the role's
readiness check and the operators' monitoring never mistake a slow request
for a dead service.  Each connection still gets its replies in the order of
its requests (the modules pipeline STATUS requests on one DEALER socket and
match replies by position): a PING from a connection whose request is in
hand, or kept, waits its turn behind it.

A ZeroMQ socket may move between threads when a full memory barrier
separates their uses: ``_sock_lock`` is that barrier, and only its holder
touches the socket.

Work another thread hands the loop (the audit job's repairs, audit_job.py's
Handoff) wakes it through a file descriptor polled together with the socket,
and runs between two requests, as a request would, followed by the same
clean-up (``after_reply``): a hand-off waits for no poll interval.

No exception ends the loop: one that escapes the handler (which should
catch everything itself) is logged and the request is answered with an
internal error.  Only the periodic check (``every``) may stop it on purpose,
and a stand-in thread that died stops it with ThreadDied, so the process
exits non-zero and systemd starts a whole one again.
"""

from __future__ import annotations

import collections
import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq

from .protocol import error

log = logging.getLogger(__name__)

#: how long one receive waits before the loop looks at the stop flag again
POLL_MS = 200
#: how long a request may keep the loop busy before the stand-in answers PING in its place
TAKEOVER_S = 0.05
#: how long one poll of the stand-in waits before it looks whether the loop is free again
STAND_IN_POLL_MS = 10
#: the reply to a request whose handling failed in a way the handler did not catch
INTERNAL_ERROR = error("internal error: see the Mr Chase log")


class ThreadDied(Exception):
    """A thread the service cannot work without has died: the process exits, and systemd restarts it."""


class Wake(Protocol):
    """Work handed to the loop from another thread (audit_job.Handoff)."""

    pending: bool

    def fileno(self) -> int:
        """Readable when work waits."""

    def run_pending(self) -> None:
        """Run the work that waits, on the loop's thread; never raises."""


#: what _next returns when handed work waits
WAKE: tuple[list[bytes], list[bytes]] = ([], [])


class Handler(Protocol):
    """What the loop needs of the service (service.Service)."""

    stopping: bool

    def handle(self, frames: list[bytes]) -> bytes:
        """The reply to one request; never raises."""

    def after_reply(self) -> None:
        """The request's clean-up, once its reply is on its way."""

    def idle(self) -> None:
        """Called when the loop has had nothing to do for a while."""


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(routing envelope, message frames): a REQ or DEALER peer puts an empty delimiter after its identity."""
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], frames[2:]
    return frames[:1], frames[1:]


class RequestLoop:
    def __init__(self, handler: Handler, sock: zmq.Socket, ping: bytes, pong: Callable[[], bytes],
                 every: Callable[[], None], idle_interval: float, wake: Wake | None = None):
        """``pong`` returns the reply to PING, ready made (never a query: the stand-in calls it too); ``wake``
        hands the loop work from other threads."""
        self.handler, self.sock, self.ping, self.pong = handler, sock, ping, pong
        self.wake = wake
        #: the socket and the wake-up, polled together (only with a wake-up: else a receive waits)
        self._poller = zmq.Poller()
        if wake is not None:
            self._poller.register(sock, zmq.POLLIN)
            self._poller.register(wake.fileno(), zmq.POLLIN)
        self.every = every  # the periodic check (the socket file is still ours)
        self.idle_interval = idle_interval
        self.sock.setsockopt(zmq.RCVTIMEO, POLL_MS)
        self._sock_lock = threading.Lock()
        #: requests the stand-in received while the loop was busy, in order, and how many per connection
        self._kept: collections.deque[tuple[list[bytes], list[bytes]]] = collections.deque()
        self._kept_per_peer: collections.Counter[bytes] = collections.Counter()
        #: the connection whose request is in hand, and since when the loop is busy (None: it is not)
        self._in_hand: bytes | None = None
        self._busy_since: float | None = None
        self._closing = threading.Event()

    def run(self) -> None:
        stand_in = threading.Thread(target=self._stand_in, name="mr-chase-stand-in", daemon=True)
        stand_in.start()
        quiet_since = time.monotonic()
        try:
            while not self.handler.stopping:
                item = self._next()
                if item is WAKE:
                    self._run_handed()
                    quiet_since = time.monotonic()
                # a PING does not count as work: probes in a steady stream must not starve the idle work
                elif item is not None and self._serve(*item):
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= self.idle_interval:
                    self._busy(None, self._survive, self.handler.idle)
                    quiet_since = time.monotonic()
                if not stand_in.is_alive():
                    raise ThreadDied("the stand-in thread that answers PING died (see the log); exiting so that "
                                     "the service is restarted whole")
                self.every()
        finally:
            self._closing.set()
            stand_in.join()

    def _next(self) -> tuple[list[bytes], list[bytes]] | None:
        """WAKE when handed work waits, else the oldest request the stand-in kept, else the next one from the
        socket (None after POLL_MS)."""
        if self.wake is not None and self.wake.pending:
            return WAKE
        with self._sock_lock:
            if self._kept:
                envelope, body = self._kept.popleft()
                self._kept_per_peer[envelope[0]] -= 1
                if not self._kept_per_peer[envelope[0]]:
                    del self._kept_per_peer[envelope[0]]
                return envelope, body
            if self.wake is None:
                try:
                    frames = self.sock.recv_multipart()
                except zmq.Again:
                    return None
            else:
                ready = dict(self._poller.poll(POLL_MS))
                if self.wake.fileno() in ready:
                    return WAKE
                if self.sock not in ready:
                    return None
                frames = self.sock.recv_multipart(zmq.NOBLOCK)
        return split_envelope(frames)

    def _run_handed(self) -> None:
        """Handed work, as a request: the stand-in answers PING meanwhile, the clean-up follows."""
        self._busy(None, self._survive, self.wake.run_pending)
        self._busy(None, self._survive, self.handler.after_reply)

    def _serve(self, envelope: list[bytes], body: list[bytes]) -> bool:
        """Answer one request; False for a PING (answered from the ready frame, no work done)."""
        if body == [self.ping]:
            self._send(envelope, self.pong())
            return False
        started = time.monotonic()
        reply = self._busy(envelope[0], self._survive, self.handler.handle, body)
        self._send(envelope, INTERNAL_ERROR if reply is None else reply)
        self._busy(None, self._survive, self.handler.after_reply)
        if log.isEnabledFor(logging.DEBUG):
            log.debug("request handled in %.1f ms", (time.monotonic() - started) * 1000)
        return True

    def _send(self, envelope: list[bytes], reply: bytes) -> None:
        with self._sock_lock:
            self.sock.send_multipart([*envelope, reply])

    def _busy(self, identity: bytes | None, work: Callable, *args):
        """Run ``work`` with the socket left to the stand-in should it take longer than TAKEOVER_S."""
        self._in_hand, self._busy_since = identity, time.monotonic()
        try:
            return work(*args)
        finally:
            self._busy_since = None  # before the caller takes the lock: the stand-in lets go of it

    @staticmethod
    def _survive(work: Callable, *args):
        """``work(*args)``, or None after logging whatever it raised: the loop outlives any of its steps."""
        try:
            return work(*args)
        except Exception:
            log.exception("%s failed; the service carries on", getattr(work, "__name__", work))
            return None

    def _stand_in(self) -> None:
        try:
            self._stand_in_loop()
        except Exception:  # the loop notices the thread is gone and stops the service
            log.exception("the stand-in thread died")

    def _stand_in_loop(self) -> None:
        """Every TAKEOVER_S: when the loop has been busy for that long, hold the socket until it is free."""
        while not self._closing.wait(TAKEOVER_S):
            since = self._busy_since
            if since is None or time.monotonic() - since < TAKEOVER_S:
                continue
            with self._sock_lock:
                while self._busy_since is since and not self._closing.is_set():
                    if self.sock.poll(STAND_IN_POLL_MS):
                        self._take(self.sock.recv_multipart(zmq.NOBLOCK))

    def _take(self, frames: list[bytes]) -> None:
        """Answer a PING whose connection has nothing in hand or kept; keep anything else for the loop."""
        envelope, body = split_envelope(frames)
        identity = envelope[0]
        if body == [self.ping] and identity != self._in_hand and not self._kept_per_peer[identity]:
            self.sock.send_multipart([*envelope, self.pong()])
            return
        self._kept.append((envelope, body))
        self._kept_per_peer[identity] += 1
