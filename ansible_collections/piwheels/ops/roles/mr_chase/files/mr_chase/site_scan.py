"""The site audit's scanner: the database and the served tree, compared package by package.

The database is the truth (DESIGN, "Audit and repair"): each package's rows
are read in batches of BATCH packages, each batch one read-only snapshot on a
connection of the scan's own (never the worker's; the SQL is site_rows.py's),
and held against what the
tree serves for each package of the batch: ``simple/<pkg>/`` (its wheels and
page), ``project/<pkg>/`` (page and JSON) and the ``project/<alias>`` links.
Memory holds one batch, never the site.  The site-wide checks (directories
of no package, the root index, Mr Chase's own staging) come last, and only
for a whole-site audit; they stream the names from a server-side cursor.

What the scan must never do:

* follow a symlink out of the tree: entries are listed with ``os.scandir``
  and judged by their own type (lstat); a directory is entered only when it
  is one (not a link), a page is opened with ``O_NOFOLLOW``; a symlinked
  wheel (piwheels links armv6l wheels to armv7l ones) is read only when its
  target resolves to a file inside ``simple/``;
* race piw-master: nothing on disk modified within ``min_age`` seconds (files,
  directories, links, pages, by mtime) is reported, nor a row whose build is
  younger (``builds.built_at``: an import in flight); and a package's
  findings are confirmed against a fresh snapshot and a fresh look at its
  directory before they are reported, so an import (or removal) committed
  between the batch's snapshot and the look at the disk is not a finding;
* hold a page to its bytes: a page whose link lines are those Mr Chase's
  own writer (page.py) writes for the rows is current (the cheap, common
  case); any other is compared by its links (file name, ``#sha256=``,
  ``data-requires-python``, ``data-yanked``, the URL), parsed from the page
  on disk and from the page page.py renders for the same rows, so whitespace,
  the order of links or a timestamp is never a difference.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import json
import logging
import os
import re
import stat
import subprocess
import time
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import psycopg

from .database import ROOT_INDEX_PACKAGES
from .findings import Finding
from .page import LOCAL, PageFile, link_line, render_page
from .protocol import canonicalize, normalise_location
from .site_rows import ARCHIVE_ROWS, BATCH, SITE_NAMES, PackageRows, SiteRows, connect
from .tree import Tree, UnsafePath, safe_component

log = logging.getLogger(__name__)

#: bytes per read when hashing a wheel
READ_SIZE = 1 << 20
#: how many names a detail lists before it says how many more
SHOWN = 10
#: the listing sorted as ARCHIVE_ROWS is: by package then filename, byte for byte, on disk (sort(1) spills to
#: temporary files in Mr Chase's state directory, writable under the unit's ProtectSystem=strict, so a million
#: names are never held in memory)
SORT_LISTING = ["sort", "-u", "-t", "/", "-k1,1", "-k2,2"]
#: the names of the checkpoint the scan passes between a batch's snapshot and its look at the disk (tests)
WALK = "audit_walk"

#: a link of a page Mr Chase or piw-master wrote: its href and the attributes after it
_LINK = re.compile(r'<a href="([^"]*)"((?:\s+[\w-]+="[^"]*")*)\s*>')
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
#: a release of upstream's project page (project.pt): the version opens its release-info row
_RELEASE = re.compile(r'<tr class="release-info">\s*<td>\s*([^<\s]+)')
#: a file's link on the project page: the file name ends the URL before its hash
_FILE_HREF = re.compile(r'href="[^"#]*/([^"#/]*)#sha256=')


class ListingError(Exception):
    """An archive's listing that cannot be read: the job fails, naming the file."""


@dataclass
class Scanned:
    packages: int = 0
    files: int = 0
    bytes_hashed: int = 0


class Link(NamedTuple):
    """A page's link as the audit compares it."""

    url: str
    sha256: str
    requires_python: str | None
    yanked: bool


def page_links(text: str) -> dict[str, list[Link]]:
    """File name -> the page's links to it (more than one: the page lists the file twice)."""
    links: dict[str, list[Link]] = {}
    for href, attributes in _LINK.findall(text):
        url, _hash, sha256 = _unescape(href).partition("#sha256=")
        attrs = {name: _unescape(value) for name, value in _ATTRIBUTE.findall(attributes)}
        link = Link(url, sha256, attrs.get("data-requires-python"), "data-yanked" in attrs)
        links.setdefault(url.rsplit("/", 1)[-1], []).append(link)
    return links


