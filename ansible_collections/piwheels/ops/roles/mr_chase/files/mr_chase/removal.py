"""One REMOVE, all or nothing (DESIGN.md, "A removal is all or nothing").

The file names are collected *before* any row is deleted (an implementation
that deletes the rows first finds nothing left to unlink), the wheels are
moved aside and the page written before COMMIT, and nothing is deleted
from disk until the database has committed.  The journal (journal.py) covers
a crash at any point in between.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from .database import Database, Deleted
from .journal import Entry, Journal
from .protocol import DEFAULT_SKIP_REASON
from .tree import Tree, fsync_dir, render_page

log = logging.getLogger(__name__)


def no_checkpoint(step: str) -> None:
    """The default: no test hook."""


@dataclass
class Result:
    changed: bool
    skip: str
    builds: int = 0
    files: list[str] = field(default_factory=list)
    downloads: int = 0
    missing: list[str] = field(default_factory=list)


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


class Remover:
    def __init__(self, db: Database, tree: Tree, journal: Journal, checkpoint: Callable[[str], None] = no_checkpoint):
        self.db = db
        self.tree = tree
        self.journal = journal
        self.checkpoint = checkpoint
        self._entry: Entry | None = None

    def remove(self, package: str, version: str, skip: bool | str) -> Result:
        with self.db.guard():
            self.journal.recover(self.db)  # settle an earlier removal whose commit outcome was unknown
        self._entry = None
        committing = False
        try:
            with self.db.guard(), self.db.removal():
                deleted = self.db.delete_version(package, version, skip, DEFAULT_SKIP_REASON)
                result = Result(deleted.builds > 0 or deleted.skip_changed, target_skip(deleted.previous_skip, skip),
                                deleted.builds, deleted.files, deleted.downloads)
                if deleted.files:
                    result.missing = self._move_aside(package, version, deleted)
                committing = True
        except BaseException:
            entry, self._entry = self._entry, None
            if entry is not None and committing:
                self._settle_unknown_commit()
            elif entry is not None:
                self.journal.undo(entry)
            raise
        entry, self._entry = self._entry, None
        if entry is not None:
            self.checkpoint("committed")
            self.journal.finish(entry, self.checkpoint)
        return result

    def _settle_unknown_commit(self) -> None:
        """COMMIT failed in flight: ask the database (possibly later) whether it happened."""
        try:
            with self.db.guard():
                self.journal.recover(self.db, wait=5.0)
        except Exception as exc:
            log.error("outcome of a removal unknown (%s); the journal stays until it can be settled", exc)

    def _move_aside(self, package: str, version: str, deleted: Deleted) -> list[str]:
        """Journal, write the new page, move the wheels into staging; return the ones already missing."""
        tree = self.tree
        token = uuid.uuid4().hex
        moves, missing = [], []
        for filename in deleted.files:
            original = tree.wheel(package, filename)
            if os.path.exists(original):
                moves.append([tree.relative(original), tree.relative(tree.staged(token, filename))])
            else:
                log.warning("wheel %s is in the database but not on disk; removing its rows anyway", original)
                missing.append(filename)
        entry = Entry(deleted.txid, package, version, token, deleted.files, moves,
                      tree.relative(tree.temp_page(package, token)), tree.relative(tree.page(package)))
        self.journal.write(entry)
        self._entry = entry
        self.checkpoint("journal_written")
        tree.write_temp_page(package, token, render_page(package, deleted.remaining))
        for original, staged in moves:
            os.rename(tree.absolute(original), tree.absolute(staged))
            self.checkpoint("moving")
        fsync_dir(tree.package_dir(package))
        self.checkpoint("moved")
        return missing
