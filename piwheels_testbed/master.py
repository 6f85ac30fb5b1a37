"""A stand-in for piw-master's import queue (its Mr Chase task), for tests and the demo.

piw-master is not installable from PyPI, so the tests cannot run it.  This
plays the part of its import queue as far as our Mr Chase is concerned: a
ROUTER socket taking one CBOR frame ``[msg, data]``, checked against exactly
the schema upstream declares (piwheels/protocols.py, pinned in
tests/upstream_format.json) and nothing else.  A message that breaks the
schema is logged and gets no reply, as upstream's ``recv_msg`` failure path
does.  A valid REMVER or REBUILD BOTH has the page writer (scribe.py)
rewrite the package's simple page, project page and JSON from the database,
as piw-master's the_scribe does; REMVER's version is left out of them, as
upstream's ``exclude={version}``.

    python -m piwheels_testbed master --queue ipc:///tmp/x --dsn DSN --output DIR --record FILE
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import cbor2
import psycopg
import zmq

from .scribe import write_pages

FORMAT = Path(__file__).resolve().parents[1] / "tests" / "upstream_format.json"
_TYPES = {"str": str, "bool": bool, "datetime": dt.datetime, "null": type(None)}


def load_schema() -> dict[str, list[list[str]]]:
    return json.loads(FORMAT.read_text())["mr_chase"]["recv"]


def _matches(value: Any, spec: str) -> bool:
    if spec.startswith("="):
        return value == spec[1:]
    if spec == "list[str]":
        return isinstance(value, list) and all(isinstance(item, str) for item in value)
    # voluptuous checks types with isinstance; CBOR has a distinct bool, so True is no str
    return any(type(value) is _TYPES[kind] for kind in spec.split("|"))


def check(message: Any, schema: dict[str, list[list[str]]]) -> tuple[str, list] | None:
    """(msg, data) when ``message`` is one upstream's import queue accepts, else None."""
    if not (isinstance(message, list) and len(message) == 2 and message[0] in schema):
        return None
    msg, data = message
    for shape in schema[msg]:
        if isinstance(data, list) and len(data) == len(shape) and all(map(_matches, data, shape)):
            return msg, data
    return None


class StandInMaster:
    """Bind ``queue``, answer as piw-master would, record every message (accepted or not)."""

    def __init__(self, queue: str, dsn: str | None = None, output: Path | None = None,
                 record: Path | None = None):
        self.queue, self.dsn, self.output, self.record_path = queue, dsn, output, record
        self.schema = load_schema()
        self.accepted: list[list] = []
        self.rejected: list[bytes] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sock: zmq.Socket | None = None

    def start(self) -> StandInMaster:
        """Bind now (so the caller knows the queue exists) and serve in a thread."""
        self._sock = zmq.Context.instance().socket(zmq.ROUTER)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(self.queue)
        self._thread = threading.Thread(target=self.serve, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def serve(self) -> None:
        sock = self._sock
        try:
            while not self._stop.is_set():
                if sock.poll(100):
                    address, _empty, frame = sock.recv_multipart()
                    reply = self.handle(frame)
                    if reply is not None:
                        sock.send_multipart([address, b"", cbor2.dumps(reply)])
        finally:
            sock.close()

    def handle(self, frame: bytes) -> list | None:
        """The reply, or None for a message upstream would drop (undecodable or off-schema)."""
        try:
            checked = check(cbor2.loads(frame), self.schema)
        except (cbor2.CBORDecodeError, ValueError, TypeError):
            checked = None
        if checked is None:
            self.rejected.append(frame)
            return None
        msg, data = checked
        self.accepted.append([msg, data])
        if self.record_path is not None:
            with self.record_path.open("a", encoding="utf-8") as stream:
                stream.write(json.dumps([msg, data], default=str) + "\n")
        return self._act(msg, data)

    def _act(self, msg: str, data: list) -> list:
        if msg == "REMVER":
            return self._rewrite(data[0], data[1], "DELVERBLD")
        if msg == "REBUILD" and data[0] == "BOTH" and data[1] is not None:
            return self._rewrite(data[1], None, "REBUILD")
        return ["DONE", msg]

    def _rewrite(self, package: str, version: str | None, action: str) -> list:
        if self.dsn is None or self.output is None:
            return ["DONE", action]
        with psycopg.connect(self.dsn) as conn:
            if version is None:
                known = conn.execute("SELECT 1 FROM packages WHERE package = %s", (package,)).fetchone()
            else:
                known = conn.execute("SELECT 1 FROM versions WHERE package = %s AND version = %s",
                                     (package, version)).fetchone()
            if known is None:
                return ["ERROR", "NOVER" if version else f"unknown package {package}"]
            write_pages(conn, self.output, package, exclude=frozenset({version} - {None}))
        return ["DONE", action]
