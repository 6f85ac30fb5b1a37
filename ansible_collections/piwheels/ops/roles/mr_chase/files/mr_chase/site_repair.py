"""The site audit's repair: each finding checked again under the package's lock, then repaired all or nothing.

The scanner (site_scan.py) reads without locks, so what it found may have
changed by the time the job hands a package's findings here: piw-master
imported a build, a REMOVE ran, an operator cleaned up by hand.  So a repair
is a change like any other (removal.py's Change: one transaction, the one
journal, the one recovery), and inside its transaction, holding the locks
a REMOVE and a DELETE take (the package row and every version row of the
package, so no build can be imported into it until COMMIT), every finding
is checked again against the database and the disk, ``min_age`` included.
One that no longer holds is returned ``repaired: false`` with
:data:`GONE` and nothing is done about it: whatever ran meanwhile wins.

What each kind's repair is (the database is the truth; the tree is repaired toward it):

* orphan_wheel, orphan_directory, foreign_file, leftover_staging: the path
  is moved to ``staging/<token>/<n>`` before COMMIT and deleted after it, as
  a removal's wheels are;
* broken_alias: the link (or whatever has the alias's name) likewise, and
  the alias's link made again after COMMIT; missing_alias: the link made.
  The link is ``project/<alias>`` -> ``<package>``, relative, as
  piw-master's page writer makes it;
* missing_wheel, hash_mismatch: the build that produced the file is deleted
  as REMOVE deletes a version's builds (delete_builds: its download
  rows, its rows, and every other file of it moved aside), never the
  version's other builds; the finding's detail says whether piwheels builds
  the version again (not while the version or the package is skipped);
* stale_page, missing_page: the package page written from the database, in
  the master's format (page.py); stale_root_index: the root index, as DELETE
  writes it;
* orphan_archived_wheel (a wheel an archive host serves with no files row
  at all): added to the pending list of its location (journalled with the
  change, ArchivePending.add when it is settled), as a removal's archived
  files are: repaired means queued for the archive hosts, which the archive
  runbook or archive_sync then deletes; missing_archived_wheel (a row of an
  archive location whose wheel its host lacks): its build is deleted as for
  missing_wheel.  Whichever repair deletes a build, its archived files
  become pending the same way, the missing one too: the listing is one
  host's, and a mirror of the same location may still serve it;
* stale_project_page: piw-master rewrites the project page and JSON when
  told ``REBUILD ["BOTH", package]``, the notice every repair of a package
  sends; without a master_queue it is not repaired (:data:`NO_MASTER`).  Its
  re-check is only that the page is still there: the notice changes nothing
  the database does not say, so it can undo nothing.

Which findings to repair is the caller's choice (the job passes those of the
kinds its ``repair`` option names, so a foreign_file only when named); a
path that no finding names is never touched.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from functools import partial
from html.parser import HTMLParser

from .database import PACKAGE_EVIDENCE, PACKAGE_FILES, ROOT_INDEX_PACKAGES, Database
from .findings import ARCHIVE_KINDS, Finding
from .journal import Entry
from .notifier import rebuild_search, rewrite_pages
from .page import LOCAL, PageFile, index_pieces, page_pieces
from .protocol import normalise_location
from .removal import Change
from .tree import UnsafePath, fsync_dir, fsync_file, write_pieces

log = logging.getLogger(__name__)

#: the detail of a finding that did not hold any more when it was to be repaired
GONE = "no longer found when repaired: left alone"
#: the detail of a stale_project_page without a master to rewrite it
NO_MASTER = "not refreshed: no master_queue"
#: the kinds of a repair of the whole site (``package`` None); every other kind is a package's
SITE_KINDS = frozenset({"stale_root_index", "leftover_staging", "orphan_directory"})
#: what the package's rows say for the re-checks: its build ids and whether each is younger than min_age
BUILD_AGES = """
SELECT f.filename, b.build_id, b.built_at > (now() AT TIME ZONE 'UTC') - make_interval(secs => %s)
FROM builds b JOIN files f ON f.build_id = b.build_id WHERE b.package = %s
"""
LOCK_PACKAGE = "SELECT skip FROM packages WHERE package = %s FOR UPDATE"
LOCK_VERSIONS = "SELECT version, skip FROM versions WHERE package = %s FOR UPDATE"
ALIASES = "SELECT name FROM package_names WHERE package = %s AND name <> %s"
FILE_ROWS = "SELECT filename FROM files WHERE filename = ANY(%s)"
KNOWN_NAME = ("SELECT EXISTS (SELECT 1 FROM packages WHERE package = %(name)s), "
              "EXISTS (SELECT 1 FROM package_names WHERE name = %(name)s)")


@dataclass
class Rows:
    """What the database says of the package, read under its lock."""

    skip: str
    version_skips: dict[str, str]
    files: dict[str, PageFile]
    #: filename -> (build id, whether the build is younger than min_age: an import in flight)
    builds: dict[str, tuple[int, bool]]
    aliases: set[str]
    #: the names of the orphan_wheel and foreign_file findings that have a files row (of any package)
    taken: set[str]


@dataclass
class Plan:
    """What the re-checked findings ask for."""

    #: the paths moved aside (absolute), the builds deleted, the aliases linked
    moves: list[str] = field(default_factory=list)
    builds: set[int] = field(default_factory=set)
    links: list[str] = field(default_factory=list)
    #: [location, package, filename] of the orphan archived wheels queued for their archive hosts
    archived: list[list[str]] = field(default_factory=list)
    #: whether the package page (a site's repair: the root index) is written
    page: bool = False
    root_index: bool = False


@dataclass
class RepairResult:
    """The findings as repaired (``repaired``, ``detail``), and what the change did."""

    findings: list[Finding]
    #: the change's journal token ("" when nothing was repaired)
    token: str = ""
    counts: dict[str, int] = field(default_factory=dict)
    moved: list[str] = field(default_factory=list)
    builds: int = 0
    files: list[str] = field(default_factory=list)
    downloads: int = 0
    links: list[str] = field(default_factory=list)
    stale_pages: list[str] = field(default_factory=list)
    #: the notice for piw-master, or None
    notice: list | None = None


class SiteRepair(Change):
    """A package's (or the site's) findings, repaired in one change."""

    def __init__(self, *args, master: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        #: whether a piw-master is told of changes (stale_project_page is repaired only then)
        self.master = master
        #: the repair in hand's min_age as a time: nothing modified after it is touched
        self._cutoff = 0.0

    def repair(self, package: str | None, findings: list[Finding], min_age: float) -> RepairResult:
        """Re-check each finding under the package's lock and repair those that hold, all or nothing."""
        self.begin()
        self._cutoff = time.time() - min_age
        token = uuid.uuid4().hex
        entry = Entry(package or "", "", token, kind="repair")
        results, plan = list(findings), Plan()
        with self._transaction() as transaction:
            rows, xid = self._read(package, findings, min_age)
            held = self._check_all(package, results, rows, plan)
            if not held:
                return RepairResult(results)
            removed = delete_builds(self.db, sorted(plan.builds)) if plan.builds else (0, 0)
            listed = self._plan_entry(entry, plan, rows, xid, held, results)
            self.journal.write(entry)
            mounted = self._journal_archived(entry, xid)
            self._journalled(entry)
            self._move_aside(entry, listed)
            self._move_mounted(entry, mounted)
            transaction.while_committing = partial(self._sync, entry)
        self.checkpoint("committed")
        return self._after_commit(entry, plan, rows, removed, listed, results)

    def _journal_archived(self, entry: Entry, xid: str) -> list[list[str]]:
        """The archived files the repair queues or whose rows it deletes, journalled as REMOVE journals them
        (a synced evidence line): pending for their archive hosts once it commits, or, for an archive mounted on
        this host, returned to be moved aside inside the change."""
        pending, mounted, roots = self.journal.split_archived(entry.archived)
        if pending or roots:
            self.journal.add_evidence(entry, xid, entry.builds, pending, roots)
        return mounted

    # -- reading and re-checking --------------------------------------------------

    def _read(self, package: str | None, findings: list[Finding], min_age: float) -> tuple[Rows | None, str]:
        """The transaction's id (recovery's evidence) and, for a package, its rows, locked."""
        conn = self.db.conn
        evidence = conn.execute(PACKAGE_EVIDENCE, prepare=True)
        if package is None:
            return None, evidence.fetchone()[0]
        lock = conn.execute(LOCK_PACKAGE, (package,))
        versions = conn.execute(LOCK_VERSIONS, (package,))
        files = conn.execute(PACKAGE_FILES, (package,))
        ages = conn.execute(BUILD_AGES, (min_age, package))
        aliases = conn.execute(ALIASES, (package, package))
        taken = conn.execute(FILE_ROWS, ([finding.path.rsplit("/", 1)[-1] for finding in findings
                                          if finding.kind in ("orphan_wheel", "foreign_file",
                                                              "orphan_archived_wheel")],))
        xid, row = evidence.fetchone()[0], lock.fetchone()
        if row is None:
            return None, xid  # deleted meanwhile: none of its findings holds
        return Rows(row[0], dict(versions.fetchall()), {r[0]: PageFile(*r) for r in files.fetchall()},
                    {r[0]: (r[1], r[2]) for r in ages.fetchall()}, {r[0] for r in aliases.fetchall()},
                    {r[0] for r in taken.fetchall()}), xid

    def _check_all(self, package: str | None, results: list[Finding], rows: Rows | None, plan: Plan) -> dict[str, int]:
        """Set each finding's outcome in ``results`` (in place) and fill ``plan``; return kind -> repaired."""
        held: dict[str, int] = {}
        for index, finding in enumerate(results):
            try:
                outcome = self._check(package, finding, rows, plan)
            except UnsafePath:
                outcome = False
            if outcome is True:
                held[finding.kind] = held.get(finding.kind, 0) + 1
                results[index] = replace(finding, repaired=True)
            else:
                results[index] = replace(finding, repaired=False, detail=outcome or GONE)
        return held

    def _check(self, package: str | None, finding: Finding, rows: Rows | None, plan: Plan) -> bool | str:
        """True when the finding holds (and ``plan`` says what repairs it); False when it no longer does;
        a string: the detail of a finding that holds but cannot be repaired here."""
        if finding.kind in ARCHIVE_KINDS:
            return rows is not None and finding.package == package and self._check_archived(finding, rows, plan)
        parts = finding.path.split("/")
        path = self.tree.absolute(finding.path)
        if finding.kind in SITE_KINDS:
            return self._check_site(finding.kind, parts, path, plan)
        if rows is None or finding.package != package or parts[0] not in ("simple", "project") or len(parts) < 2:
            return False
        if parts[0] == "project":
            return self._check_project(package, finding.kind, parts, path, rows, plan)
        if parts[1] != package or len(parts) != 3:
            return False
        if finding.kind in ("stale_page", "missing_page"):
            return parts[2] == "index.html" and self._check_page(package, finding.kind, path, rows, plan)
        if finding.kind in ("missing_wheel", "hash_mismatch"):
            return self._check_build(finding.kind, parts[2], path, rows, plan)
        if finding.kind in ("orphan_wheel", "foreign_file"):
            orphan = parts[2] != "index.html" and parts[2] not in rows.taken and self._old(path, whole=True)
            return orphan and (finding.kind == "foreign_file" or parts[2].endswith(".whl")) and self._move(path, plan)
        return False

    @staticmethod
    def _check_archived(finding: Finding, rows: Rows, plan: Plan) -> bool:
        """orphan_archived_wheel: still no files row of that name (then queued for the archive hosts);
        missing_archived_wheel: still a row of that location whose build is old enough (then the build goes)."""
        package = finding.package or ""
        location, found, filename = finding.path.rpartition(f"/{package}/")
        if not (package and found and location and filename) or "/" in filename:
            return False
        if finding.kind == "orphan_archived_wheel":
            if filename in rows.taken or not filename.endswith(".whl"):
                return False
            plan.archived.append([normalise_location(location), package, filename])
            return True
        row, (build, young) = rows.files.get(filename), rows.builds.get(filename, (0, True))
        if row is None or normalise_location(row.location) != normalise_location(location) or young:
            return False
        plan.builds.add(build)
        return True

    def _check_site(self, kind: str, parts: list[str], path: str, plan: Plan) -> bool:
        if kind == "stale_root_index":
            if parts != ["simple", "index.html"] or not self._old(path, missing=True):
                return False
            packages = [row[0] for row in self.db.conn.execute(ROOT_INDEX_PACKAGES).fetchall()]
            plan.root_index = read_links(path) != sorted(((name, False, None) for name in packages), key=str)
            return plan.root_index
        if kind == "leftover_staging":
            pending = self.journal.pending() if self.journal.exists() else None
            return (len(parts) == 3 and parts[:2] in ([".mr-chase", "staging"], [".mr-chase", "set-aside"])
                    and not (pending is not None and parts[2] == pending.token)
                    and self._old(path, whole=True) and self._move(path, plan))
        if len(parts) != 2 or parts[0] not in ("simple", "project") or parts[1] == "index.html":
            return False
        package, alias = self.db.conn.execute(KNOWN_NAME, {"name": parts[1]}).fetchone()
        return (not package and not (alias and parts[0] == "project")
                and self._old(path, whole=True) and self._move(path, plan))

    def _check_project(self, package: str, kind: str, parts: list[str], path: str, rows: Rows,
                       plan: Plan) -> bool | str:
        if kind == "stale_project_page":
            if parts[1] != package or not os.path.lexists(path):
                return False
            return True if self.master else NO_MASTER  # the notice every repair of a package sends
        if kind not in ("broken_alias", "missing_alias") or len(parts) != 2 or parts[1] not in rows.aliases:
            return False
        exists = os.path.lexists(path)
        if kind == "missing_alias":
            if exists:
                return False
        elif not exists or not self._old(path) or self._links_to(path, package) or not self._move(path, plan):
            return False
        plan.links.append(parts[1])
        return True

    def _links_to(self, path: str, package: str) -> bool:
        """Whether ``path`` is a symlink that leads to the package's project directory, which exists."""
        project = self.tree.project_dir(package)
        return (os.path.islink(path) and os.path.isdir(project)
                and os.path.normpath(os.path.join(self.tree.project, os.readlink(path))) == project)

    def _check_page(self, package: str, kind: str, path: str, rows: Rows, plan: Plan) -> bool:
        if any(young for _build, young in rows.builds.values()):
            return False  # an import in flight: piw-master writes the page itself
        if kind == "missing_page":
            holds = not os.path.lexists(path)
        else:
            holds = self._old(path) and read_links(path) != expected_links(package, rows.files.values())
        plan.page = plan.page or holds
        return holds

    def _check_build(self, kind: str, filename: str, path: str, rows: Rows, plan: Plan) -> bool:
        row, (build, young) = rows.files.get(filename), rows.builds.get(filename, (0, True))
        if row is None or row.location != LOCAL or young:  # young: an import in flight, or gone between reads
            return False
        if kind == "missing_wheel":
            holds = not os.path.exists(path)
        else:
            inside = os.path.realpath(path).startswith(self.tree.simple + os.sep)  # never read out of the tree
            holds = inside and os.path.exists(path) and self._old(path) and sha256_of(path) != row.filehash
        if holds:
            plan.builds.add(build)
        return holds

    def _old(self, path: str, missing: bool = False, whole: bool = False) -> bool:
        """Whether ``path`` (and, ``whole``, everything under it) was last modified before min_age ago;
        ``missing``: what a path that is not there counts as."""
        try:
            if os.lstat(path).st_mtime > self._cutoff:
                return False
        except FileNotFoundError:
            return missing
        if whole and os.path.isdir(path) and not os.path.islink(path):
            for directory, names, files in os.walk(path):
                for name in names + files:
                    if os.lstat(os.path.join(directory, name)).st_mtime > self._cutoff:
                        return False
        return True

    @staticmethod
    def _move(path: str, plan: Plan) -> bool:
        if not os.path.lexists(path):
            return False
        if path not in plan.moves:
            plan.moves.append(path)
        return True

    # -- the change --------------------------------------------------------------

    def _plan_entry(self, entry: Entry, plan: Plan, rows: Rows | None, xid: str, held: dict[str, int],
                    results: list[Finding]) -> list:
        """Fill the journal entry from the plan; return what the new page lists (files, or package names)."""
        tree, token = self.tree, entry.token
        if rows is None:  # no such package (an orphan directory's name): nothing of a package is repaired
            entry.package = ""
        for filename, (build, _young) in (rows.builds.items() if rows else ()):
            row = rows.files.get(filename)
            if build in plan.builds and row is not None and row.location == LOCAL:
                self._move(tree.wheel(entry.package, filename), plan)
        entry.moves = [[original, os.path.join(tree.staging_dir(token), str(n))] for n, original in
                       enumerate(plan.moves)]
        entry.xid, entry.builds, entry.links, entry.counts = xid, sorted(plan.builds), plan.links, held
        entry.archived = plan.archived + self._archived_of_builds(entry.package, plan, rows)
        listed: list = []
        if plan.root_index:
            entry.temp_page, entry.page = tree.relative(tree.temp_root_page(token)), tree.relative(tree.root_page())
            listed = [row[0] for row in self.db.conn.execute(ROOT_INDEX_PACKAGES).fetchall()]
        elif rows is not None and (plan.page or plan.builds):
            entry.temp_page = tree.relative(tree.temp_page(entry.package, token))
            entry.page = tree.relative(tree.page(entry.package))
            gone = {filename for filename, (build, _young) in rows.builds.items() if build in plan.builds}
            listed = [row for name, row in rows.files.items() if name not in gone]
        if (plan.builds or plan.archived) and rows is not None:
            self._say_rebuilt(rows, plan, results)
        return listed

    @staticmethod
    def _archived_of_builds(package: str, plan: Plan, rows: Rows | None) -> list[list[str]]:
        """[location, package, filename] of the archived files of the builds the repair deletes (their rows go,
        so their archive hosts must delete them); a missing archived wheel too, which the host whose listing
        lacked it reports already absent, and any mirror of its location that still serves it deletes."""
        archived = []
        for filename, (build, _young) in (rows.builds.items() if rows else ()):
            row = rows.files.get(filename)
            if build in plan.builds and row is not None and row.location != LOCAL:
                archived.append([normalise_location(row.location), package, filename])
        return archived

    def _say_rebuilt(self, rows: Rows, plan: Plan, results: list[Finding]) -> None:
        """The detail of each missing_wheel / hash_mismatch repaired: its build went, and whether piwheels
        builds the version again."""
        for index, finding in enumerate(results):
            filename = finding.path.rsplit("/", 1)[-1]
            if finding.repaired and finding.kind == "orphan_archived_wheel":
                results[index] = replace(finding, detail=f"{finding.detail}; queued for its archive hosts: pending "
                                                         "until the archive runbook or archive_sync deletes it")
            if not finding.repaired or finding.kind not in ("missing_wheel", "hash_mismatch", "missing_archived_wheel"):
                continue
            build, version = rows.builds[filename][0], rows.files[filename].version
            built = sorted(name for name, (other, _young) in rows.builds.items() if other == build)
            if rows.skip:
                again = f"piwheels will not build it again: the package is skipped ({rows.skip})"
            elif rows.version_skips.get(version):
                again = f"piwheels will not build it again: {version} is skipped ({rows.version_skips[version]})"
            else:
                again = f"piwheels will build {version} again"
            results[index] = replace(finding, detail=f"{finding.detail}; removed build {build} of {version} "
                                                     f"({', '.join(built)}); {again}")

    def _move_aside(self, entry: Entry, listed: list) -> None:
        """Write the new page (or root index), then move every planned path into the staging directory."""
        if entry.writes_root_index and entry.temp_page:
            write_pieces(self.tree.absolute(entry.temp_page), index_pieces(listed), self.tree.simple)
        elif entry.temp_page:
            self.tree.write_temp_page(entry.package, entry.token, page_pieces(entry.package, listed))
        if not entry.moves:
            return
        os.mkdir(self.tree.staging_dir(entry.token))
        for original, staged in entry.moves:
            os.rename(original, staged)
            self.checkpoint("moving")
        self.checkpoint("moved")

    def _sync(self, entry: Entry) -> None:
        """While COMMIT runs: every directory something moved out of, and a new root index (recovery puts
        it in place as it is), durable (journal.py's table)."""
        self.checkpoint("committing")
        try:
            if entry.writes_root_index and entry.temp_page:
                fsync_file(self.tree.absolute(entry.temp_page))
            # (a mounted archive's package directory too: its moves are in entry.moves by now)
            for directory in sorted({os.path.dirname(original) for original, _staged in entry.moves}):
                fsync_dir(directory)
        except OSError as exc:
            log.error("file system error while repairing: %s", exc)

    def _after_commit(self, entry: Entry, plan: Plan, rows: Rows | None, removed: tuple[int, int], listed: list,
                      results: list[Finding]) -> RepairResult:
        """The page into place, the alias links made; the staged paths are deleted once the caller is
        done (its audit record and notice first), as after a reply."""
        stale = self.journal.replace_page(entry)
        self.checkpoint("page_replaced")
        self.journal.link_aliases(entry)
        self.checkpoint("linked")
        if entry.temp_page and not stale:
            self.cleanup.set(partial(self._after_reply, entry, listed, False))
        else:
            self.cleanup.set(partial(self.journal.clean, entry, self.checkpoint))
        gone = sorted(name for name, (build, _young) in (rows.builds.items() if rows else ()) if build in plan.builds)
        notice = rewrite_pages(entry.package) if entry.package else rebuild_search() if plan.root_index else None
        moved = [self.tree.relative(original) for original in plan.moves]
        return RepairResult(results, entry.token, entry.counts, moved, removed[0], gone, removed[1], plan.links,
                            stale, notice)


