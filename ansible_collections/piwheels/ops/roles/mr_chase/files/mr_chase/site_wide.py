"""The site audit's site-wide checks: what belongs to no package of the database.

Directories (or links) under ``simple/`` and ``project/`` that are no package
and no alias, the root index against the database's packages, and Mr
Chase's own staging and set-aside entries that no pending journal names.
Only a whole-site audit makes them.  They stream the names from server-side
cursors, never follow a link, and report nothing modified within
``min_age``.  With audit workers they run in one of them beside the batches
(scan_workers.py), pausing every PAUSE_EVERY names while Mr Chase serves a
request, as a batch does before each package; without, in Mr Chase after
the batches.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TypeVar

import psycopg

from .database import ROOT_INDEX_PACKAGES
from .findings import Finding
from .package_check import LINK, dir_entries, is_real_directory, kind_of, listed, read_page, unescape
from .site_rows import SITE_NAMES
from .tree import Tree

T = TypeVar("T")
#: names between two pauses (a worker waits there while Mr Chase serves a request)
PAUSE_EVERY = 1000


class SiteWide:
    """The site-wide checks of one audit."""

    def __init__(self, tree: Tree, min_age: float, pause: Callable[[], object] = lambda: None):
        self._tree, self._min_age, self._pause = tree, min_age, pause
        #: the time before which a modification is old enough to be judged
        self._old_before = 0.0

    def findings(self, conn: psycopg.Connection) -> list[Finding]:
        """orphan_directory, stale_root_index and leftover_staging, on the audit's read-only connection."""
        self._old_before = time.time() - self._min_age
        findings = []
        for top in ("simple", "project"):
            findings += self._orphan_directories(conn, top)
        findings += self._root_index(conn)
        findings += self._leftover_staging()
        return findings

    def _orphan_directories(self, conn: psycopg.Connection, top: str) -> list[Finding]:
        """One orphan_directory per directory (or link) under simple/ or project/ that is no package and no alias
        (the names merged in code point order with the database's, streamed)."""
        root = os.path.join(self._tree.root, top)
        entries = {name: entry for name, entry in (dir_entries(root) if is_real_directory(root) else {}).items()
                   if entry.is_dir(follow_symlinks=False) or entry.is_symlink()}
        orphans = []
        with conn.transaction(), conn.cursor(name="mr_chase_audit_names") as cursor:
            cursor.itersize = 10_000
            known = iter(cursor.execute(SITE_NAMES))
            current = next(known, None)
            for name in self._pausing(sorted(entries)):
                while current is not None and current[0] < name:
                    current = next(known, None)
                if (current is None or current[0] != name) and self._old(entries[name]):
                    orphans.append(Finding("orphan_directory", name, f"{top}/{name}", f"a {kind_of(entries[name])} "
                                           f"under {top}/ that is no package and no alias of the database"))
        return orphans

    def _root_index(self, conn: psycopg.Connection) -> list[Finding]:
        """stale_root_index: the packages simple/index.html links against the database's."""
        page = self._tree.root_page()
        index = read_page(page) if is_real_directory(self._tree.simple) else None
        if index is None:
            return [Finding("stale_root_index", None, "simple/index.html", "the root index is missing")]
        if not self._old(page):
            return []
        listed_names = {unescape(href) for href, _attrs in LINK.findall(index)}
        lacking = []
        with conn.transaction(), conn.cursor(name="mr_chase_audit_root") as cursor:
            cursor.itersize = 10_000
            for (package,) in self._pausing(cursor.execute(ROOT_INDEX_PACKAGES)):
                if package in listed_names:
                    listed_names.discard(package)
                else:
                    lacking.append(package)
        problems = [f"lists {len(listed_names)} the database does not have: {listed(listed_names)}"] \
            if listed_names else []
        problems += [f"lacks {len(lacking)} package(s): {listed(lacking)}"] if lacking else []
        return [Finding("stale_root_index", None, "simple/index.html", "; ".join(problems))] if problems else []

    def _leftover_staging(self) -> list[Finding]:
        """Staging or set-aside entries no pending journal names (the token directory, or what was set aside)."""
        token = _pending_token(os.path.join(self._tree.state, "journal.json"))
        findings = []
        for directory, what in ((self._tree.staging, "staged by a change no pending journal names"),
                                (self._tree.set_aside, "set aside by Mr Chase (its log says why); no pending "
                                                       "journal names it")):
            for name, entry in dir_entries(directory).items():
                if (token and token in name) or not self._old(entry):
                    continue
                findings.append(Finding("leftover_staging", None, self._tree.relative(entry.path), what))
        return findings

    def _pausing(self, items: Iterable[T]) -> Iterator[T]:
        """``items``, with a pause before every PAUSE_EVERY-th."""
        for number, item in enumerate(items):
            if number % PAUSE_EVERY == 0:
                self._pause()
            yield item

    def _old(self, entry: os.DirEntry | str) -> bool:
        """Whether an entry or a path was last modified before min_age (lstat: a link's own time)."""
        try:
            found = entry.stat(follow_symlinks=False) if isinstance(entry, os.DirEntry) else os.lstat(entry)
            return found.st_mtime <= self._old_before
        except FileNotFoundError:
            return False  # gone meanwhile: nothing to judge


def _pending_token(journal: str) -> str | None:
    """The token of the change the journal holds (read only: the service owns the journal)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        with open(journal, encoding="utf-8") as stream:
            token = json.loads(stream.readline() or "{}").get("token")
        return token if isinstance(token, str) and token else None
    return None


__all__ = ["SiteWide"]
