"""One package's checks: its rows held against what the tree serves for it.

The site audit (site_scan.py) hands each package's rows (site_rows.py) to a
PackageCheck, in Mr Chase or in a scan worker (scan_workers.py), which holds
them against ``simple/<pkg>/`` (its wheels and page), ``project/<pkg>/``
(page and JSON) and the ``project/<alias>`` links.

What a check must never do:

* follow a symlink out of the tree: entries are listed with ``os.scandir``
  and judged by their own type (lstat); a directory is entered only when it
  is one (not a link), a page is opened with ``O_NOFOLLOW``; a symlinked
  wheel (piwheels links armv6l wheels to armv7l ones) is read only when its
  target resolves to a file inside ``simple/``;
* race piw-master: nothing on disk modified within ``min_age`` seconds (files,
  directories, links, pages, by mtime) is reported, nor a row whose build is
  younger (``builds.built_at``: an import in flight);
* hold a page to its bytes: a page whose link lines are those Mr Chase's
  own writer (page.py) writes for the rows is current (the cheap, common
  case); any other is compared by its links (file name, ``#sha256=``,
  ``data-requires-python``, ``data-yanked``, the URL), parsed from the page
  on disk and from the page page.py renders for the same rows, so whitespace,
  the order of links or a timestamp is never a difference.
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import re
import stat
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any, NamedTuple

from .findings import Finding
from .page import PageFile, link_line, render_page
from .site_rows import PackageRows
from .tree import Tree, UnsafePath, safe_component

log = logging.getLogger(__name__)

#: bytes per read when hashing a wheel
READ_SIZE = 1 << 20
#: how many names a detail lists before it says how many more
SHOWN = 10

#: a link of a page Mr Chase or piw-master wrote: its href and the attributes after it
LINK = re.compile(r'<a href="([^"]*)"((?:\s+[\w-]+="[^"]*")*)\s*>')
_ATTRIBUTE = re.compile(r'([\w-]+)="([^"]*)"')
#: on upstream's project page (project.pt), a release: its version opens its release-info row (a literal prefix,
#: which the regex engine searches for as fast as a string search)
_RELEASE = re.compile(r'<tr class="release-info">\s*<td>\s*([^<\s]+)')
_HREF = 'href="'
#: bytes of a page read at once: nearly every page is shorter
PAGE_READ = 1 << 16


@dataclass
class Scanned:
    packages: int = 0
    files: int = 0
    bytes_hashed: int = 0

    def add(self, other: Scanned) -> None:
        self.packages += other.packages
        self.files += other.files
        self.bytes_hashed += other.bytes_hashed


class Link(NamedTuple):
    """A page's link as the audit compares it."""

    url: str
    sha256: str
    requires_python: str | None
    yanked: bool


def page_links(text: str) -> dict[str, list[Link]]:
    """File name -> the page's links to it (more than one: the page lists the file twice)."""
    links: dict[str, list[Link]] = {}
    for href, attributes in LINK.findall(text):
        url, _hash, sha256 = unescape(href).partition("#sha256=")
        attrs = {name: unescape(value) for name, value in _ATTRIBUTE.findall(attributes)}
        link = Link(url, sha256, attrs.get("data-requires-python"), "data-yanked" in attrs)
        links.setdefault(url.rsplit("/", 1)[-1], []).append(link)
    return links


def unescape(text: str) -> str:
    return html.unescape(text) if "&" in text else text


def listed(names: Iterable[str]) -> str:
    """Names for a detail: the first SHOWN, then how many more."""
    names = sorted(names)
    shown = ", ".join(names[:SHOWN])
    return f"{shown} and {len(names) - SHOWN} more" if len(names) > SHOWN else shown


