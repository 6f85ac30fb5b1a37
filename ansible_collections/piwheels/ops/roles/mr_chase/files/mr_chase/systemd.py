"""Telling systemd how the service is (sd_notify(3)), with the standard library: one datagram per state.

Under ``Type=notify`` systemd counts the service started only at
``READY=1``, sent once start-up recovery is done and the queue is bound, so
``systemctl start`` (and the role after it) waits for a service that can
answer.  With ``WatchdogSec=`` it restarts a service that stops sending
``WATCHDOG=1``: the request loop sends it (``Watchdog.kick``, after every
turn), never the stand-in thread that answers PING, so a loop that is wedged
(or a worker that died without taking the process with it) is restarted
although PING would still be answered.  Without ``$NOTIFY_SOCKET`` (the
supervised mode of ``mr-chase-ctl``, the tests) nothing is sent.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger(__name__)


def notify(state: str) -> bool:
    """Send ``state`` (e.g. ``READY=1``) to $NOTIFY_SOCKET; False when there is none or it cannot be reached."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode("utf-8"))
    except OSError as exc:
        log.warning("cannot tell systemd %s at %s: %s", state, address.replace("\0", "@"), exc)
        return False
    return True


class Watchdog:
    """``WATCHDOG=1`` at half systemd's watchdog interval ($WATCHDOG_USEC), from the thread that calls kick()."""

    def __init__(self) -> None:
        usec, pid = os.environ.get("WATCHDOG_USEC", ""), os.environ.get("WATCHDOG_PID", "")
        meant_for_us = not pid or pid == str(os.getpid())
        #: seconds between keep-alives; None when systemd watches no watchdog for this process
        self.interval = int(usec) / 2e6 if usec.isdigit() and int(usec) > 0 and meant_for_us else None
        self._next = 0.0

    def kick(self) -> None:
        """Cheap enough to call after every turn of the loop: sends only when the interval is due."""
        if self.interval is None:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            notify("WATCHDOG=1")
