"""How an audit's scan gives way to Mr Chase's requests, in Mr Chase's own thread or in its worker processes.

The service loop says when it starts and ends serving a request
(``serving``); the scan calls ``wait`` before each package and waits while a
request is served and for GRACE_S after it, so that the reply leaves (zmq's
I/O thread sends it after the loop is done) and the client's next request
(a module's JOB after its REMOVE) finds the cores free.  A wait ends after
``limit`` seconds whatever happens: a request that never ends never stops an
audit for good.

Setting the flag must cost the loop nothing: a ``multiprocessing.Event``
would not do, as its ``set`` waits until every waiting process has woken up
(two context switches the reply waits for, on a machine whose cores the
woken workers then take).  The workers' flag is a time in shared memory
instead, which Mr Chase writes and the workers read without a system call.
"""

from __future__ import annotations

import ctypes
import math
import multiprocessing
import threading
import time

#: how long the scan still waits after a request ends
GRACE_S = 0.002
#: how often a waiting worker process looks at the flag again
POLL_S = 0.001
#: the longest one wait lasts
QUIET_WAIT_S = 1.0


class GiveWay:
    """For the scan's thread in Mr Chase: an event, as a thread that blocks on it needs no interpreter time
    (the loop serving the request has the interpreter to itself)."""

    def __init__(self) -> None:
        self._quiet = threading.Event()
        self._quiet.set()
        self._ended = 0.0

    def serving(self, busy: bool) -> None:
        if busy:
            self._quiet.clear()
        else:
            self._ended = time.monotonic()
            self._quiet.set()

    def wait(self, limit: float = QUIET_WAIT_S) -> None:
        deadline = time.monotonic() + limit
        while self._quiet.wait(max(0.0, deadline - time.monotonic())):
            now = time.monotonic()
            rest = min(self._ended + GRACE_S, deadline) - now
            if rest <= 0:
                return
            time.sleep(rest)


class SharedGiveWay:
    """For the scan's worker processes: the time until which they wait (infinity while a request is served),
    in shared memory; a worker waiting looks at it every POLL_S."""

    def __init__(self) -> None:
        self._until = multiprocessing.get_context("spawn").RawValue(ctypes.c_double, 0.0)

    def serving(self, busy: bool) -> None:
        self._until.value = math.inf if busy else time.monotonic() + GRACE_S

    def wait(self, limit: float = QUIET_WAIT_S) -> None:
        now = time.monotonic()
        deadline = now + limit
        while now < deadline and (until := self._until.value) > now:
            time.sleep(min(until, deadline, now + POLL_S) - now)
            now = time.monotonic()


__all__ = ["GRACE_S", "QUIET_WAIT_S", "GiveWay", "SharedGiveWay"]