class PackageCheck:
    """The checks of one package after another; ``scanned`` counts what they examined."""

    def __init__(self, tree: Tree, min_age: float, verify_hashes: bool):
        self._tree, self._min_age, self._verify = tree, min_age, verify_hashes
        self.scanned = Scanned()
        #: the tree's own real path: whatever resolves outside it is never read
        self._real_root = os.path.realpath(tree.root)
        #: simple/ is a directory of the tree itself, not a link: a wheel linked to a file of its own directory
        #: (the piwheels way) is then inside simple/ without resolving the link's path
        self._simple_is_real = os.path.realpath(tree.simple) == os.path.join(self._real_root, "simple")
        #: the time before which a modification is old enough to be judged (set as each package starts)
        self._old_before = 0.0

    def findings(self, package: str, rows: PackageRows, count: bool = True) -> list[Finding]:
        """The package's findings; ``count``: add what was examined to ``scanned`` (not on a confirmation)."""
        self._old_before = time.time() - self._min_age
        if count:
            self.scanned.packages += 1
        try:
            safe_component(package)
        except UnsafePath:
            log.warning("audit: package %r has a name no directory may have; its files are not checked", package)
            return []
        directory = f"{self._tree.simple}/{package}"
        entries = dir_entries(directory) if is_real_directory(directory) else {}
        findings = self._wheels(package, rows, entries, count)
        findings += self._page(package, rows, entries)
        findings += self._project(package, rows)
        findings += self._aliases(package, rows)
        return findings

    def _old(self, entry: os.DirEntry | str) -> bool:
        """Whether an entry or a path was last modified before min_age (lstat: a link's own time)."""
        try:
            found = entry.stat(follow_symlinks=False) if isinstance(entry, os.DirEntry) else os.lstat(entry)
        except FileNotFoundError:
            return False  # gone meanwhile: nothing to judge
        return found.st_mtime <= self._old_before

    def _wheels(self, package: str, rows: PackageRows, entries: dict[str, os.DirEntry], count: bool) -> list[Finding]:
        """missing_wheel, hash_mismatch, orphan_wheel and foreign_file.  Set operations find the few names to
        look at (a site has a million wheels, nearly all of them where their rows say)."""
        files = rows.files
        #: entries that are not a regular file (links, directories): rare, and never the common case
        odd = {name for name, entry in entries.items() if not entry.is_file(follow_symlinks=False)}
        judged = rows.judged_local()
        suspects = judged if self._verify else (judged - entries.keys()) | (judged & odd)
        findings = []
        if suspects:
            for filename, file in files.items():
                if filename in suspects:
                    findings += self._wheel(package, filename, file, entries, count)
        if count:
            self.scanned.files += sum(1 for name in entries if name.endswith(".whl")) - sum(
                1 for name in odd if name.endswith(".whl") and not entries[name].is_symlink())
        others = {name for name in entries if name not in files or not name.endswith(".whl")} | odd
        if "index.html" not in odd:
            others.discard("index.html")
        if others:
            for name, entry in entries.items():
                if name in others:
                    findings += self._other(package, name, entry, name in files)
        return findings

    def _wheel(self, package: str, filename: str, file: PageFile, entries: dict[str, os.DirEntry],
               count: bool) -> list[Finding]:
        """A wheel of the rows that is not a regular file on disk (missing, a link), or one to hash."""
        entry = entries.get(filename)
        target = self._wheel_target(entry, entries) if entry is not None else None
        path = f"simple/{package}/{filename}"
        if target is None:
            why = "not on disk" if entry is None else "on disk, but not a file in the tree (a link that " \
                  "dangles or leaves simple/, or a directory)"
            return [Finding("missing_wheel", package, path, f"the database lists it (version {file.version}); "
                            f"{why}")]
        return self._hash(package, path, file, target, entry, count) if self._verify else []

    def _other(self, package: str, name: str, entry: os.DirEntry, has_row: bool) -> list[Finding]:
        """An entry of the package's directory that is no wheel of its rows: an orphan wheel, or foreign."""
        wheel = name.endswith(".whl") and (entry.is_file(follow_symlinks=False) or entry.is_symlink())
        if (wheel and has_row) or not self._old(entry):
            return []
        path = f"simple/{package}/{name}"
        if wheel:
            return [Finding("orphan_wheel", package, path, "a wheel the database has no files row for")]
        return [Finding("foreign_file", package, path, f"{kind_of(entry)} that is neither a wheel nor the page "
                        "(repaired only when foreign_file is named)")]

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
        text = read_page(entry.path)
        if text is None:
            return []  # gone meanwhile
        if not rows.young and _same_lines(text, package, rows.files.values()):
            return []  # line for line what Mr Chase would write (the common case, and the cheap one)
        wanted = page_links(render_page(package, rows.judged()))
        found = {name: links for name, links in page_links(text).items() if name not in rows.young}
        differences = _differences(found, wanted)
        if not differences or not self._old(entry.path):
            return []
        return [Finding("stale_page", package, path, "; ".join(differences))]

    def _project(self, package: str, rows: PackageRows) -> list[Finding]:
        """stale_project_page: what the project page or JSON lists (versions, files) that the database no
        longer has; what they leave out is piw-master's own rule."""
        project = f"{self._tree.project}/{package}"
        if not is_real_directory(project):
            return []
        findings = []
        page = read_page(f"{project}/index.html")
        if page is not None and (found := _stale_project(package, f"project/{package}/index.html", rows,
                                                         *_project_page(page))) \
                and self._old(f"{project}/index.html"):
            findings.append(found)
        data = read_page(f"{project}/json/index.json") if is_real_directory(f"{project}/json") else None
        if data is not None:
            releases = _json_releases(data)
            files = {name for release in releases.values() if isinstance(release, dict)
                     for name in release.get("files") or ()}
            found = _stale_project(package, f"project/{package}/json/index.json", rows, set(releases), files)
            if found and self._old(f"{project}/json/index.json"):
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

