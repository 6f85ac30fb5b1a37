"""The request loop: a ROUTER socket whose own thread answers PING at once, and one worker for the rest.

Requests that touch the database or the tree are handled one at a time, in
the order they arrived, by a worker thread; the thread that owns the socket
only receives, replies and answers PING.  So a liveness probe is answered
at once even while the worker waits on a stalled database, and the role's
readiness check and the operators' monitoring never mistake a slow request
for a dead service.  Each connection still gets its replies in the order of
its requests (the modules pipeline STATUS requests on one DEALER socket and
match replies by position): a PING from a connection that has requests in
the worker's queue waits its turn behind them.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Protocol

import zmq

log = logging.getLogger(__name__)

#: how long one poll of the socket waits before the loop looks at the stop flag again
POLL_MS = 200
DONE_ADDRESS = "inproc://mr-chase-replies"


class Handler(Protocol):
    """What the loop needs of the service (service.Service)."""

    stopping: bool

    def handle(self, frames: list[bytes]) -> bytes:
        """The reply to one request; never raises."""

    def after_reply(self) -> None:
        """The request's clean-up, once its reply is on its way."""

    def idle(self) -> None:
        """Called when the worker has had nothing to do for a while."""


def split_envelope(frames: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(routing envelope, message frames): a REQ or DEALER peer puts an empty delimiter after its identity."""
    if len(frames) >= 2 and frames[1] == b"":
        return frames[:2], frames[2:]
    return frames[:1], frames[1:]


class RequestLoop:
    def __init__(self, handler: Handler, sock: zmq.Socket, context: zmq.Context, ping: bytes, pong: bytes,
                 every: Callable[[], None], idle_interval: float):
        self.handler, self.sock, self.ping, self.pong = handler, sock, ping, pong
        self.every = every  # the socket thread's periodic check (the socket file is still ours)
        self.idle_interval = idle_interval
        #: SimpleQueue: its put and get are C code, with none of Queue's Python-level Condition on the way
        #: of every request from the socket's thread to the worker
        self.requests: queue.SimpleQueue = queue.SimpleQueue()
        self.in_flight: collections.Counter[bytes] = collections.Counter()
        self.done = context.socket(zmq.PULL)
        self.done.bind(DONE_ADDRESS)
        self.context = context

    def run(self) -> None:
        worker = threading.Thread(target=self._work, name="mr-chase-worker", daemon=True)
        worker.start()
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        poller.register(self.done, zmq.POLLIN)
        try:
            while not self.handler.stopping:
                events = dict(poller.poll(POLL_MS))
                if self.done in events:
                    self._reply()
                if self.sock in events:
                    self._receive()
                self.every()
        finally:
            self.requests.put(None)
            worker.join()
            while self.done.poll(0):  # the request the worker finished while stopping
                self._reply()
            self.done.close()

    def _receive(self) -> None:
        frames = self.sock.recv_multipart(zmq.NOBLOCK)
        envelope, body = split_envelope(frames)
        identity = envelope[0]
        if body == [self.ping] and not self.in_flight[identity]:
            self.sock.send_multipart([*envelope, self.pong])
            return
        self.in_flight[identity] += 1
        self.requests.put((envelope, body))

    def _reply(self) -> None:
        frames = self.done.recv_multipart()
        identity = frames[0]
        self.in_flight[identity] -= 1
        if not self.in_flight[identity]:
            del self.in_flight[identity]
        self.sock.send_multipart(frames)

    def _work(self) -> None:
        """One request at a time: its reply goes to the socket's thread, then its clean-up runs here."""
        replies = self.context.socket(zmq.PUSH)
        replies.connect(DONE_ADDRESS)
        try:
            while True:
                try:
                    item = self.requests.get(timeout=self.idle_interval)
                except queue.Empty:
                    self.handler.idle()
                    continue
                if item is None or self.handler.stopping:
                    return
                envelope, body = item
                started = time.monotonic()
                replies.send_multipart([*envelope, self.handler.handle(body)])
                self.handler.after_reply()
                log.debug("request handled in %.1f ms", (time.monotonic() - started) * 1000)
        finally:
            replies.close(linger=1000)
