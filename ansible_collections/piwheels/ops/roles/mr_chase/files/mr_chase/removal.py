"""One REMOVE, all or nothing (DESIGN.md, "A removal is all or nothing").

The file names are collected *before* any row is deleted (an implementation
that deletes the rows first finds nothing left to unlink), the wheels are
moved aside and the page written before COMMIT, and nothing is deleted
from disk until the database has committed.  The journal (journal.py) covers
a crash at any point in between.

The journal is written and fsynced while PostgreSQL runs the removal's
statements (they are sent in a pipeline and their results awaited only
afterwards), so the two waits overlap without a second thread; likewise the
package directory is fsynced while COMMIT runs.  Syncing the new page and
deleting the staged wheels is done after the reply, before the next request
is read.  Everything a crash
recovery relies on is still on disk in the order journal.py describes.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial

from .catch_up import catch_up
from .checkpoints import no_checkpoint
from .database import Database, Deleted, Removal
from .journal import Entry, Journal, mounted_staging
from .page import PageFile, page_pieces
from .protocol import DEFAULT_SKIP_REASON, normalise_location
from .tree import Tree, fsync_dir, safe_component

log = logging.getLogger(__name__)


class OutcomeUnknown(Exception):
    """COMMIT was sent but its outcome could not be learnt; the journal stays until it is settled."""


@dataclass
class Result:
    changed: bool
    skip: str
    builds: int = 0
    files: list[str] = field(default_factory=list)
    downloads: int = 0
    #: files whose rows went but that were never on this host (files.location is an archive server)
    archived: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    #: the change's journal token (its audit record and notice carry it), and the pages (relative) it
    #: committed but could not write (Journal.replace_page)
    token: str = ""
    stale_pages: list[str] = field(default_factory=list)


def archive_triples(package: str, archived: list[list[str]]) -> list[list[str]]:
    """[location, package, filename] of each archived file ([location, filename]) a change deleted, the
    location normalised (no trailing slash), as the journal and the pending list record them."""
    return [[normalise_location(location), package, filename] for location, filename in archived]


def target_skip(current: str, skip: bool | str) -> str:
    """The version's skip reason after the request (Database.delete_version's UPDATEs do the same).

    ``true`` keeps an existing reason (so repeating a removal changes nothing)
    or sets the default; a non-empty string sets that reason; ``false`` and
    ``""`` leave it alone (a REMOVE never un-skips a version).
    """
    if skip is True:
        return current or DEFAULT_SKIP_REASON
    if isinstance(skip, str) and skip:
        return skip
    return current


class Cleanup:
    """The one piece of work the last change left for after its reply (deleting its staged files), and
    emptying the journal after it.

    Shared by every kind of change, so that changes never overlap: each
    starts by finishing the last one's clean-up (see :meth:`Remover.flush`).
    """

    def __init__(self, journal: Journal) -> None:
        self.journal = journal
        self._pending = False
        self._work: Callable[[], None] | None = None

    def set(self, work: Callable[[], None] | None) -> None:
        """What is left of the change in hand (None: only its journal, which planned nothing on disk)."""
        self._pending, self._work = True, work

    def flush(self, keep_journal: bool = False) -> None:
        """Do the work left, then empty the journal, unless ``keep_journal`` (something the journal
        implies, e.g. the change's notice for piw-master, is not durable yet: recovery settles it)."""
        pending, work, self._pending, self._work = self._pending, self._work, False, None
        if not pending:
            return
        try:
            if work is not None:
                work()
        except Exception as exc:
            log.error("cleaning up after a change failed (%s); recovery will finish it", exc)
            return
        if not keep_journal:
            self.journal.drop()


class Change:
    """What every change of the tree (REMOVE and FORGET, DELETE, YANK) shares: the database, the tree, the one
    journal and clean-up slot, and how a failure before or during COMMIT is settled.  Subclasses add the
    change itself, setting ``_entry`` once its journal is written."""

    def __init__(self, db: Database, tree: Tree, journal: Journal, checkpoint: Callable[[str], None] = no_checkpoint,
                 cleanup: Cleanup | None = None):
        self.db = db
        self.tree = tree
        self.journal = journal
        self.checkpoint = checkpoint
        self._entry: Entry | None = None
        #: what is left of the last change once its reply is sent (see flush)
        self.cleanup = cleanup or Cleanup(journal)

    @contextmanager
    def _transaction(self) -> Iterator[Removal]:
        """The change's transaction (Database.removal).  Leaving it by an exception undoes what the
        journal recorded before COMMIT, or settles a COMMIT whose outcome was lost (see _failed)."""
        self._entry = None
        committing = False
        try:
            with self.db.guard(), self.db.removal() as transaction:
                yield transaction
                committing = True
        except BaseException as exc:
            self._failed(committing, exc)
            raise
        self._entry = None

    def _journalled(self, entry: Entry) -> None:
        """The journal of ``entry`` is on disk (written while the statements ran): from here on a failure
        undoes what it records."""
        self._entry = entry
        self.checkpoint("journal_written")

    def _add_evidence(self, entry: Entry, xid: str, builds: list[int], archived: list[list[str]]) -> list[list[str]]:
        """Journal the evidence and the archived files ([location, filename]) the change deleted: those of a
        mounted archive are moved aside (returned, to move), the others become pending once it commits."""
        pending, mounted, roots = self.journal.split_archived(archive_triples(entry.package, archived))
        self.journal.add_evidence(entry, xid, builds, pending, roots)
        return mounted

    def _move_mounted(self, entry: Entry, mounted: list[list[str]]) -> list[str]:
        """Move the archived files of mounted archives into staging on their own file system (journal.py);
        return the ones already missing there."""
        missing = []
        for location, package, filename in mounted:
            root = entry.mounted[location]
            staging = mounted_staging(root, entry.token)
            os.makedirs(staging, exist_ok=True)
            original = os.path.join(root, "simple", safe_component(package), safe_component(filename))
            try:
                os.rename(original, os.path.join(staging, filename))
            except FileNotFoundError:
                log.warning("archived wheel %s is not in the mounted archive; removing its rows anyway", original)
                missing.append(filename)
                continue
            entry.moves.append([original, os.path.join(staging, filename)])
            self.checkpoint("moving")
        if mounted:
            self.checkpoint("mounted_moved")
        return missing

    def _sync_mounted(self, entry: Entry) -> None:
        """While COMMIT runs: the moves out of each mounted archive's package directory, durable."""
        for root in entry.mounted.values():
            directory = os.path.join(root, "simple", safe_component(entry.package))
            if os.path.isdir(directory):
                fsync_dir(directory)

    def _put_in_place(self, entry: Entry, listed: Sequence[PageFile] | Sequence[str]) -> list[str]:
        """After COMMIT: the new page (listing ``listed``) into place; once the reply is sent, it is checked
        against the database again (catch_up.py) and the staged files are deleted.  Return the pages that
        could not be put in place (a stale_page debt each, see Journal.replace_page)."""
        stale = self.journal.replace_page(entry)
        self.checkpoint("page_replaced")
        self.cleanup.set(partial(self._after_reply, entry, [] if stale else listed, bool(stale)))
        return stale

    def _after_reply(self, entry: Entry, listed: Sequence[PageFile] | Sequence[str], stale: bool) -> None:
        if not stale:  # a page that could not be put in place is a debt already: writing it again would fail too
            catch_up(self.db, self.tree, entry, listed)
        self.journal.clean(entry, self.checkpoint)

    def begin(self) -> None:
        """What every change starts with: the last one's clean-up, then settling a journal whose commit
        outcome was unknown."""
        self.flush()
        with self.db.guard():
            self.journal.recover(self.db)

    def flush(self) -> None:
        """Finish the last change: delete its staged files and its journal.

        The service calls this once the reply is sent: the wheels left the
        served tree at COMMIT and the page is already rewritten, so the
        client need not wait for the unlinks.  Every change starts by
        calling this too, so changes never overlap; a clean-up that failed
        leaves the journal, which the next change's recovery settles.
        """
        self.cleanup.flush()

    def _failed(self, committing: bool, exc: BaseException) -> None:
        """Before COMMIT: undo; COMMIT itself failed in flight: ask the database whether it happened."""
        entry, self._entry = self._entry, None
        if entry is not None and committing:
            self._settle_unknown_commit(entry, exc)
        elif entry is not None:
            self.journal.undo(entry)
        else:
            self.journal.drop()  # the journal (if written at all) planned nothing that happened

    def _settle_unknown_commit(self, entry: Entry, cause: BaseException) -> None:
        """COMMIT failed in flight: ask the database whether it happened; OutcomeUnknown if it cannot say yet."""
        try:
            with self.db.guard():
                self.journal.recover(self.db, wait=5.0)
        except Exception as exc:
            log.error("outcome of %s unknown (%s); the journal stays until it can be settled", entry.what, exc)
            raise OutcomeUnknown(f"outcome unknown: the database connection failed while {entry.what} was "
                                 f"committing ({cause}); Mr Chase settles it as soon as the database answers "
                                 "(STATUS says settling until then)") from cause


class Remover(Change):
    """REMOVE and FORGET: one version's builds, files, downloads and wheels (and for FORGET its row)."""

    def remove(self, package: str, version: str, skip: bool | str, forget: bool = False) -> Result:
        """REMOVE (or, with ``forget``, FORGET: the version row goes too) one version, all or nothing."""
        self.begin()
        entry = self._plan(package, version, "forget" if forget else "remove")
        with self._transaction() as transaction:
            # the journal is on disk before any file is touched; PostgreSQL deletes meanwhile
            deleted = self.db.delete_version(package, version, skip, DEFAULT_SKIP_REASON, forget=forget,
                                             overlap=partial(self.journal.write, entry))
            mounted = self._add_evidence(entry, deleted.xid, deleted.build_ids, deleted.archived_files)
            self._journalled(entry)
            changed = deleted.builds > 0 or deleted.skip_changed or deleted.forgotten
            result = Result(changed, target_skip(deleted.previous_skip, skip),
                            deleted.builds, deleted.files, deleted.downloads, deleted.archived, token=entry.token)
            if deleted.files:
                result.missing = self._move_aside(entry, deleted) + self._move_mounted(entry, mounted)
                transaction.while_committing = partial(self._sync, entry)
        if deleted.files:
            self.checkpoint("committed")
            # the page lists what the transaction read; catch_up's read after the reply adds what
            # piw-master committed meanwhile (one read of the package's files per removal, not two)
            result.stale_pages = self._put_in_place(entry, deleted.remaining)
        else:
            self.cleanup.set(None)  # nothing was moved, no page written
        return result

    def _plan(self, package: str, version: str, kind: str) -> Entry:
        tree, token = self.tree, uuid.uuid4().hex
        return Entry(package, version, token, tree.relative(tree.temp_page(package, token)),
                     tree.relative(tree.page(package)), kind)

    def _move_aside(self, entry: Entry, deleted: Deleted) -> list[str]:
        """Write the new page, move the local wheels into staging; return the ones already missing.

        One rename per wheel and nothing else: a wheel that is not there is
        found by the rename failing, not by a separate look-up.  Archived
        files (on another server) have nothing on this host to move.
        """
        tree, package = self.tree, entry.package
        tree.write_temp_page(package, entry.token, page_pieces(package, deleted.remaining))
        os.mkdir(tree.staging_dir(entry.token))
        missing = []
        for filename in deleted.local:
            original, staged = tree.wheel(package, filename), tree.staged(entry.token, filename)
            try:
                os.rename(original, staged)
            except FileNotFoundError:
                log.warning("wheel %s is in the database but not on disk; removing its rows anyway", original)
                missing.append(filename)
                continue
            entry.moves.append([original, staged])
            self.checkpoint("moving")
        self.checkpoint("moved")
        return missing

    def _sync(self, entry: Entry) -> None:
        """Make the moves out of the package directory durable while COMMIT runs (journal.py's table says why
        this is the one sync there); a failure costs durability, not the removal."""
        self.checkpoint("committing")
        try:
            fsync_dir(self.tree.package_dir(entry.package))
            self._sync_mounted(entry)
        except OSError as exc:
            log.error("file system error while removing: %s", exc)
