"""The crash journal that makes a removal all or nothing across a crash.

A removal changes two things that cannot share a transaction: PostgreSQL rows
and files on disk.  The journal bridges them.  Its order of events:

1. in the open transaction: delete the rows and read ``txid_current()``;
2. write the journal (transaction id, every planned move, the temporary page)
   and fsync it, *before* touching a file, so a crash can never leave a
   moved file that no journal mentions (a journal cut short by a crash does
   not parse, and then no file had been moved yet);
3. write the temporary page, rename each wheel into the staging directory,
   fsync the package directory;
4. COMMIT;
5. rename the page into place, delete the staged wheels, delete the journal.

Recovery (at start-up, and before the next removal when a commit's outcome
was unknown) asks PostgreSQL what happened to the journalled transaction
with ``txid_status(txid)``.  That answer is authoritative: PostgreSQL's
commit log records every transaction id as committed or aborted, and a
transaction whose client died is aborted by the server.  So:

* ``committed``: the rows are gone for good, so finish step 5.  Each step of
  5 is idempotent (a missing staged file was already deleted, a missing
  temporary page was already renamed), so a crash during recovery is safe.
* ``aborted``: the rows are back as they were, so undo step 3: move every
  staged file that exists back to its place, delete the temporary page.
  A staged file that does not exist was never moved (or already moved back).
* ``in progress``: the dead client's backend has not noticed yet; wait.
* unknown (``NULL``, only for ids older than the commit log PostgreSQL keeps,
  i.e. a journal left for a very long time): fall back to the rows
  themselves.  The transaction deleted every journalled file row, and an
  aborted one deleted none, so "no journalled filename is in ``files``"
  means committed.  (The one case this cannot tell apart is a rebuild that
  re-created the very same file names in the meantime; then the files are
  moved back, which keeps the tree consistent with the database.)

If the database cannot be asked, the journal stays and the next attempt
asks again; no file is deleted on a guess.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .database import Database
from .tree import Tree, write_durably

log = logging.getLogger(__name__)


@dataclass
class Entry:
    """What one removal is doing to the file tree; paths are relative to output_path."""

    txid: int
    package: str
    version: str
    token: str
    filenames: list[str]
    moves: list[list[str]] = field(default_factory=list)  # [original, staged]
    temp_page: str = ""
    page: str = ""


class Journal:
    def __init__(self, tree: Tree):
        self.tree = tree
        self.path = os.path.join(tree.state, "journal.json")

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
            return Entry(**json.loads(text))
        except (ValueError, TypeError):
            log.warning("discarding an incomplete journal (a crash before any file was moved)")
            os.unlink(self.path)
            return None

    def write(self, entry: Entry) -> None:
        """Record the plan durably before any file is touched (one write, one fsync)."""
        write_durably(self.path, json.dumps(asdict(entry)).encode("utf-8"))

    def drop(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path)

    # -- the two ways a removal ends ------------------------------------------

    def finish(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> None:
        """After COMMIT: put the new page in place and delete the staged wheels (each step idempotent)."""
        if entry.temp_page:
            with contextlib.suppress(FileNotFoundError):  # already renamed by an earlier attempt
                os.replace(self.tree.absolute(entry.temp_page), self.tree.absolute(entry.page))
        checkpoint("page_replaced")
        for _original, staged in entry.moves:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tree.absolute(staged))
        checkpoint("files_deleted")
        self.drop()

    def undo(self, entry: Entry) -> None:
        """The transaction did not commit: put every moved wheel back, drop the temporary page."""
        for original, staged in entry.moves:
            source, target = self.tree.absolute(staged), self.tree.absolute(original)
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
        if self._committed(db, entry, wait):
            self.finish(entry)
            outcome = "finished"
        else:
            self.undo(entry)
            outcome = "rolled back"
        log.warning("recovered the removal of %s %s (transaction %d): %s",
                    entry.package, entry.version, entry.txid, outcome)
        return outcome

    def _committed(self, db: Database, entry: Entry, wait: float) -> bool:
        deadline = time.monotonic() + wait
        while True:
            with db.guard():
                status = db.transaction_status(entry.txid)
                if status is None:
                    return not db.existing_files(entry.filenames)
            if status != "in progress":
                return status == "committed"
            if time.monotonic() > deadline:
                raise TimeoutError(f"transaction {entry.txid} of the journalled removal is still in progress")
            time.sleep(0.1)
