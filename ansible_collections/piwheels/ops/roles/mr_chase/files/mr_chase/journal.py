"""The crash journal that makes a removal all or nothing across a crash.

A removal changes two things that cannot share a transaction: PostgreSQL rows
and files on disk.  The journal bridges them.  Its order of events:

1. write the journal (package, version, a token naming this removal's staging
   directory and temporary page) and fdatasync it, while the database runs
   the removal's statements in the open transaction (they do not depend on
   each other, so the two waits overlap); both are finished *before* a file is
   touched, so a crash can never leave a moved file that no journal mentions
   (a journal cut short by a crash does not parse, and then no file had been
   moved yet).  The first statement reads the evidence recovery will ask
   about (the transaction's id, the version's build ids); it is appended to
   the journal as a line of its own before the first rename;
2. write the temporary page, rename each wheel to ``staging/<token>/<filename>``;
3. COMMIT, while the package directory is fsynced (the moves out of it);
4. rename the page into place; reply; then read again what the page must
   list and write it again if piw-master imported a build meanwhile
   (catch_up.py); fdatasync the page and fsync the package directory (the
   new page is durable before the journal that could redo it goes), delete
   the staged wheels and empty the journal (they are out of the served tree
   already; the next removal waits for this clean-up before it starts, and
   recovery redoes it after a crash).

The journal is one file that is never removed, only overwritten and emptied,
so no step depends on a directory entry reaching the disk: an empty journal
means nothing is pending.

What each sync of a REMOVE protects (PostgreSQL's own WAL flush at COMMIT
protects the rows), and what recovery does after a power cut without it:

==========================  ====================  =====================================================
sync                        when                  without it, after a power cut
==========================  ====================  =====================================================
journal: fdatasync          before the first      a wheel could sit in ``staging/<token>/`` with no
                            rename (meanwhile     journal naming the token: nothing would put it back
                            the deletes run)      after an aborted removal, nor delete it after a
                                                  committed one
package directory: fsync    while COMMIT runs,    the wheels could be back in ``simple/<package>/``
                            before the reply      and ``staging/<token>/`` empty: recovery finds the
                                                  removal committed but nothing to delete, and wheels
                                                  with no rows stay in the served tree.  On the
                                                  journalling file systems a master runs on (ext4,
                                                  xfs) a rename is one journal transaction, so this
                                                  one sync also makes the staging directory's mkdir
                                                  and the renames' arrival there durable (an fsync of
                                                  ``staging/<token>`` never made its own mkdir durable
                                                  either).  COMMIT may reach the disk a moment before
                                                  this sync returns: a power cut exactly then is this
                                                  row's case
page: fdatasync, then       after the reply,      the journal could be emptied on disk while
package directory: fsync    before the journal    ``index.html`` is still the old page (links to
                            is emptied            deleted wheels) or an empty new one
journal's evidence line     (none: appended       a process crash never loses it (the kernel holds
                            after the deletes     it); a power cut may, and then recovery decides as
                            returned, before the  0.3 did ("the rows are gone", after waiting for the
                            first rename)         row lock), which only a rebuild imported before the
                                                  restart can fool.  Syncing it would cost a second
                                                  fdatasync, or a round trip more before the first
                                                  one (about 15% of a REMOVE, benchmarks/bench_remove)
evidence line with          only when the change  the change could commit with no record of the
archived files: fdatasync   deleted rows of       archived files it deleted: their archive hosts would
                            archived files: after serve them for ever and no pending list would name
                            the deletes returned, them.  A change without archived files writes the
                            before the first      evidence line as above (no sync): it costs nothing
                            rename (so before     more than before
                            COMMIT)
ledger ``archive`` entry    when the change is    (its own sync, ledger.py) the journal still names the
                            settled (after the    archived files until the ledger holds them: settling
                            reply, or by          the change again adds them again, once
                            recovery), before the
                            journal is emptied
emptying the journal        (none)                the journal comes back: it is settled again, every
                                                  step is idempotent
REPAIR: the directories     while COMMIT runs     as the package directory's row above, for each
moved out of: fsync                               directory a repair moved something out of
                                                  (``simple/<package>``, ``simple``, ``project``,
                                                  ``.mr-chase/staging``, ``.mr-chase/set-aside``)
REPAIR: ``project``: fsync  after the alias links  a link could be missing while the journal that would
                            are made, before the  make it again is gone (the next audit finds it: a
                            journal is emptied    ``missing_alias``)
==========================  ====================  =====================================================

Archived files (a ``files.location`` other than ``/simple``: an archive
server's) are known only once the change's statements returned (the rows
are read in the same pipeline as the deletes), so they cannot be in the
first line, which is written while the deletes run.  They go in the
evidence line, ``"archived": [[location, package, filename], ...]``, and
that line is fdatasynced only when it holds any: one sync more for a change
that has archived files, none for one without.  Settling the change (the
clean-up after the reply, or recovery of a committed change) adds them to the
ledger's ``archive`` pending list (ArchivePending.add, idempotent) before the
journal is emptied; an aborted change records nothing.  (ArchivePending.add is
also the way in for another change that deletes archived files' rows, e.g. the
site audit's repair: it journals them the same way and adds them on settling.)

An archive mounted on this host (config ``archives``) is not left pending:
its files move, like wheels, into a staging directory on their own file
system, ``<root>/.mr-chase-staging/<token>/``, after the evidence line
(which then names the roots, ``"mounted": {location: root}``, and is synced)
and before COMMIT; the archive's package directory is fsynced while COMMIT
runs; they are deleted after COMMIT and put back when the change did not
commit.  Recovery finds them by the token under the roots the journal names,
so a change of the configuration meanwhile strands nothing.

Not synced, because no recovery path reads it: the temporary page before
COMMIT (a committed removal's recovery writes the page from the database
instead, an aborted one deletes it) and ``staging/<token>`` (the package
directory's fsync covers it, see above).  YANK's page follows the same rule.
DELETE still fdatasyncs its temporary root index before COMMIT: its recovery
puts that file in place as it is (deletion.py).

Recovery (at start-up, and before the next removal when a commit's outcome
was unknown) asks PostgreSQL whether the change committed, from evidence a
later import cannot fake: the transaction id the journal recorded
(``pg_current_xact_id()``, read by the change's first statement and
appended to the journal before the first file moved).  ``pg_xact_status`` says committed or aborted; "in
progress" means the server has not yet noticed that the client died, so
recovery waits for the row lock that transaction holds and asks again.
When the id is too old for the server to know (its commit log was
truncated), the build ids the journal recorded for the version decide (a
rebuild of the same version has new ones); only a journal of 0.3 or before,
one whose evidence line a power cut lost, or a version without builds falls
back to "the version's file rows are gone" / "the package row is gone",
which a rebuild imported before the restart could fake.  So:

* committed: the rows are gone for good, so finish step 4.  Each step of 4
  is idempotent (a missing staged file was already deleted, a missing
  temporary page was already renamed), so a crash during recovery is safe.
  The page is written from the database (a build imported meanwhile stays
  listed); the staged wheels are deleted, never put back beside a newer
  build's file.
* aborted: the rows are back as they were, so undo step 2: move every staged
  file of the token back to its place (one whose name is taken again is set
  aside instead), delete the temporary page.

A step after COMMIT that keeps failing never holds the journal: a page that
cannot be replaced (an immutable file, a directory by its name) becomes a
``stale_page`` debt in the ledger (ledger.py) and the change is settled
once.  The journal is kept, on the other hand, while the change's notice for
piw-master cannot be made durable (a full disk): recovery queues it once it
can.  Each recovered change is audited and notified once across any number
of passes (the audit record and the outbox entry carry its token).

The other changes use the same journal, told apart by the entry's ``kind``:
FORGET is a removal whose statement also deletes the version row (the same
question settles it); DELETE stages whole directories and alias links
instead of wheels, writes the root index instead of the package page, and is
committed when the package row is gone; YANK moves nothing, so recovery
simply writes the package page from what the database committed.

REPAIR (site_repair.py: the site audit's repair of one package, or of the
site) moves things from many places (orphan wheels and directories, foreign
files, leftover staging, broken alias links), so its entry lists its
``moves`` (each to ``staging/<token>/<n>``) and is written, synced, with its
evidence (xid, the build ids it deletes) in the entry itself, once its
re-checks under the package's lock said what to do and before the first
move; it writes the package page (a site's repair: the root index, synced
before COMMIT as DELETE's is) and, after COMMIT, the alias links it lists.
Its outcome rule is the xid's, like every other kind: a repair's transaction
always has one (``pg_current_xact_id()`` assigns it, even when the repair
deletes no row, as one that only moves orphans), so "committed" means its
re-checks held to the end and "aborted" that they may not have.  When the
xid is too old to be known, the build ids decide as for a removal, and a
repair that deleted no row is undone: everything goes back where it was
(the next audit finds it again), as no file is deleted on a guess.

The staged files are found by their token in the staging directory, so the
journal is complete before the file names are known.  If the database cannot
be asked, the journal stays and the next attempt asks again; no file is
deleted on a guess.  What cannot be settled at all (a journal that does not
parse or names paths outside the tree, with the staging directory its token
names, a staged entry that cannot be deleted or put back) is moved to
``.mr-chase/set-aside/`` with a log line and an
audit record, so one bad entry never blocks the queue or crashes a start.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields

from .database import Database
from .ledger import ArchivePending, Ledger, StalePages
from .page import page_pieces
from .recovery_evidence import RecoveryEvidence
from .tree import Tree, UnsafePath, fsync_dir, fsync_file, naming, safe_component, write_all

log = logging.getLogger(__name__)

TOKEN = re.compile(r"[0-9a-f]{32}")


#: what a journal entry is for, and so how recovery asks whether it committed:
#: remove / forget: a version's wheels (the version's file rows are gone when it committed);
#: package: a whole package's directories (its row is gone when it committed);
#: page: a rewrite of the package's page only (YANK): recovery writes the page from the committed state;
#: repair: a site audit's repair of one package (or of the site): the transaction's xid decides (see above)
KINDS = ("remove", "forget", "package", "page", "repair")


@dataclass
class Entry:
    """What one change is doing to the file tree; paths are relative to output_path.

    ``moves`` ([original, staged] absolute paths) is known in memory during a
    change; recovery finds it again from the token (:meth:`Journal.staged_moves`).
    """

    package: str
    version: str
    token: str
    temp_page: str = ""
    page: str = ""
    kind: str = "remove"  # a journal of release 0.2 and before has no kind: it is a removal
    #: the change's transaction id (pg_current_xact_id), recovery's evidence of its outcome; "" before 0.4
    xid: str = ""
    #: REMOVE/FORGET: the build ids the version had, the evidence when ``xid`` is too old to be asked about
    builds: list[int] = field(default_factory=list)
    #: [location, package, filename] of each archived file whose row the change deleted (the evidence line)
    archived: list[list[str]] = field(default_factory=list)
    #: location -> archive root of the mounted archives whose files the change moved into their own staging
    #: directory (``<root>/.mr-chase-staging/<token>/``; the evidence line)
    mounted: dict[str, str] = field(default_factory=dict)
    moves: list[list[str]] = field(default_factory=list)
    #: REPAIR: the aliases whose ``project/<alias>`` link is made after COMMIT, and what was repaired
    #: (finding kind -> number), which recovery's audit record repeats
    links: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def what(self) -> str:
        """The change in words, for log lines and replies."""
        if self.kind == "package":
            return f"the deletion of package {self.package}"
        if self.kind == "repair":
            return f"the repair of {self.package or 'the site'}"
        verb = {"remove": "removal", "forget": "forgetting", "page": "change"}[self.kind]
        return f"the {verb} of {self.package} {self.version}"

    @property
    def writes_root_index(self) -> bool:
        """Whether the entry's page is the root ``simple/index.html`` (DELETE, a repair of the site)."""
        return self.kind == "package" or (self.kind == "repair" and not self.package)


