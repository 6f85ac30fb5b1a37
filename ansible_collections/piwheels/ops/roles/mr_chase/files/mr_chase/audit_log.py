"""The audit log: one JSON line for every change (REMOVE, SKIP, ...) and every notice's fate.

Not the site audit (audit_job.py, site_scan.py, site_repair.py), which compares the database with the tree: this is
the record of what was changed, by which request, when.

Operators answer "who removed what, when" from this file, so it records
only real changes (a repeated request adds nothing) and is appended to, never
rewritten.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import json
import logging
import os
import threading
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

#: how much of the end of the log :meth:`AuditLog.trail` reads
TRAIL_BYTES = 1 << 20
#: the changes :meth:`AuditLog.removals` finds: those after which a name or a version is gone
REMOVALS = ("FORGET", "DELETE")


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:  # the first line read may be cut, a crash may have cut the last
        return None
    return record if isinstance(record, dict) else None


def _removes(record: dict[str, Any], package: str) -> bool:
    """Whether a record is a FORGET or DELETE of ``package`` that was done (settled by recovery included)."""
    request = record.get("request")
    return (isinstance(request, list) and len(request) > 1 and request[0] in REMOVALS and request[1] == package
            and str(record.get("outcome", "")).startswith("done"))


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

    def removals(self, package: str) -> list[dict[str, Any]]:
        """Every FORGET and DELETE of ``package`` (canonical) the log and its rotated copies record, oldest first.

        MATCH asks this to tell a version or package that was removed (and
        when) from one that never existed.  logrotate keeps the copies as
        ``audit.log.1``, ``audit.log.2.gz``, ...; each is read line by line and
        only lines that name the package are parsed, so five years of log cost
        one pass over the files, on this rare path only.
        """
        if self.path is None:
            return []
        needles = [f'["{kind}", {json.dumps(package, ensure_ascii=False)}'.encode() for kind in REMOVALS]
        found: list[dict[str, Any]] = []
        for path in reversed(self._copies()):
            found.extend(record for record in self._lines_with(path, needles) if _removes(record, package))
        return found

    def _copies(self) -> list[Path]:
        """The log and its rotated copies, newest first."""
        assert self.path is not None
        numbered = []
        for copy in self.path.parent.glob(self.path.name + ".*"):
            number = copy.name[len(self.path.name) + 1:].removesuffix(".gz")
            if number.isdigit():
                numbered.append((int(number), copy))
        return [self.path, *(copy for _number, copy in sorted(numbered))]

    @staticmethod
    def _lines_with(path: Path, needles: list[bytes]) -> list[dict[str, Any]]:
        opener = gzip.open if path.suffix == ".gz" else open
        try:
            with opener(path, "rb") as stream:
                lines = [line for line in stream if any(needle in line for needle in needles)]
        except (OSError, EOFError) as exc:  # a copy being rotated away, a cut .gz: read what there is
            log.warning("cannot read the audit log %s: %s", path, exc)
            return []
        return [record for record in map(_parse, lines) if record is not None]

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