def _unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def listed(names: Iterable[str]) -> str:
    """Names for a detail: the first SHOWN, then how many more."""
    names = sorted(names)
    shown = ", ".join(names[:SHOWN])
    return f"{shown} and {len(names) - SHOWN} more" if len(names) > SHOWN else shown


class SiteScan:
    """One audit's scan; ``run`` yields each package's findings, then the site-wide ones."""

    def __init__(self, dsn: str, tree: Tree, options: dict, should_stop: Callable[[], bool],
                 checkpoint: Callable[[str], None] = lambda step: None):
        self._dsn, self._tree, self._should_stop, self._checkpoint = dsn, tree, should_stop, checkpoint
        self._min_age = options["min_age"]
        self._verify = options["verify_hashes"]
        packages = options["packages"]
        self._named = None if packages is None else sorted({canonicalize(name) for name in packages})
        self.packages_total: int | None = None if packages is None else len(self._named)
        self.scanned = Scanned()
        #: the tree's own real path: whatever resolves outside it is never read
        self._real_root = os.path.realpath(tree.root)
        #: simple/ is a directory of the tree itself, not a link: a wheel linked to a file of its own directory
        #: (the piwheels way) is then inside simple/ without resolving the link's path
        self._simple_is_real = os.path.realpath(tree.simple) == os.path.join(self._real_root, "simple")
        #: the time before which a modification is old enough to be judged
        self._old_before = 0.0
        #: (location, listing path) of each archive whose listing is compared with its location's rows
        self._archives = [(normalise_location(item["location"]), item["listing"]) for item in options["archives"]]
        #: true once the packages are done and the archives' listings are compared (the job's progress counts
        #: packages only)
        self.in_archives = False

    # -- the walk -------------------------------------------------------------------

    def run(self) -> Iterator[tuple[str | None, list[Finding]]]:
        """Each package's findings (maybe none) in name order, then (None, the site-wide findings) for a
        whole-site audit."""
        for _location, listing in self._archives:
            _readable(listing)  # before anything is scanned: a listing that cannot be read fails the job at once
        with connect(self._dsn) as conn:
            site_rows = SiteRows(conn, self._min_age, self._named)
            if self._named is None:
                self.packages_total = site_rows.count()
            for batch in site_rows.batches():
                self._checkpoint(WALK)
                for package, rows in batch:
                    if self._should_stop():
                        return
                    self._old_before = time.time() - self._min_age
                    findings = self._package(package, rows, count=True)
                    if findings:
                        findings = self._confirmed(site_rows, package, findings)
                    self.scanned.packages += 1
                    yield package, findings
            self.in_archives = True
            for location, listing in self._archives:
                if self._should_stop():
                    return
                yield from self._archive(conn, location, listing)
            if self._named is None:
                yield None, self._site(conn)

    def _confirmed(self, site_rows: SiteRows, package: str, findings: list[Finding]) -> list[Finding]:
        """The findings that still hold on a fresh snapshot and a fresh look at the disk: a change committed
        since the batch's snapshot (an import, a removal) is not reported."""
        again = self._package(package, site_rows.fresh(package), count=False)
        first = {(finding.kind, finding.path) for finding in findings}
        return [finding for finding in again if (finding.kind, finding.path) in first]

    # -- one package -----------------------------------------------------------------

    def _package(self, package: str, rows: PackageRows, count: bool) -> list[Finding]:
        try:
            safe_component(package)
        except UnsafePath:
            log.warning("audit: package %r has a name no directory may have; its files are not checked", package)
            return []
        directory = f"{self._tree.simple}/{package}"
        entries = _entries(directory) if _real_directory(directory) else {}
        findings = self._wheels(package, rows, entries, count)
        findings += self._page(package, rows, entries)
        findings += self._project(package, rows)
        findings += self._aliases(package, rows)
        return findings

    def _old(self, entry: os.DirEntry | str | float) -> bool:
        """Whether an entry, a path or an mtime was last modified before min_age (lstat: a link's own time)."""
        if isinstance(entry, float):
            return entry <= self._old_before
        try:
            found = entry.stat(follow_symlinks=False) if isinstance(entry, os.DirEntry) else os.lstat(entry)
        except FileNotFoundError:
            return False  # gone meanwhile: nothing to judge
        return found.st_mtime <= self._old_before

    def _wheels(self, package: str, rows: PackageRows, entries: dict[str, os.DirEntry], count: bool) -> list[Finding]:
        """missing_wheel, hash_mismatch, orphan_wheel and foreign_file."""
        findings = []
        for filename, file in rows.files.items():
            if file.location != LOCAL or filename in rows.young:
                continue
            entry = entries.get(filename)
            if entry is not None and not self._verify and entry.is_file(follow_symlinks=False):
                continue  # the common case: the wheel itself, on disk
            target = self._wheel_target(entry, entries) if entry is not None else None
            path = f"simple/{package}/{filename}"
            if target is None:
                why = "not on disk" if entry is None else "on disk, but not a file in the tree (a link that " \
                      "dangles or leaves simple/, or a directory)"
                findings.append(Finding("missing_wheel", package, path, f"the database lists it (version "
                                        f"{file.version}); {why}"))
            elif self._verify:
                findings += self._hash(package, path, file, target, entry, count)
        for name, entry in entries.items():
            if name == "index.html" and entry.is_file(follow_symlinks=False):
                continue
            wheel = name.endswith(".whl") and (entry.is_file(follow_symlinks=False) or entry.is_symlink())
            if wheel and count:
                self.scanned.files += 1
            if (wheel and name in rows.files) or not self._old(entry):
                continue
            path = f"simple/{package}/{name}"
            if wheel:
                findings.append(Finding("orphan_wheel", package, path, "a wheel the database has no files row for"))
            else:
                findings.append(Finding("foreign_file", package, path, f"{_kind_of(entry)} that is neither a "
                                        "wheel nor the page (repaired only when foreign_file is named)"))
        return findings

    def _wheel_target(self, entry: os.DirEntry, entries: dict[str, os.DirEntry]) -> str | None:
        """The file a wheel entry serves: itself, or a symlink's target when that is a file inside simple/ (one
        readlink for a link to a file of its own directory, as piwheels links armv6l wheels to armv7l ones)."""
        if entry.is_file(follow_symlinks=False):
            return entry.path
        if not entry.is_symlink():
            return None
        try:
            link = os.readlink(entry.path)
        except OSError:
            return None  # gone meanwhile
        sibling = entries.get(link) if self._simple_is_real and "/" not in link else None
        if sibling is not None and sibling.is_file(follow_symlinks=False):
            return sibling.path
        target = os.path.realpath(entry.path)
        inside = target.startswith(os.path.join(self._real_root, "simple") + os.sep)
        return target if inside and os.path.isfile(target) else None

    def _hash(self, package: str, path: str, file: PageFile, target: str, entry: os.DirEntry,
              count: bool) -> list[Finding]:
        if not self._old(entry):
            return []
        digest = hashlib.sha256()
        size = 0
        with open(target, "rb") as stream:
            while chunk := stream.read(READ_SIZE):
                digest.update(chunk)
                size += len(chunk)
        if count:
            self.scanned.bytes_hashed += size
        if digest.hexdigest() == file.filehash:
            return []
        return [Finding("hash_mismatch", package, path, f"sha256 {digest.hexdigest()} on disk, "
                        f"{file.filehash} in the database")]

    def _page(self, package: str, rows: PackageRows, entries: dict[str, os.DirEntry]) -> list[Finding]:
        """missing_page or stale_page: the page's links against those Mr Chase would write for the rows."""
        path = f"simple/{package}/index.html"
        entry = entries.get("index.html")
        if entry is None or not entry.is_file(follow_symlinks=False):
            old_files = rows.judged()
            if not old_files or rows.young:
                return []  # a package with no files has no page until piw-master builds it; an import in flight
            return [Finding("missing_page", package, path, f"the database lists {len(old_files)} file(s) of "
                            f"{package}; the page is missing, so pip finds none of them")]
        page = _read_file(entry.path)
        if page is None:
            return []  # gone meanwhile
        text, mtime = page
        if not rows.young and _same_lines(text, package, rows.files.values()):
            return []  # line for line what Mr Chase would write (the common case, and the cheap one)
        wanted = page_links(render_page(package, rows.judged()))
        found = {name: links for name, links in page_links(text).items() if name not in rows.young}
        differences = _differences(found, wanted)
        if not differences or not self._old(mtime):
            return []
        return [Finding("stale_page", package, path, "; ".join(differences))]

    def _project(self, package: str, rows: PackageRows) -> list[Finding]:
        """stale_project_page: what the project page or JSON lists (versions, files) that the database no
        longer has; what they leave out is piw-master's own rule."""
        project = f"{self._tree.project}/{package}"
        if not _real_directory(project):
            return []
        findings = []
        page = _read_file(f"{project}/index.html")
        if page is not None and (found := _stale_project(
                package, f"project/{package}/index.html", rows, _found(_RELEASE, page[0]),
                _found(_FILE_HREF, page[0]))) and self._old(page[1]):
            findings.append(found)
        data = _read_file(f"{project}/json/index.json") if _real_directory(f"{project}/json") else None
        if data is not None:
            releases = _json_releases(data[0])
            files = {name for release in releases.values() if isinstance(release, dict)
                     for name in release.get("files") or ()}
            found = _stale_project(package, f"project/{package}/json/index.json", rows, set(releases), files)
            if found and self._old(data[1]):
                findings.append(found)
        return findings

    def _aliases(self, package: str, rows: PackageRows) -> list[Finding]:
        """missing_alias and broken_alias: each other name of package_names is a link project/<alias> -> <pkg>."""
        findings = []
        for alias, young in rows.aliases.items():
            try:
                link = os.path.join(self._tree.project, safe_component(alias))
            except UnsafePath:
                continue
            path = f"project/{alias}"
            try:
                target = os.readlink(link)
            except FileNotFoundError:
                if not young:
                    findings.append(Finding("missing_alias", package, path, f"package_names has {alias} for "
                                            f"{package}; project/{alias} should link to {package}"))
                continue
            except OSError:  # EINVAL: not a link
                target = None
            problem = _alias_problem(target, package, os.path.isdir(self._tree.project_dir(package)))
            if problem and self._old(link):
                findings.append(Finding("broken_alias", package, path, f"{problem}; it should link to {package}"))
        return findings

    # -- the archives -----------------------------------------------------------------

    def _archive(self, conn: psycopg.Connection, location: str, listing: str) -> Iterator[tuple[str, list[Finding]]]:
        """Each package's orphan_archived_wheel and missing_archived_wheel findings at ``location``: the sorted
        listing merged with every file row in the same order (both streamed), one package at a time."""
        self._old_before = time.time() - self._min_age
        where, names = ("", {}) if self._named is None else ("WHERE b.package = ANY(%(names)s)", {"names": self._named})
        package, findings = None, []
        with _sorted_listing(listing, self._tree.state) as listed, conn.transaction(), \
                conn.cursor(name="mr_chase_audit_archive") as cursor:
            cursor.itersize = 10_000
            rows = cursor.execute(ARCHIVE_ROWS.format(where=where), {"age": self._min_age, **names})
            for key, row, on_host in _merged(self._listed(listed), rows):
                finding = self._archive_finding(location, key, row, on_host)
                if finding is None:
                    continue
                if key[0] != package and findings:
                    yield package, findings
                    findings = []
                package = key[0]
                findings.append(finding)
        if findings:
            yield package, findings

    def _listed(self, lines: Iterable[bytes]) -> Iterator[tuple[str, str]]:
        """(package, filename) of each line of a sorted listing that names a file of a package audited."""
        named = None if self._named is None else set(self._named)
        for line in lines:
            package, _slash, filename = line.rstrip(b"\n").decode("utf-8", errors="surrogateescape").partition("/")
            if package and filename and "/" not in filename and (named is None or package in named):
                yield package, filename

    @staticmethod
    def _archive_finding(location: str, key: tuple[str, str], row: tuple | None, on_host: bool) -> Finding | None:
        package, filename = key
        path = f"{location}/{package}/{filename}"
        if on_host and row is None and filename.endswith(".whl"):
            return Finding("orphan_archived_wheel", package, path, f"{location}'s archive host serves it; the "
                           "database has no files row for it")
        if not on_host and row is not None and normalise_location(row[2]) == location and not row[3]:
            return Finding("missing_archived_wheel", package, path, f"the database links it at {location}; its "
                           "archive host's listing lacks it (a dead link)")
        return None

    # -- the whole site ----------------------------------------------------------------

    def _site(self, conn: psycopg.Connection) -> list[Finding]:
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
        entries = {name: entry for name, entry in (_entries(root) if _real_directory(root) else {}).items()
                   if entry.is_dir(follow_symlinks=False) or entry.is_symlink()}
        orphans = []
        with conn.transaction(), conn.cursor(name="mr_chase_audit_names") as cursor:
            cursor.itersize = 10_000
            known = iter(cursor.execute(SITE_NAMES))
            current = next(known, None)
            for name in sorted(entries):
                while current is not None and current[0] < name:
                    current = next(known, None)
                if (current is None or current[0] != name) and self._old(entries[name]):
                    orphans.append(Finding("orphan_directory", name, f"{top}/{name}", f"a {_kind_of(entries[name])} "
                                           f"under {top}/ that is no package and no alias of the database"))
        return orphans

    def _root_index(self, conn: psycopg.Connection) -> list[Finding]:
        """stale_root_index: the packages simple/index.html links against the database's."""
        page = self._tree.root_page()
        index = _read_file(page) if _real_directory(self._tree.simple) else None
        if index is None:
            return [Finding("stale_root_index", None, "simple/index.html", "the root index is missing")]
        if not self._old(index[1]):
            return []
        listed_names = {_unescape(href) for href, _attrs in _LINK.findall(index[0])}
        lacking = []
        with conn.transaction(), conn.cursor(name="mr_chase_audit_root") as cursor:
            cursor.itersize = 10_000
            for (package,) in cursor.execute(ROOT_INDEX_PACKAGES):
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
            for name, entry in _entries(directory).items():
                if (token and token in name) or not self._old(entry):
                    continue
                findings.append(Finding("leftover_staging", None, self._tree.relative(entry.path), what))
        return findings