# -- helpers ---------------------------------------------------------------------------------


def dir_entries(directory: str) -> dict[str, os.DirEntry]:
    """A directory's entries by name (none when it is missing or not a directory); never follows a link."""
    try:
        with os.scandir(directory) as listing:
            return {entry.name: entry for entry in listing}
    except (FileNotFoundError, NotADirectoryError):
        return {}


def is_real_directory(path: str) -> bool:
    """A directory itself, not a link to one (a link could lead out of the tree)."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def read_page(path: str) -> str | None:
    """The text of a regular file that is not a link (O_NOFOLLOW), or None: missing, a link, not a file.

    A page shorter than PAGE_READ (nearly every one) costs open, read and close; what is not a regular file
    fails to read (a directory), reads nothing (a FIFO) or a buffer full (a device), and only then is fstat
    asked.  The callers ask the page's age (lstat) only when it differs.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:  # ENOENT, ELOOP (a link), ENOTDIR
        return None
    try:
        data = os.read(fd, PAGE_READ)
        if len(data) in (0, PAGE_READ):
            found = os.fstat(fd)
            if not stat.S_ISREG(found.st_mode):
                return None
            chunks = [data]
            while chunk := os.read(fd, max(found.st_size, PAGE_READ)):  # to the end, if it grew meanwhile
                chunks.append(chunk)
            data = b"".join(chunks)
        return data.decode("utf-8", errors="replace")
    except OSError:  # EISDIR
        return None
    finally:
        os.close(fd)


def _same_lines(text: str, package: str, files: Collection[PageFile]) -> bool:
    """Whether the page's link lines are exactly those Mr Chase writes for ``files`` (in any order): as many
    lines as files, and the same set (each file's line is its own, so no line is missing or listed twice)."""
    found = [line for line in text.split("\n") if line.startswith("<a href=")]
    if len(found) != len(files):
        return False
    # most files have neither attribute: their line needs none computed
    return set(found) == {link_line(package, file, "" if not (file.requires_python or file.yanked) else None)
                          for file in files}


def _json_releases(text: str) -> dict[str, Any]:
    try:
        releases = json.loads(text).get("releases")
    except (ValueError, AttributeError):
        return {}
    return releases if isinstance(releases, dict) else {}


def kind_of(entry: os.DirEntry) -> str:
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


def _project_page(text: str) -> tuple[set[str], set[str]]:
    """The versions and the file names a project page lists, unescaped (a page without ``&`` has nothing to
    unescape)."""
    versions, files = set(_RELEASE.findall(text)), _linked_files(text)
    if "&" in text:
        return set(map(html.unescape, versions)), set(map(html.unescape, files))
    return versions, files


def _linked_files(text: str) -> set[str]:
    """The file name of each link ``href="<url>/<name>#sha256=..."`` (no quote or ``#`` in the URL), found
    by string search: a regex with no literal prefix tries every ``href`` and costs the audit twice as much."""
    files = set()
    for before in text.split("#sha256=")[:-1]:
        start = before.rfind(_HREF)
        url = before[start + len(_HREF):] if start >= 0 else ""
        if "/" in url and '"' not in url and "#" not in url:
            files.add(url[url.rfind("/") + 1:])
    return files


def _alias_problem(target: str | None, package: str, package_exists: bool) -> str | None:
    if target is None:
        return "not a link"
    if os.path.normpath(target) != package:
        return f"links to {target}"
    return None if package_exists else f"dangles: project/{package} does not exist"


__all__ = ["LINK", "Link", "PackageCheck", "Scanned", "dir_entries", "is_real_directory", "kind_of", "listed",
           "page_links", "read_page", "unescape"]
