"""What PONG says besides the version: whether this Mr Chase can serve changes, and what an operator should know.

A live process is not a working service: a role that lost a grant answers
every PING and serves no change.  PONG therefore carries a health object::

    ["PONG", version, {"degraded": [...], "warnings": [...], "stale_pages": n, "parked_notices": n,
                       "archive_pending": n}]

``degraded`` (non-empty: changes cannot be served, e.g. a missing privilege)
fails the role's readiness probe and is what monitoring alerts on;
``warnings`` (e.g. a role holding more than the documented grants) do not;
``archive_pending`` counts the removed files archive hosts still serve (the
ledger's ``archive`` debts, until ARCHIVED acknowledges them).
PING is answered from a frame built here ahead of time, so neither the loop
nor its stand-in ever waits on a query or a lock to answer it: the frame is
rebuilt whenever what it says changes (``degrade``, ``recover``,
``refresh``), from any thread.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from .protocol import encode_reply


class Health:
    def __init__(self, version: str, warnings: Callable[[], list[str]], stale_pages: Callable[[], int],
                 parked_notices: Callable[[], int], archive_pending: Callable[[], int]):
        self._version = version
        self._sources = warnings, stale_pages, parked_notices, archive_pending
        #: cause (a short key) -> the reason PONG gives, in the order they arose
        self._degraded: dict[str, str] = {}
        self._lock = threading.Lock()
        self.frame = b""
        self.refresh()

    def pong(self) -> bytes:
        """The reply to PING, ready to send."""
        return self.frame

    def degraded_by(self, cause: str) -> bool:
        return cause in self._degraded

    @property
    def degraded(self) -> bool:
        return bool(self._degraded)

    def degrade(self, cause: str, reason: str) -> bool:
        """Say that ``cause`` stops the service from serving changes; True when that is news (to log it once)."""
        with self._lock:
            if self._degraded.get(cause) == reason:
                return False
            self._degraded[cause] = reason
            self._rebuild()
        return True

    def recover(self, cause: str) -> bool:
        """``cause`` is gone; True when it had been there."""
        with self._lock:
            if self._degraded.pop(cause, None) is None:
                return False
            self._rebuild()
        return True

    def refresh(self) -> None:
        """Rebuild the frame from the sources (cheap: no query; the counts are kept by their owners).
        Called by the service while idle and by the notifier's thread when it parks an entry."""
        with self._lock:
            self._rebuild()

    def _rebuild(self) -> None:
        warnings, stale_pages, parked_notices, archive_pending = self._sources
        state = {"degraded": list(self._degraded.values()), "warnings": list(warnings()),
                 "stale_pages": stale_pages(), "parked_notices": parked_notices(),
                 "archive_pending": archive_pending()}
        self.frame = encode_reply("PONG", self._version, state)