class _Links(HTMLParser):
    """The links of a simple page: (href, yanked, requires_python), as the page's HTML says them."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, bool, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            found = dict(attrs)
            self.links.append((found.get("href") or "", "data-yanked" in found, found.get("data-requires-python")))


def read_links(path: str) -> list[tuple[str, bool, str | None]] | None:
    """The sorted links of the page at ``path``; None when it cannot be read (then it differs from any)."""
    parser = _Links()
    try:
        with open(path, encoding="utf-8") as stream:
            parser.feed(stream.read())
    except (OSError, UnicodeDecodeError):
        return None
    return sorted(parser.links, key=str)


def expected_links(package: str, files: Iterable[PageFile]) -> list[tuple[str, bool, str | None]]:
    """The sorted links the package's page must have (page.py's format, read back as read_links reads it)."""
    return sorted(((f"{row.location}/{package}/{row.filename}#sha256={row.filehash}", row.yanked,
                    row.requires_python or None) for row in files), key=str)


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(partial(stream.read, 1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


#: the download rows of some builds' files (delete_builds)
DELETE_BUILD_DOWNLOADS = "DELETE FROM downloads WHERE filename IN (SELECT filename FROM files WHERE build_id = ANY(%s))"


def delete_builds(db: Database, build_ids: list[int]) -> tuple[int, int]:
    """Inside :meth:`Database.removal`: delete these builds as REMOVE deletes a version's (their download rows
    by name, then the builds: files and dependencies cascade), leaving the version and its other builds; return
    (builds, downloads) deleted."""
    conn = db.conn
    downloads = conn.execute(DELETE_BUILD_DOWNLOADS, (build_ids,))
    builds = conn.execute("DELETE FROM builds WHERE build_id = ANY(%s)", (build_ids,))
    db.sync()
    return builds.rowcount, downloads.rowcount


__all__ = ["GONE", "NO_MASTER", "RepairResult", "SiteRepair", "expected_links", "read_links"]
