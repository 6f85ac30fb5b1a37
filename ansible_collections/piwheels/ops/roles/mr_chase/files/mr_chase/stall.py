"""A deadline on every database round trip, kept by the client, not the server.

``statement_timeout`` is enforced by the server process running the
statement, and ``tcp_user_timeout`` and keepalives only act on TCP; a server
that stops answering on a unix socket (a stalled disk, a stopped backend)
would hold Mr Chase's single request loop for ever.  ``StallWatch`` is one
idle thread that, when a guarded database call outlives its deadline, shuts
the connection's socket down: the call then fails at once as a lost
connection, and the request gets a reply naming the cause.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable


class StallWatch:
    def __init__(self, limit: float, fileno: Callable[[], int | None]):
        self.limit = limit
        self._fileno = fileno
        self._deadline: float | None = None
        self._depth = 0
        self.fired = False
        self._thread: threading.Thread | None = None

    def __enter__(self) -> StallWatch:
        if self._depth == 0:
            self.fired = False
            self._deadline = time.monotonic() + self.limit
            if self._thread is None:
                self._thread = threading.Thread(target=self._watch, name="stall-watch", daemon=True)
                self._thread.start()
        self._depth += 1
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._depth -= 1
        if self._depth == 0:
            self._deadline = None

    def _watch(self) -> None:
        while True:
            time.sleep(0.5)
            deadline = self._deadline
            if deadline is not None and time.monotonic() > deadline:
                self._cut()

    def _cut(self) -> None:
        fd = self._fileno()
        if fd is None:
            return
        self.fired = True
        self._deadline = None
        try:
            with socket.socket(fileno=os.dup(fd)) as sock:
                sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass  # already closed: the call has ended anyway