ENTRY_FIELDS = ("package", "version", "token", "temp_page", "page", "kind", "xid")
#: every field of an entry, which Journal.write reads one by one (dataclasses.asdict deep-copies: several
#: times the cost, on REMOVE's path)
ENTRY_ATTRIBUTES = tuple(item.name for item in fields(Entry))
#: where a whole package's pieces wait in its staging directory: simple/<package>, project/<package>
#: and the project/<alias> symlinks
PACKAGE_SIMPLE, PACKAGE_PROJECT, PACKAGE_LINKS = "simple", "project", "links"
#: a mounted archive's staging directory, beside its simple/
MOUNTED_STAGING = ".mr-chase-staging"


def mounted_staging(root: str, token: str) -> str:
    """Where a change's files of the archive mounted at ``root`` wait for COMMIT: on that file system, so the
    rename is atomic and the undo a rename back."""
    return os.path.join(root, MOUNTED_STAGING, safe_component(token))


def _is_build_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no build id


class Journal:
    def __init__(self, tree: Tree, on_committed: Callable[[Entry], None] | None = None,
                 on_set_aside: Callable[[str, str], None] | None = None, stale: StalePages | None = None,
                 checkpoint: Callable[[str], None] = lambda step: None, archives: ArchivePending | None = None,
                 mounts: dict[str, str] | None = None):
        self.tree = tree
        #: test hook of recovery: "recovery_audited" is passed once a committed change is audited and notified
        self.checkpoint = checkpoint
        #: pages a committed change could not write (the ledger's stale_page debts)
        self.stale = stale or StalePages(Ledger(tree), tree)
        #: the archived files committed changes deleted, until their archive hosts no longer serve them
        self.archives = archives or ArchivePending(self.stale.ledger)
        #: the archives mounted on this host (config ``archives``): location -> archive root
        self.mounts = dict(mounts or {})
        self.path = os.path.join(tree.state, "journal.json")
        #: told of every removal recovery finds committed (the service notifies piw-master and audits it)
        self.on_committed = on_committed
        #: told of everything set aside (what, why): the service audits it
        self.on_set_aside = on_set_aside
        #: whether the journal holds an entry; only this process writes it (Tree.lock), so after one look at
        #: the file this is known without a stat on every request
        self._written: bool | None = None

    def exists(self) -> bool:
        """Whether a removal is pending (written and not yet settled)."""
        if self._written is None:
            try:
                self._written = os.stat(self.path).st_size > 0
            except FileNotFoundError:
                self._written = False
        return self._written

    def pending(self) -> Entry | None:
        """The journal left behind, if any; one that is unreadable or names paths outside the tree
        is set aside (it was cut short before any move, or it is not ours to act on)."""
        try:
            with open(self.path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            return None
        if not text:
            return None
        try:
            return self._parse(text)
        except (ValueError, TypeError, KeyError, UnsafePath) as exc:
            self._set_aside_journal(f"unusable journal ({exc})")
            self._set_aside_staging_of(text, f"staged by an unusable journal ({exc})")
            return None

    def _parse(self, text: str) -> Entry:
        first, _newline, evidence = text.partition("\n")
        record = json.loads(first)
        if not isinstance(record, dict):
            raise TypeError("the entry is not an object")
        record.update(self._evidence(evidence))
        entry = Entry(**{key: record[key] for key in ENTRY_FIELDS if key in record})
        if not all(isinstance(getattr(entry, key), str) for key in ENTRY_FIELDS):
            raise TypeError("a field is not a string")
        if not TOKEN.fullmatch(entry.token):
            raise ValueError(f"token {entry.token!r} is not a removal token")
        if entry.kind not in KINDS:
            raise ValueError(f"kind {entry.kind!r} is not one of {', '.join(KINDS)}")
        entry.builds = record.get("builds", [])
        if not isinstance(entry.builds, list) or not all(_is_build_id(build) for build in entry.builds):
            raise TypeError("builds is not a list of build ids")
        entry.mounted = record.get("mounted", {})
        if not isinstance(entry.mounted, dict) or not all(
                isinstance(root, str) and os.path.isabs(root) for root in entry.mounted.values()):
            raise TypeError("mounted is not a mapping of locations to absolute paths")
        entry.archived = record.get("archived", [])
        if not isinstance(entry.archived, list) or not all(
                isinstance(item, list) and len(item) == 3 and all(isinstance(name, str) for name in item)
                for item in entry.archived):
            raise TypeError("archived is not a list of [location, package, filename]")
        if entry.xid and not entry.xid.isdigit():
            raise ValueError(f"xid {entry.xid!r} is not a transaction id")
        if entry.package or entry.kind != "repair":  # a repair of the whole site names no package
            safe_component(entry.package)
        for path in (entry.temp_page, entry.page):
            if path:
                self.tree.absolute(path)
        # a repair (and a journal of release 0.1) lists its moves, relative to output_path
        entry.moves = [[self.tree.absolute(original), self.tree.absolute(staged)]
                       for original, staged in record.get("moves", [])]
        if entry.kind == "repair" and any(staged != os.path.join(self.tree.staging_dir(entry.token), str(n))
                                          for n, (_original, staged) in enumerate(entry.moves)):
            raise UnsafePath("a repair's moves must go to its own staging directory")  # recovery deletes them
        entry.links = [safe_component(alias) for alias in record.get("links", [])]
        entry.counts = record.get("counts", {})
        if not isinstance(entry.counts, dict) or not all(isinstance(n, int) for n in entry.counts.values()):
            raise TypeError("counts is not an object of numbers")
        return entry

    @staticmethod
    def _evidence(line: str) -> dict:
        """The evidence line add_evidence appended; {} when there is none, or a power cut cut it short."""
        if not line:
            return {}
        try:
            evidence = json.loads(line)
        except ValueError:
            log.warning("the journal's evidence line is cut short (a power cut?): recovery falls back")
            return {}
        if not isinstance(evidence, dict):
            return {}
        return {key: evidence[key] for key in ("xid", "builds", "archived", "mounted") if key in evidence}

    def write(self, entry: Entry) -> None:
        """Record the plan durably before any file is touched: one write over the last journal, one fdatasync."""
        record = {name: getattr(entry, name) for name in ENTRY_ATTRIBUTES}
        moves = record.pop("moves")
        del record["archived"], record["mounted"]  # the evidence line carries them (add_evidence)
        if entry.kind == "repair":  # its moves come from many places: listed, as staging/<token>/ cannot say
            record["moves"] = [[self.tree.relative(original), self.tree.relative(staged)] for original, staged in moves]
        for key in ("links", "counts"):
            if not record[key]:
                del record[key]
        data = json.dumps(record).encode("utf-8")
        self._written = True  # even a write that fails half way may have left something to settle
        with naming(self.path):
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o640)
            try:
                write_all(fd, data)
                os.ftruncate(fd, len(data))
                os.fdatasync(fd)
            finally:
                os.close(fd)

    def add_evidence(self, entry: Entry, xid: str, builds: list[int], archived: list[list[str]] = (),
                     mounted: dict[str, str] | None = None) -> None:
        """Append what recovery will ask the database about, once the change's statements returned and
        before the first file moves: a line of its own after the synced entry, not synced (see the table
        above: a process crash never loses it, a power cut may, and recovery then falls back).  With
        ``archived`` files ([location, package, filename]) or ``mounted`` archives (location -> root, whose
        files move into staging there) the line is synced: it is then the only record of what the archive
        hosts must delete once the change commits, or of where files wait."""
        entry.xid, entry.builds, entry.archived, entry.mounted = xid, builds, list(archived), dict(mounted or {})
        evidence = {"xid": xid, "builds": builds, **({"archived": entry.archived} if archived else {}),
                    **({"mounted": entry.mounted} if mounted else {})}
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
        try:
            write_all(fd, b"\n" + json.dumps(evidence).encode("utf-8"))
            if archived or mounted:
                os.fdatasync(fd)
        finally:
            os.close(fd)

    def split_archived(self, archived: list[list[str]]) -> tuple[list[list[str]], list[list[str]], dict[str, str]]:
        """([location, package, filename] left pending, those of mounted archives, {location: root} of these)."""
        mounted = [item for item in archived if item[0] in self.mounts]
        return ([item for item in archived if item[0] not in self.mounts], mounted,
                {location: self.mounts[location] for location, _package, _filename in mounted})

    def create(self) -> None:
        """Make the (empty) journal file once, durably, so that writing it never changes a directory."""
        if not os.path.exists(self.path):
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o640))
            fsync_dir(self.tree.state)

    def drop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.truncate(self.path, 0)
        self._written = False

    def staged_moves(self, entry: Entry) -> list[list[str]]:
        """[original, staged] of every wheel (or, for a package, directory and link) ``entry`` moved
        into staging, the files of mounted archives included."""
        return self._staged_local(entry) + self._staged_mounted(entry)

    def _staged_mounted(self, entry: Entry) -> list[list[str]]:
        """The archived files ``entry`` moved into each mounted archive's own staging directory."""
        moves = []
        for root in entry.mounted.values():
            directory = mounted_staging(root, entry.token)
            with contextlib.suppress(FileNotFoundError):
                moves += [[os.path.join(root, "simple", safe_component(entry.package), safe_component(name)),
                           os.path.join(directory, name)] for name in os.listdir(directory)]
        return moves

    def _staged_local(self, entry: Entry) -> list[list[str]]:
        if entry.kind == "package":
            return self._staged_package(entry)
        if entry.kind in ("page", "repair"):  # a repair's are in the journal (``moves``)
            return []
        directory = self.tree.staging_dir(entry.token)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            return self._staged_moves_of_release_0_1(entry)
        return [[self.tree.wheel(entry.package, name), os.path.join(directory, name)] for name in names]

    def package_moves(self, entry: Entry, aliases: list[str]) -> list[list[str]]:
        """Where a whole package's directories and alias links go in its staging directory."""
        tree, staging = self.tree, self.tree.staging_dir(entry.token)
        moves = [[tree.package_dir(entry.package), os.path.join(staging, PACKAGE_SIMPLE)],
                 [tree.project_dir(entry.package), os.path.join(staging, PACKAGE_PROJECT)]]
        links = os.path.join(staging, PACKAGE_LINKS)
        return moves + [[os.path.join(tree.project, alias), os.path.join(links, alias)] for alias in aliases]

    def _staged_package(self, entry: Entry) -> list[list[str]]:
        staging = self.tree.staging_dir(entry.token)
        try:
            aliases = os.listdir(os.path.join(staging, PACKAGE_LINKS))
        except FileNotFoundError:
            aliases = []
        return [[original, staged] for original, staged in self.package_moves(entry, aliases)
                if os.path.lexists(staged)]

    def _staged_moves_of_release_0_1(self, entry: Entry) -> list[list[str]]:
        """Release 0.1 staged ``staging/<token>.<filename>``: a journal it left is still settled."""
        prefix = entry.token + "."
        return [[self.tree.wheel(entry.package, name[len(prefix):]), os.path.join(self.tree.staging, name)]
                for name in os.listdir(self.tree.staging) if name.startswith(prefix)]

    # -- the two ways a removal ends ------------------------------------------

    def finish(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> list[str]:
        """After COMMIT: put the new page in place, delete the staged wheels and empty the journal (each step
        idempotent); return the pages that could not be written (see replace_page)."""
        stale = self.replace_page(entry)
        checkpoint("page_replaced")
        self.link_aliases(entry)
        self.clean(entry, checkpoint)
        self.drop()
        return stale

    def link_aliases(self, entry: Entry) -> None:
        """After COMMIT: make each ``project/<alias>`` of the entry's ``links`` a symlink to the package's
        project directory, relative, as piw-master's page writer makes it (``symlink_to(project_dir.name)``);
        an alias whose name is taken again is left as it is (so is piw-master's).  Durable before the journal
        goes (recovery makes them again otherwise)."""
        if not entry.links:
            return
        os.makedirs(self.tree.project, exist_ok=True)
        for alias in entry.links:
            link = os.path.join(self.tree.project, safe_component(alias))
            try:
                os.symlink(safe_component(entry.package), link)
            except FileExistsError:
                pass
            except OSError as exc:  # never holds the journal: the next audit finds it a missing_alias again
                log.error("cannot link %s to %s (%s); the next audit reports it", link, entry.package, exc)
        fsync_dir(self.tree.project)

    def replace_page(self, entry: Entry) -> list[str]:
        """Rename the temporary page into place; return the pages (relative) that could not be.

        A committed change whose page cannot be replaced (an immutable file,
        a directory by the page's name) is still settled, once: the page is
        recorded as a stale_page debt in the ledger (STATUS shows it until a
        later write of that page succeeds), its temporary page is deleted,
        and the rest of the change goes on.  Retrying the rename would only
        block every later change behind a journal that cannot be emptied.
        """
        if not entry.temp_page:
            return []
        temp, page = self.tree.absolute(entry.temp_page), self.tree.absolute(entry.page)
        try:
            os.replace(temp, page)
        except FileNotFoundError:  # already renamed by an earlier attempt
            return []
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self.stale.record(entry.package, [entry.page], exc, entry.token)
            return [entry.page]
        self.stale.written(entry.page)
        return []

    def clean(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> None:
        """Record the change's archived files as pending (ledger kind ``archive``), make the page durable (its
        content and its name) and delete the staged wheels of a committed removal; the journal is emptied by
        the caller (Cleanup, finish) once nothing else depends on it."""
        checkpoint("cleaning")
        if entry.archived:  # before the journal that names them goes (a second pass adds nothing)
            self.archives.add(entry.archived)
            checkpoint("archives_recorded")
        if entry.page:
            page = self.tree.absolute(entry.page)
            with contextlib.suppress(FileNotFoundError):
                fsync_file(page)
                fsync_dir(os.path.dirname(page))
        stuck = []
        for _original, staged in entry.moves:
            try:
                if entry.kind in ("package", "repair") and not os.path.islink(staged) and os.path.isdir(staged):
                    shutil.rmtree(staged)
                else:
                    os.unlink(staged)
            except FileNotFoundError:
                pass
            except OSError as exc:
                stuck.append(f"{staged}: {exc.strerror or exc}")
        checkpoint("files_deleted")
        self._close_staging(entry, stuck, "cannot be deleted")

    def undo(self, entry: Entry) -> None:
        """The transaction did not commit: put every moved wheel back, drop the temporary page."""
        stuck = []
        for original, staged in entry.moves:
            if not os.path.lexists(staged):
                continue
            if os.path.lexists(original):  # never over or beside another file of that name: set aside
                stuck.append(f"{staged}: {self.tree.relative(original)} exists again")
                continue
            try:
                os.rename(staged, original)
            except OSError as exc:
                stuck.append(f"{staged}: {exc.strerror or exc}")
        if entry.temp_page:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tree.absolute(entry.temp_page))
        self._close_staging(entry, stuck, "cannot be put back")
        self.drop()

    def _close_staging(self, entry: Entry, stuck: list[str], problem: str) -> None:
        """Remove the removal's staging directory; set it aside if anything in it could not be handled."""
        for root in entry.mounted.values():
            with contextlib.suppress(OSError):  # a staged file still in it (logged below) keeps it
                os.rmdir(mounted_staging(root, entry.token))
        directory = self.tree.staging_dir(entry.token)
        if not stuck:
            for empty in (os.path.join(directory, PACKAGE_LINKS), directory):  # a package's links first
                with contextlib.suppress(FileNotFoundError, OSError):
                    os.rmdir(empty)
            return
        self._set_aside(directory, f"{entry.package} {entry.version}: staged entries {problem}: {'; '.join(stuck)}")

    def _set_aside(self, path: str, reason: str) -> None:
        os.makedirs(self.tree.set_aside, exist_ok=True)
        target = os.path.join(self.tree.set_aside, f"{time.strftime('%Y%m%dT%H%M%S')}-{os.path.basename(path)}")
        try:
            os.rename(path, target)
        except OSError as exc:
            log.error("cannot set %s aside (%s); %s", path, exc, reason)
            return
        log.error("set aside %s as %s: %s", path, target, reason)
        if self.on_set_aside is not None:
            self.on_set_aside(target, reason)

    def _set_aside_staging_of(self, text: str, reason: str) -> None:
        """The staging directory a set-aside journal names, if its token is one: nothing may stay in
        staging that no journal settles (a tampered journal's paths are not followed, its token is only
        a directory name under staging/)."""
        with contextlib.suppress(ValueError, AttributeError):
            token = json.loads(text).get("token")
            if isinstance(token, str) and TOKEN.fullmatch(token) and os.path.isdir(self.tree.staging_dir(token)):
                self._set_aside(self.tree.staging_dir(token), reason)

    def _set_aside_journal(self, reason: str) -> None:
        """Keep a copy of an unusable journal for the operator, and empty the journal itself."""
        os.makedirs(self.tree.set_aside, exist_ok=True)
        target = os.path.join(self.tree.set_aside, f"{time.strftime('%Y%m%dT%H%M%S')}-journal.json")
        with open(self.path, "rb") as source, open(target, "wb") as copy:
            copy.write(source.read())
        self.drop()
        log.error("set aside the journal as %s: %s", target, reason)
        if self.on_set_aside is not None:
            self.on_set_aside(target, reason)

    # -- recovery ---------------------------------------------------------------

    def recover(self, db: Database, wait: float = 30.0) -> str | None:
        """Finish or undo a journal left behind; return what was done, or None if there was none.

        DatabaseUnavailable (and a lock that stays held past ``wait``) leave the journal for a later attempt.
        """
        if not self.exists():
            return None
        entry = self.pending()
        if entry is None:
            return None
        if entry.kind == "page":
            return self._recover_page(db, entry, wait)
        with db.guard():
            committed = self._committed(db, entry, wait)
        # a repair journals its own moves; those out of mounted archives, made after, are found by the token
        entry.moves = (entry.moves + self._staged_mounted(entry) if entry.kind == "repair"
                       else entry.moves or self.staged_moves(entry))
        if committed:
            if (not entry.writes_root_index and entry.temp_page
                    and os.path.isdir(self.tree.package_dir(entry.package))):
                self._page_from_database(db, entry, wait)  # the temporary page was never synced
            if self.on_committed is not None:  # before the journal goes: a crash in between repeats it
                self.on_committed(entry)
            self.checkpoint("recovery_audited")
            self.finish(entry)
            outcome = "finished"
        else:
            self.undo(entry)
            outcome = "rolled back"
        log.warning("recovered %s (%d staged entries): %s", entry.what, len(entry.moves), outcome)
        return outcome

    @staticmethod
    def _committed(db: Database, entry: Entry, wait: float) -> bool:
        """Whether the entry's transaction committed, from evidence a later import cannot fake.

        First its transaction id (pg_xact_status); when that is too old to
        be known (or the journal predates it), the build ids the version had
        (a rebuild gets new ones); only a journal of 0.3 and before, or a
        version that had no build, falls back to "the rows are gone".
        """
        evidence = RecoveryEvidence(db)
        lock = (entry.package, None if entry.kind in ("package", "repair") else entry.version)
        status = evidence.transaction_committed(entry.xid, lock, wait) if entry.xid else None
        if status is not None:
            return status
        if entry.kind == "package":
            return evidence.package_gone(entry.package, wait)
        if entry.builds:
            return evidence.builds_gone(entry.package, entry.version, entry.builds, wait)
        if entry.kind == "repair":  # it deleted no row: nothing tells, so nothing is deleted on a guess
            return False
        return evidence.version_files_gone(entry.package, entry.version, wait)

    def _recover_page(self, db: Database, entry: Entry, wait: float) -> str:
        """A page rewrite (YANK) left behind: write the page from what is committed, whichever way the
        change went (no file moved, so there is nothing else to settle)."""
        self._page_from_database(db, entry, wait)
        if self.on_committed is not None:
            self.on_committed(entry)
        self.checkpoint("recovery_audited")
        self.finish(entry)
        log.warning("recovered the page of %s after a change to %s: rewritten from the database",
                    entry.package, entry.version)
        return "page rewritten"

    def _page_from_database(self, db: Database, entry: Entry, wait: float) -> None:
        """Write the entry's temporary page, durably, from the package's files as committed."""
        with db.guard():
            files = RecoveryEvidence(db).package_files(entry.package, entry.version, wait)
        fsync_file(self.tree.write_temp_page(entry.package, entry.token, page_pieces(entry.package, files)))
