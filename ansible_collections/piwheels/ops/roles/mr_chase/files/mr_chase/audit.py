"""The audit log: one JSON line for every REMOVE or SKIP that changed something.

Operators answer "who removed what, when" from this file, so it records
only real changes (a repeated request adds nothing) and is appended to, never
rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)


class AuditLog:
    """Appends to one file, kept open between records; reopened when it was rotated or removed."""

    def __init__(self, path: Path | None):
        self.path = path
        self._stream: TextIO | None = None
        self._lock = threading.Lock()  # the master notifier records from its own thread
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def record(self, request: list, outcome: str, **details: Any) -> None:
        """Append one line; an audit failure is logged, never turned into a failed removal."""
        if self.path is None:
            return
        line: dict[str, Any] = {
            "time": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
            "request": request,
            **details,
            "outcome": outcome,
        }
        with self._lock:
            try:
                stream = self._open()
                stream.write(json.dumps(line, ensure_ascii=False) + "\n")
                stream.flush()
            except OSError as exc:
                log.error("cannot write the audit log %s: %s", self.path, exc)
                self.close()

    def _open(self) -> TextIO:
        """The open stream, or a new one if the file at ``path`` is no longer the one we hold (logrotate)."""
        stream = self._stream
        if stream is not None:
            try:
                current = os.stat(self.path)
                held = os.fstat(stream.fileno())
                if (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                    return stream
            except FileNotFoundError:
                pass
            self.close()
        self._stream = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 (kept open on purpose)
        return self._stream

    def close(self) -> None:
        if self._stream is not None:
            with contextlib.suppress(OSError):
                self._stream.close()
            self._stream = None