# -- helpers ---------------------------------------------------------------------------------


def _readable(listing: str) -> None:
    """ListingError naming the listing unless it is a file this process can read."""
    try:
        with open(listing, "rb") as stream:
            stream.read(1)
    except OSError as exc:
        raise ListingError(f"cannot read the archive listing {listing}: {exc.strerror or exc} (copy the listing "
                           "piw_archive state listed wrote to the master, readable by Mr Chase's user)") from exc


@contextlib.contextmanager
def _sorted_listing(listing: str, temporary: str) -> Iterator[Iterable[bytes]]:
    """The listing's lines in (package, filename) byte order, streamed from sort(1) (its temporary files in
    ``temporary``)."""
    try:
        source = open(listing, "rb")  # noqa: SIM115 (sort reads it; closed below)
    except OSError as exc:
        raise ListingError(f"cannot read the archive listing {listing}: {exc.strerror or exc}") from exc
    with source, subprocess.Popen([*SORT_LISTING, "-T", temporary], stdin=source, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, env={**os.environ, "LC_ALL": "C"}) as sort:
        try:
            yield sort.stdout
        finally:
            sort.stdout.close()
            error = sort.stderr.read().decode("utf-8", errors="replace").strip()
            if sort.wait() not in (0, -13) and error:  # -13: SIGPIPE, the scan stopped reading
                raise ListingError(f"cannot sort the archive listing {listing}: {error}")


