"""The crash journal that makes a removal all or nothing across a crash.

A removal changes two things that cannot share a transaction: PostgreSQL rows
and files on disk.  The journal bridges them.  Its order of events:

1. write the journal (package, version, a token naming this removal's staged
   files and temporary page) and fsync it, while the database runs the
   removal's statements in the open transaction (they do not depend on each
   other, so the two waits overlap); both are finished *before* a file is
   touched, so a crash can never leave a moved file that no journal mentions
   (a journal cut short by a crash does not parse, and then no file had been
   moved yet);
2. write the temporary page, rename each wheel to ``staging/<token>.<filename>``;
3. COMMIT, while the temporary page and the package directory are fsynced;
4. rename the page into place; reply; then delete the staged wheels and the
   journal (they are out of the served tree already; the next removal waits
   for this clean-up before it starts, and recovery redoes it after a crash).

Recovery (at start-up, and before the next removal when a commit's outcome
was unknown) asks PostgreSQL whether the removal committed: it waits for the
version's row lock (a removal holds it until its transaction ends, and a
transaction whose client died is aborted by the server), then looks for the
version's file rows.  The removal deleted all of them under that lock, and an
aborted one deleted none, so "none left" means committed.  So:

* committed: the rows are gone for good, so finish step 4.  Each step of 4
  is idempotent (a missing staged file was already deleted, a missing
  temporary page was already renamed), so a crash during recovery is safe.
* aborted: the rows are back as they were, so undo step 2: move every staged
  file of the token back to its place, delete the temporary page.

The staged files are found by their token in the staging directory, so the
journal is complete before the file names are known.  If the database cannot
be asked, the journal stays and the next attempt asks again; no file is
deleted on a guess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .database import Database
from .tree import Tree, write_durably

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """What one removal is doing to the file tree; paths are relative to output_path.

    ``moves`` ([original, staged] absolute paths) is known in memory during a
    removal; recovery finds it again from the token (:meth:`Journal.staged_moves`).
    """

    package: str
    version: str
    token: str
    temp_page: str = ""
    page: str = ""
    moves: list[list[str]] = field(default_factory=list)


ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)


class Journal:
    def __init__(self, tree: Tree, on_committed: Callable[[Entry], None] | None = None):
        self.tree = tree
        self.path = os.path.join(tree.state, "journal.json")
        #: told of every removal recovery finds committed (the service notifies piw-master)
        self.on_committed = on_committed

    def pending(self) -> Entry | None:
        """The journal left behind, if any.

        The journal is complete and fsynced before the first file is moved,
        so a journal that does not parse was cut short before any move: there
        is nothing to undo and it is simply discarded.
        """
        try:
            with open(self.path, encoding="utf-8") as stream:
                text = stream.read()
        except FileNotFoundError:
            return None
        try:
            record = json.loads(text)
            entry = Entry(**{key: record[key] for key in ENTRY_FIELDS if key in record})
            # a journal of an earlier release lists its moves, relative to output_path
            entry.moves = [[self.tree.absolute(original), self.tree.absolute(staged)]
                           for original, staged in entry.moves]
            return entry
        except (ValueError, TypeError, KeyError):
            log.warning("discarding an incomplete journal (a crash before any file was moved)")
            os.unlink(self.path)
            return None

    def write(self, entry: Entry) -> None:
        """Record the plan durably before any file is touched (one write, one fsync)."""
        record = asdict(entry)
        del record["moves"]
        write_durably(self.path, json.dumps(record).encode("utf-8"))

    def staged_moves(self, entry: Entry) -> list[list[str]]:
        """[original, staged] of every wheel the removal ``entry`` moved into staging."""
        prefix = entry.token + "."
        moves = []
        for name in os.listdir(self.tree.staging):
            if name.startswith(prefix):
                filename = name[len(prefix):]
                moves.append([self.tree.wheel(entry.package, filename), os.path.join(self.tree.staging, name)])
        return moves

    def drop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # -- the two ways a removal ends ------------------------------------------

    def finish(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> None:
        """After COMMIT: put the new page in place and delete the staged wheels (each step idempotent)."""
        self.replace_page(entry)
        checkpoint("page_replaced")
        self.clean(entry, checkpoint)

    def replace_page(self, entry: Entry) -> None:
        if entry.temp_page:
            with contextlib.suppress(FileNotFoundError):  # already renamed by an earlier attempt
                os.replace(self.tree.absolute(entry.temp_page), self.tree.absolute(entry.page))

    def clean(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> None:
        """Delete the staged wheels of a committed removal, then the journal."""
        checkpoint("cleaning")
        for _original, staged in entry.moves:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(staged)
        checkpoint("files_deleted")
        self.drop()

    def undo(self, entry: Entry) -> None:
        """The transaction did not commit: put every moved wheel back, drop the temporary page."""
        for original, staged in entry.moves:
            source, target = staged, original
            if os.path.exists(source) and not os.path.exists(target):
                os.rename(source, target)
        if entry.temp_page:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tree.absolute(entry.temp_page))
        self.drop()

    # -- recovery ---------------------------------------------------------------

    def recover(self, db: Database, wait: float = 30.0) -> str | None:
        """Finish or undo a journal left behind; return what was done, or None if there was none."""
        if not os.path.exists(self.path):
            return None
        entry = self.pending()
        if entry is None:
            return None
        with db.guard():
            committed = db.settle(entry.package, entry.version, wait)
        entry.moves = entry.moves or self.staged_moves(entry)  # a journal of an earlier release lists them
        if committed:
            if self.on_committed is not None:  # before the journal goes: a crash in between repeats it
                self.on_committed(entry)
            self.finish(entry)
            outcome = "finished"
        else:
            self.undo(entry)
            outcome = "rolled back"
        log.warning("recovered the removal of %s %s (%d staged wheels): %s",
                    entry.package, entry.version, len(entry.moves), outcome)
        return outcome
