"""The ledger: debts a change leaves behind that outlive the change itself.

The journal holds one change until it is settled, and must then be emptied
so the next change can start.  Some debts cannot be paid by then: a page that
could not be written after COMMIT (an immutable file, a directory where the
root index should be) stays stale until a later write of that page succeeds.
Each such debt is one small JSON file, ``.mr-chase/ledger/<kind>/<key>.json``,
written durably (temporary file, fsync, rename, fsync of the directory) and
removed when the debt is cleared, so a restart forgets none and an operator
can read them with ``cat``.

Kinds: ``stale_page`` (key: the package whose change left the page stale;
body: the relative ``paths`` not written, the ``error``, the ``time`` and the
``token`` of the change); ``archive`` (key: the first 16 hex digits of the
sha256 of an archive location; body: the ``location`` and the ``files``
still served there, ``[[package, filename], ...]`` oldest first: the archive
hosts' pending list, DESIGN "Archive servers (0.4)").  Only this process writes the ledger (Tree.lock),
so its entries are read once and then kept in memory: asking whether a
package has a debt, or how many there are, never touches the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import time
from collections.abc import Callable, Iterable
from typing import Any

from .protocol import normalise_location
from .tree import Tree, fsync_dir, safe_component, write_durably

log = logging.getLogger(__name__)

STALE_PAGE = "stale_page"
ARCHIVE = "archive"


class Ledger:
    def __init__(self, tree: Tree):
        self.root = os.path.join(tree.state, "ledger")
        #: kind -> key -> body, read from disk the first time a kind is asked about
        self._entries: dict[str, dict[str, dict[str, Any]]] = {}

    def entries(self, kind: str) -> dict[str, dict[str, Any]]:
        """Every open debt of ``kind`` (key -> body); an entry that does not parse is logged and skipped."""
        if kind not in self._entries:
            self._entries[kind] = self._read(kind)
        return self._entries[kind]

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        return self.entries(kind).get(key)

    def count(self, kind: str) -> int:
        """How many debts of ``kind`` are open (for PING's health frame: no disk access after the first)."""
        return len(self.entries(kind))

    def open(self, kind: str, key: str, body: dict[str, Any]) -> None:
        """Record (or replace) the debt ``kind``/``key`` durably."""
        directory = os.path.join(self.root, safe_component(kind))
        os.makedirs(directory, exist_ok=True)
        path = os.path.join(directory, f"{safe_component(key)}.json")
        temp = f"{path}.tmp"
        try:
            write_durably(temp, json.dumps(body, sort_keys=True).encode("utf-8"))
            os.replace(temp, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        fsync_dir(directory)
        self.entries(kind)[key] = body

    def clear(self, kind: str, key: str) -> bool:
        """Remove the debt ``kind``/``key``; whether there was one (free when there is none)."""
        if key not in self.entries(kind):
            return False
        directory = os.path.join(self.root, safe_component(kind))
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(directory, f"{safe_component(key)}.json"))
        fsync_dir(directory)
        del self._entries[kind][key]
        return True

    def _read(self, kind: str) -> dict[str, dict[str, Any]]:
        directory = os.path.join(self.root, kind)
        try:
            names = sorted(os.listdir(directory))
        except FileNotFoundError:
            return {}
        entries = {}
        for name in names:
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(directory, name), encoding="utf-8") as stream:
                    entries[name[:-len(".json")]] = json.load(stream)
            except (OSError, ValueError) as exc:
                log.error("ledger entry %s/%s cannot be read (%s); ignored", kind, name, exc)
        return entries