#: what _merged yields: the (package, filename) key, the row or None, whether the listing has the key
MergedKey = tuple[tuple[str, str], "tuple | None", bool]


def _merged(listed: Iterable[tuple[str, str]], rows: Iterable[tuple]) -> Iterator[MergedKey]:
    """Merge-join a listing's (package, filename) with rows (package, filename, ...), both in that order:
    (key, the row or None, whether the listing has it) for every key of either."""
    listed, rows = iter(listed), iter(rows)
    item, row = next(listed, None), next(rows, None)
    while item is not None or row is not None:
        key = None if row is None else (row[0], row[1])
        if key is None or (item is not None and item < key):
            yield item, None, True
            item = next(listed, None)
        elif item is None or key < item:
            yield key, row, False
            row = next(rows, None)
        else:
            yield key, row, True
            item, row = next(listed, None), next(rows, None)


def _entries(directory: str) -> dict[str, os.DirEntry]:
    """A directory's entries by name (none when it is missing or not a directory); never follows a link."""
    try:
        with os.scandir(directory) as listing:
            return {entry.name: entry for entry in listing}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def _real_directory(path: str) -> bool:
    """A directory itself, not a link to one (a link could lead out of the tree)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _read_file(path: str) -> tuple[str, float] | None:
    """(text, mtime) of a regular file that is not a link (O_NOFOLLOW), or None: missing, a link, not a file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # ENOENT, ELOOP (a link), ENOTDIR
        return None
    try:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode):
            return None
        data = os.read(fd, found.st_size + 1)  # one read: a page is small; one written meanwhile is read on
        while len(data) > found.st_size and (more := os.read(fd, 65536)):
            data += more
        return data.decode("utf-8", errors="replace"), found.st_mtime
    finally:
        os.close(fd)


