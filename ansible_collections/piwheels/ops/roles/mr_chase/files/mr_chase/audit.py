"""The audit log: one JSON line for every change (REMOVE, SKIP, ...) and every notice's fate.

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

#: how much of the end of the log :meth:`AuditLog.trail` reads
TRAIL_BYTES = 1 << 20


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # the first line read may be cut, a crash may have cut the last
        return None
    return record if isinstance(record, dict) else None


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

    def trail(self, token: str) -> list[dict[str, Any]] | None:
        """The records from the first one that carries ``token`` to the end of the log; None if none does.

        Recovery asks this before it audits or notifies a change again, so
        that each change is audited and notified once across any number of
        recovery passes.  The change recovery settles is the last one begun,
        so its records are at the end of the log: only the last TRAIL_BYTES
        are read.  (A log rotated in between hides them: the change is then
        audited again, which is better than never.)
        """
        if self.path is None:
            return None
        needle = f'"token": "{token}"'.encode()
        with self._lock:
            try:
                with open(self.path, "rb") as stream:
                    stream.seek(max(0, os.fstat(stream.fileno()).st_size - TRAIL_BYTES))
                    lines = stream.read().splitlines()
            except OSError:
                return None
        for index, line in enumerate(lines):
            if needle in line:
                return [record for record in map(_parse, lines[index:]) if record is not None]
        return None

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
