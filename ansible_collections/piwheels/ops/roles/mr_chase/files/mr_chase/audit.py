"""The audit log: one JSON line for every REMOVE or SKIP that changed something.

Operators answer "who removed what, when" from this file, so it records
only real changes (a repeated request adds nothing) and is appended to, never
rewritten.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


class AuditLog:
    def __init__(self, path: Path | None):
        self.path = path
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
        try:
            with open(self.path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(line, ensure_ascii=False) + "\n")
        except OSError as exc:
            log.error("cannot write the audit log %s: %s", self.path, exc)