def _same_lines(text: str, package: str, files: Collection[PageFile]) -> bool:
    """Whether the page's link lines are exactly those Mr Chase writes for ``files`` (in any order): as many
    lines as files, and the same set (each file's line is its own, so no line is missing or listed twice)."""
    found = [line for line in text.split("\n") if line.startswith("<a href=")]
    return len(found) == len(files) and set(found) == {link_line(package, file) for file in files}


def _json_releases(text: str) -> dict[str, Any]:
    try:
        releases = json.loads(text).get("releases")
    except (ValueError, AttributeError):
        return {}
    return releases if isinstance(releases, dict) else {}


def _kind_of(entry: os.DirEntry) -> str:
    if entry.is_symlink():
        return "link"
    return "directory" if entry.is_dir(follow_symlinks=False) else "file"


def _differences(found: dict[str, list[Link]], wanted: dict[str, list[Link]]) -> list[str]:
    """What a page's links get wrong, in words: files too many, too few, listed twice, links that differ."""
    extra = sorted(set(found) - set(wanted))
    lacking = sorted(set(wanted) - set(found))
    twice = sorted(name for name, links in found.items() if len(links) > 1)
    differences = [f"links {len(extra)} file(s) the database does not have: {listed(extra)}"] if extra else []
    differences += [f"lacks {len(lacking)} file(s) the database has: {listed(lacking)}"] if lacking else []
    differences += [f"lists {listed(twice)} more than once"] if twice else []
    changed = [f"{name}: {field} {getattr(found[name][0], field)!r} on the page, {getattr(wanted[name][0], field)!r} "
               "in the database" for name in sorted(set(found) & set(wanted)) for field in Link._fields
               if getattr(found[name][0], field) != getattr(wanted[name][0], field)]
    more = [f"and {len(changed) - SHOWN} more link difference(s)"] if len(changed) > SHOWN else []
    return differences + changed[:SHOWN] + more


