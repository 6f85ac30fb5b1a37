"""How an audit's scan gives way to Mr Chase's requests, in Mr Chase's own thread or in its worker processes.

The service loop says when it starts and ends serving a request
(``serving``); the scan calls ``wait`` before each package and waits while a
request is served.  A wait ends after ``limit`` seconds whatever happens: a
request that never ends never stops an audit for good.

Setting the flag must cost the loop nothing: a ``multiprocessing.Event``
would not do, as its ``set`` waits until every waiting process has woken up
(context switches each reply waited for, on a machine whose cores the woken
workers then take).  The workers' flag is a byte of shared memory instead,
which Mr Chase writes and the workers read without a system call.  (Waiting
on after a request, for its reply to leave, was measured too: it made both
the REMOVEs and the audit slower.)
"""

from __future__ import annotations

import ctypes
import multiprocessing
import threading
import time

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

    def serving(self, busy: bool) -> None:
        if busy:
            self._quiet.clear()
        else:
            self._quiet.set()

    def wait(self, limit: float = QUIET_WAIT_S) -> None:
        self._quiet.wait(limit)


class SharedGiveWay:
    """For the scan's worker processes: whether a request is being served, in shared memory; a worker waiting
    looks at it every POLL_S."""

    def __init__(self) -> None:
        self._busy = multiprocessing.get_context("spawn").RawValue(ctypes.c_bool, False)

    def serving(self, busy: bool) -> None:
        self._busy.value = busy

    def wait(self, limit: float = QUIET_WAIT_S) -> None:
        if not self._busy.value:
            return
        deadline = time.monotonic() + limit
        while self._busy.value and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(POLL_S, left))


__all__ = ["QUIET_WAIT_S", "GiveWay", "SharedGiveWay"]
