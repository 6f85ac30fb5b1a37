# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""Fake Mr Chase peers for the client and module tests: real ZeroMQ sockets, in-process.

The peer is a ROUTER socket rather than REP so that it can choose not to
answer a request, which is how a stuck or dead Mr Chase looks to the client.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import shutil
import tempfile
import threading
from pathlib import Path

import pytest
import zmq
from packaging.version import InvalidVersion, Version

VECTORS_PATH = Path(__file__).resolve().parents[2] / "protocol_vectors.json"
DEFAULT_SKIP_REASON = "removed by request"
#: when the fake's audit log says each FORGET and DELETE happened
RECORDED = "2026-01-02T03:04:05Z"


@pytest.fixture(scope="session")
def vectors():
    """The wire-format vectors shared with the service's tests."""
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


class Peer(threading.Thread):
    """Answers each request frame with ``handler(frame)``; a None answer means "never answer"."""

    def __init__(self, address, handler):
        super().__init__(daemon=True)
        self.address = address
        self.handler = handler
        self.requests = []
        self._stop_event = threading.Event()
        self._ready = threading.Event()

    def run(self):
        context = zmq.Context()
        sock = context.socket(zmq.ROUTER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.bind(self.address)
        self._ready.set()
        try:
            while not self._stop_event.is_set():
                if not sock.poll(20, zmq.POLLIN):
                    continue
                identity, empty, frame = sock.recv_multipart()
                self.requests.append(_decoded(frame))
                answer = self.handler(frame)
                if answer is not None:
                    sock.send_multipart([identity, empty, answer])
        finally:
            sock.close(linger=0)
            context.term()

    def start(self):
        super().start()
        self._ready.wait(5)
        return self

    def stop(self):
        self._stop_event.set()
        self.join(5)

    def sent(self, kind):
        """The requests of one type this peer received, in order."""
        return [request for request in self.requests if request and request[0] == kind]


def _decoded(frame):
    try:
        return json.loads(frame.decode("utf-8"))
    except ValueError:
        return frame


@pytest.fixture
def ipc_dir():
    """A short directory for ipc sockets: their paths must fit in about 100 bytes, pytest's tmp_path may not."""
    path = tempfile.mkdtemp(prefix="piw-", dir="/tmp" if os.path.isdir("/tmp") else None)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def peer(ipc_dir):
    """Start a Peer with a handler: ``peer(handler)``; stopped at the end of the test."""
    started = []

    def start(handler, name="mr-chase"):
        started.append(Peer(f"ipc://{ipc_dir}/{name}", handler).start())
        return started[-1]

    yield start
    for each in started:
        each.stop()


def site_status(site_refresh=False, archives=None, outbox=None):
    """The whole site's STATUS reply (``["STATUS", null, null]``) of a Mr Chase with nothing wrong: no stale
    page, no parked notice, nothing settling, no audit yet; ``archives`` ({location: files pending}) and
    ``outbox`` (default: empty, no notice submitted yet) say what a test needs otherwise."""
    return ["STATUS", {"stale_pages": [], "parked_notices": 0, "site_refresh": site_refresh, "settling": False,
                       "outbox": outbox or {"queued": 0, "oldest_age": None, "last": None},
                       "archives": {location: {"pending": count} for location, count in (archives or {}).items()
                                    if count},
                       "audit": {"last": None, "running": None}}]


class FakeMrChase:
    """A Mr Chase in memory, with the semantics of the real one for the packages it holds.

    Packages gamma and beta-tools, versions 1.0, 1.1 and 1.2, one build of
    two files with three downloads each per version, as in the sample
    repository the integration tests use; beta-tools has the alias
    beta_tools.  ``site_refresh`` says whether it
    has a piw-master to notify; ``speaks_0_1`` makes it leave out what 0.2
    added to STATUS (``archived``, ``site_refresh``), as an older one does.
    ``removed`` is its audit log of FORGET and DELETE, which MATCH reads.
    ``notice`` is what its site STATUS says of the last notice for piw-master (``outbox``), once
    ``sending`` answers have said ``sending`` first (its first delivery attempt under way).
    """

    def __init__(self):
        self.site_refresh = False
        self.notice = {"package": "gamma", "notice": "delivered"}
        self.sending = 0
        self.speaks_0_1 = False
        self.packages = {}
        self.removed = []
        for package in ("gamma", "beta-tools"):
            stem = package.replace("-", "_")
            self.packages[package] = {
                "skip": "",
                "aliases": ["beta_tools"] if package == "beta-tools" else [],
                "versions": {
                    version: {
                        "skip": "",
                        "yanked": False,
                        "builds": 1,
                        "files": [f"{stem}-{version}-{tag}.whl" for tag in ("cp37-cp37m-linux_armv7l", "py3-none-any")],
                        "archived": [],
                        "downloads": 6,
                    }
                    for version in ("1.0", "1.1", "1.2")
                },
            }

    def __call__(self, frame):
        request = json.loads(frame.decode("utf-8"))
        try:
            reply = getattr(self, "do_" + request[0])(*request[1:])
        except LookupError as error:
            reply = ["ERROR", error.args[0]]
        return json.dumps(reply).encode("utf-8")

    def _package(self, name):
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        if canonical not in self.packages:
            raise LookupError(f"unknown package {name}")
        return canonical, self.packages[canonical]

    def _version(self, name, version):
        canonical, package = self._package(name)
        if version not in package["versions"]:
            raise LookupError(f"unknown package version {name} {version}")
        return canonical, package["versions"][version]

    def do_PING(self):
        health = {"degraded": [], "warnings": [], "stale_pages": 0, "parked_notices": 0, "archive_pending": 0}
        return ["PONG", "0.1.0", health]

    def do_STATUS(self, name, version):
        if name is None:
            last = self.notice
            if self.sending:
                self.sending -= 1
                last = {**self.notice, "notice": "sending"}
            queued = 0 if last["notice"] == "delivered" else 1
            return site_status(self.site_refresh, outbox={"queued": queued, "oldest_age": queued and 0.5 or None,
                                                          "last": last})
        if version is None:
            canonical, package = self._package(name)
            versions = package["versions"].values()
            status = {
                "package": canonical,
                "skip": package["skip"],
                "versions": sorted(package["versions"], key=_pep440_order),
                "yanked": sorted((v for v, state in package["versions"].items() if state["yanked"]), key=_pep440_order),
                "builds": sum(state["builds"] for state in versions),
                "file_count": sum(len(state["files"]) for state in versions),
                "archived_count": sum(len(state["archived"]) for state in versions),
                "downloads": sum(state["downloads"] for state in versions),
                "aliases": sorted(package["aliases"]),
                "archive_locations": {name: location for state in versions
                                      for name, location in state.get("archive_locations", {}).items()},
            }
        else:
            canonical, state = self._version(name, version)
            status = dict(state, package=canonical, version=version, files=sorted(state["files"]))
        status["site_refresh"] = self.site_refresh
        if self.speaks_0_1:
            added = ("archived", "site_refresh", "yanked", "settling")
            if version is None:
                added += ("builds", "file_count", "archived_count", "downloads", "aliases")
            for field in added:
                status.pop(field, None)
        return ["STATUS", status]

    def refuse(self, kind, message="database unavailable: connection lost", version=None):
        """Answer ERROR to requests of ``kind`` (of ``version`` only, if given), as a Mr Chase without its database."""
        original = getattr(self, "do_" + kind)

        def refuse(name, *args):
            return ["ERROR", message] if version in (None, args[0]) else original(name, *args)

        setattr(self, "do_" + kind, refuse)

    def refuse_removal_of(self, version, message="database unavailable: connection lost"):
        """Answer ERROR to a REMOVE of ``version``, as a Mr Chase losing its database would."""
        original = self.do_REMOVE

        def refuse(name, asked, skip):
            return ["ERROR", message] if asked == version else original(name, asked, skip)

        self.do_REMOVE = refuse

    def do_REMOVE(self, name, version, skip):
        state = self._version(name, version)[1]
        state.update(builds=0, files=[], archived=[], downloads=0)
        if skip is True:
            state["skip"] = state["skip"] or DEFAULT_SKIP_REASON
        elif skip:
            state["skip"] = skip
        return ["DONE"]

    def do_SKIP(self, name, reason):
        if not reason:
            return ["ERROR", "invalid message: skip reason must not be empty (UNSKIP clears a skip)"]
        package = self._package(name)[1]
        package["skip"] = reason
        return ["DONE"]

    def do_UNSKIP(self, name, version):
        if version is None:
            self._package(name)[1]["skip"] = ""
        else:
            self._version(name, version)[1]["skip"] = ""
        return ["DONE"]

    def do_YANK(self, name, version, yanked):
        self._version(name, version)[1]["yanked"] = yanked
        return ["DONE"]

    def do_FORGET(self, name, version):
        canonical = self._version(name, version)[0]
        del self.packages[canonical]["versions"][version]
        self.removed.append({"request": "FORGET", "package": canonical, "version": version, "time": RECORDED})
        return ["DONE"]

    def do_DELETE(self, name):
        canonical = self._package(name)[0]
        del self.packages[canonical]
        self.removed.append({"request": "DELETE", "package": canonical, "version": None, "time": RECORDED})
        return ["DONE"]

    def do_MATCH(self, name, version):
        """PEP 440 equality with packaging, as the real one; ``removed`` stands for its audit log."""
        canonical = re.sub(r"[-_.]+", "-", name).lower()
        match = {"package": canonical, "version": version, "exists": canonical in self.packages, "matched": None,
                 "removed": None, "close": []}
        records = [record for record in self.removed if record["package"] == canonical]
        if not match["exists"]:
            records = [record for record in records if record["request"] == "DELETE"]
            match["close"] = difflib.get_close_matches(canonical, list(self.packages), n=3, cutoff=0.75)
        elif version is not None:
            stored = list(self.packages[canonical]["versions"])
            match["matched"] = next((v for v in stored if _pep440_equal(v, version)), None)
            records = [r for r in records if r["request"] == "DELETE" or _pep440_equal(r["version"], version)]
            match["close"] = [] if match["matched"] else difflib.get_close_matches(version, stored, n=3, cutoff=0.6)
        if match["matched"] is None and records:
            match["removed"] = {key: records[-1][key] for key in ("request", "version", "time")}
        return ["MATCH", match]


def _pep440_order(version):
    """Mr Chase's order for the versions this fake holds (every one a PEP 440 version but in a test of text)."""
    try:
        return (0, Version(version), "")
    except InvalidVersion:
        return (-1, None, version)


def _pep440_equal(one, other):
    try:
        return one == other or Version(one) == Version(other)
    except InvalidVersion:
        return False


@pytest.fixture
def mr_chase(peer):
    """A running FakeMrChase: ``mr_chase.packages`` is its memory, ``mr_chase.peer`` what it was sent."""
    state = FakeMrChase()
    state.peer = peer(state)
    return state