def _stale_project(package: str, path: str, rows: PackageRows, versions: set[str],
                   files: set[str]) -> Finding | None:
    """What a project page or JSON lists that the database no longer has, or None."""
    gone_versions, gone_files = versions - rows.versions, files - rows.files.keys()
    if not gone_versions and not gone_files:
        return None  # the common case
    problems = [f"lists {len(gone_versions)} version(s) the database no longer has: {listed(gone_versions)}"] \
        if gone_versions else []
    problems += [f"lists {len(gone_files)} file(s) the database no longer has: {listed(gone_files)}"] \
        if gone_files else []
    return Finding("stale_project_page", package, path, "; ".join(problems))


def _found(pattern: re.Pattern, text: str) -> set[str]:
    """What ``pattern`` captures in a page, unescaped (a page without ``&`` has nothing to unescape)."""
    found = pattern.findall(text)
    return set(map(html.unescape, found)) if "&" in text else set(found)


def _alias_problem(target: str | None, package: str, package_exists: bool) -> str | None:
    if target is None:
        return "not a link"
    if os.path.normpath(target) != package:
        return f"links to {target}"
    return None if package_exists else f"dangles: project/{package} does not exist"


def _pending_token(journal: str) -> str | None:
    """The token of the change the journal holds (read only: the worker owns the journal)."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        with open(journal, encoding="utf-8") as stream:
            token = json.loads(stream.readline() or "{}").get("token")
        return token if isinstance(token, str) and token else None
    return None


__all__ = ["BATCH", "WALK", "ListingError", "Scanned", "SiteScan", "page_links"]
