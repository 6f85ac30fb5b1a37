"""A stand-in for piw-master's import queue (its Mr Chase task), for tests and the demo.

piw-master is not installable from PyPI, so the tests cannot run it.  This
plays the part of its import queue as far as our Mr Chase is concerned: a
ROUTER socket taking one CBOR frame ``[msg, data]``, checked against exactly
the schema upstream declares (piwheels/protocols.py, pinned in
tests/upstream_format.json) and nothing else.  A message that breaks the
schema is logged and gets no reply, as upstream's ``recv_msg`` failure path
does.  What a valid message does, as upstream in effect (read with the
SELECT-only ``piwheels`` account: the stand-in never writes the database):

* REMVER and REBUILD BOTH have the page writer (scribe.py) rewrite the
  package's simple page, project page and JSON from the database, as
  piw-master's the_scribe does; REMVER's version is left out of them, as
  upstream's ``exclude={version}``.  A package the page writer's cache has
  not seen also gets the root ``simple/index.html`` rewritten from that cache,
  as the_scribe's write_package_index does.
* REBUILD SEARCH and HOME have big_brother's search index written:
  ``packages.json`` from the database (upstream also writes the home page and
  sitemap, which no test looks at).
* REMPKG answers NOPKG for a package the database does not know; for a known
  one it does what upstream's page writer does whatever the flags: drops the
  package from its cache, rewrites the root index from the cache, unlinks the
  alias symlinks, the package's wheels and pages, and removes its
  directories.  (The database rows it would delete through upstream's
  functions stay: the stand-in cannot write.)

Every accepted message is kept in ``accepted`` (and appended to ``--record``),
so that a test can assert what Mr Chase sent and what it never sent.

The page writer's cache is upstream's too: the_scribe loads the set of
packages once at start-up and only REMPKG removes a name from it.  So a
package deleted behind its back (as Mr Chase's DELETE does, never sending
REMPKG) comes back into the root index the next time the cache writes it
(a new package's first BOTH), until piw-master restarts.

    python -m piwheels_testbed master --queue ipc:///tmp/x --dsn DSN --output DIR --record FILE
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import cbor2
import psycopg
import zmq

from .scribe import simple_index, write_pages, write_search_index

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
        #: the_scribe's package_cache: loaded from the database once, changed only by new packages and REMPKG
        self.package_cache: set[str] | None = None

    def sent(self, msg: str) -> list[list]:
        """The accepted messages of type ``msg`` (e.g. ``sent("REMPKG") == []``)."""
        return [message for message in self.accepted if message[0] == msg]

    def start(self) -> StandInMaster:
        """Bind now (so the caller knows the queue exists) and serve in a thread."""
        self._load_cache()
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
        if msg == "REBUILD" and data[0] in ("SEARCH", "HOME"):
            return self._search_index()
        if msg == "REMPKG":
            return self._remove_package(*data)
        return ["DONE", msg]

    def _load_cache(self) -> set[str] | None:
        if self.package_cache is None and self.dsn is not None:
            with psycopg.connect(self.dsn) as conn:
                self.package_cache = {row[0] for row in conn.execute("SELECT package FROM packages")}
        return self.package_cache

    def _write_root_index(self) -> None:
        """the_scribe's write_simple_index: the root index from the cache (not from the database)."""
        (self.output / "simple" / "index.html").write_text(simple_index(self.package_cache), encoding="utf-8")

    def _search_index(self) -> list:
        if self.dsn is not None and self.output is not None:
            with psycopg.connect(self.dsn) as conn:
                write_search_index(conn, self.output)
        return ["DONE", "REBUILD"]

    def _remove_package(self, package: str, builds: bool, skip: str) -> list:
        """do_remove_package's answer, and its page writer's DELPKG on disk (never the rows: read-only)."""
        action = "DELPKGBLD" if builds else "SKIPPKG" if skip else "DELPKG"
        if self.dsn is None or self.output is None:
            return ["DONE", action]
        with psycopg.connect(self.dsn) as conn:
            if conn.execute("SELECT 1 FROM packages WHERE package = %s", (package,)).fetchone() is None:
                return ["ERROR", "NOPKG"]
            aliases = [r[0] for r in conn.execute(
                "SELECT name FROM package_names WHERE package = %s AND name <> %s", (package, package))]
            wheels = [r[0] for r in conn.execute(
                "SELECT f.filename FROM builds b JOIN files f USING (build_id) WHERE b.status AND b.package = %s",
                (package,))]
        self._load_cache().discard(package)
        self._write_root_index()
        simple, project = self.output / "simple" / package, self.output / "project" / package
        doomed = [self.output / "project" / alias for alias in aliases] + [simple / w for w in wheels]
        doomed += [simple / "index.html", project / "index.html", project / "json" / "index.json"]
        for path in doomed:
            path.unlink(missing_ok=True)
        for directory in (simple, project / "json", project):
            with contextlib.suppress(OSError):  # upstream logs and carries on (an unknown file keeps its directory)
                directory.rmdir()
        return ["DONE", action]

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
        if package not in self._load_cache():
            self.package_cache.add(package)
            self._write_root_index()
        return ["DONE", action]