class StalePages:
    """The ``stale_page`` debts: pages that could not be written after a change committed."""

    def __init__(self, ledger: Ledger, tree: Tree):
        self.ledger = ledger
        self.tree = tree

    def record(self, package: str, paths: list[str], error: OSError, token: str) -> None:
        """The change of ``package`` (token) committed but left ``paths`` (relative) as they were."""
        text = f"{error.strerror or error}"
        self.ledger.open(STALE_PAGE, package, {"paths": paths, "error": text, "token": token,
                                               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        log.error("%s committed but %s could not be written (%s); recorded as a stale page until a later "
                  "write of it succeeds", package, ", ".join(paths), text)

    def of(self, package: str) -> list[str]:
        """The paths the change of ``package`` could not write (STATUS's ``stale_pages``)."""
        entry = self.ledger.get(STALE_PAGE, package)
        return list(entry["paths"]) if entry else []

    def error_of(self, path: str) -> str:
        """Why ``path`` could not be written (the error its debt recorded)."""
        for entry in self.ledger.entries(STALE_PAGE).values():
            if path in entry.get("paths", ()):
                return entry.get("error", "")
        return ""

    def written(self, path: str) -> None:
        """``path`` (relative) was written: every debt it settles goes (a dictionary look-up when none)."""
        for key, entry in list(self.ledger.entries(STALE_PAGE).items()):
            if path in entry.get("paths", ()):
                rest = [other for other in entry["paths"] if other != path]
                if rest:
                    self.ledger.open(STALE_PAGE, key, {**entry, "paths": rest})
                else:
                    self.ledger.clear(STALE_PAGE, key)
                log.info("%s written again: no longer stale (%s)", path, key)


def location_key(location: str) -> str:
    """The ledger key of an archive location: a safe file name whatever the URL holds."""
    return hashlib.sha256(location.encode("utf-8")).hexdigest()[:16]


class ArchivePending:
    """The ``archive`` debts: archived files whose rows a committed change deleted and that an archive host
    still serves, per location, until ARCHIVED acknowledges them.

    The journal puts a change's archived files here when the change is
    settled (journal.py); the site audit's repair may call :meth:`add` with
    the files its own change deleted (journalled with that change, as journal.py
    says, and added when it is settled).  Locations are kept without a trailing
    slash (protocol.normalise_location).
    """

    def __init__(self, ledger: Ledger):
        self.ledger = ledger
        #: told after every change of the list (the service rebuilds PONG's frame: its count is news)
        self.on_change: Callable[[], None] = lambda: None

    def add(self, files: Iterable[tuple[str, str, str]]) -> None:
        """Record (location, package, filename) triples as pending, durably; one already pending is kept
        once (settling a change twice, after a crash, adds nothing)."""
        by_location: dict[str, list[list[str]]] = {}
        for location, package, filename in files:
            by_location.setdefault(normalise_location(location), []).append([package, filename])
        for location, pairs in by_location.items():
            listed = self.pending(location)
            known = {tuple(pair) for pair in listed}
            new = []
            for pair in pairs:
                if tuple(pair) not in known:
                    known.add(tuple(pair))
                    new.append(pair)
            if new:
                self.ledger.open(ARCHIVE, location_key(location), {"location": location, "files": listed + new})
                log.info("%d archived file(s) pending at %s", len(new), location)
                self.on_change()

    def pending(self, location: str) -> list[list[str]]:
        """The [package, filename] pairs pending at ``location``, oldest first (a copy)."""
        entry = self.ledger.get(ARCHIVE, location_key(location))
        return [list(pair) for pair in entry.get("files", [])] if entry else []

    def acknowledge(self, location: str, pairs: Iterable[list[str]]) -> int:
        """The archive hosts of ``location`` no longer serve ``pairs``: drop them (the entry goes when
        empty); pairs not pending are ignored.  Return how many were pending."""
        listed = self.pending(location)
        gone = {tuple(pair) for pair in pairs}
        rest = [pair for pair in listed if tuple(pair) not in gone]
        if len(rest) == len(listed):
            return 0
        key = location_key(location)
        if rest:
            self.ledger.open(ARCHIVE, key, {"location": location, "files": rest})
        else:
            self.ledger.clear(ARCHIVE, key)
        self.on_change()
        return len(listed) - len(rest)

    def counts(self) -> dict[str, int]:
        """{location: files pending} for every location with something pending (site STATUS ``archives``)."""
        # a copy first: the metrics and notifier threads read this while the request loop changes it
        entries = list(self.ledger.entries(ARCHIVE).values())
        return {entry["location"]: len(entry["files"]) for entry in entries if entry.get("files")}

    def total(self) -> int:
        """Files pending over every location (PONG's ``archive_pending``): no disk access after the first."""
        return sum(self.counts().values())
