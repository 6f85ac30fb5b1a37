"""The crash journal that makes a removal all or nothing across a crash.

A removal changes two things that cannot share a transaction: PostgreSQL rows
and files on disk.  The journal bridges them.  Its order of events:

1. in the open transaction: delete the rows and read ``txid_current()``;
2. write the journal (transaction id, every planned move, the temporary page)
   durably, *before* touching a file, so a crash can never leave a moved
   file that no journal mentions;
3. write the temporary page, rename each wheel into the staging directory;
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
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from .database import Database
from .tree import Tree, fsync_dir, write_durably

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
        self.path = tree.state / "journal.json"

    def pending(self) -> Entry | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        return Entry(**data)

    def write(self, entry: Entry) -> None:
        """Record the plan durably (temporary file, fsync, rename, fsync the directory)."""
        temp = self.path.with_suffix(".tmp")
        write_durably(temp, json.dumps(asdict(entry)).encode("utf-8"))
        os.replace(temp, self.path)
        fsync_dir(self.tree.state)

    def drop(self, entry: Entry) -> None:
        shutil.rmtree(self.tree.staging / entry.token, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()

    # -- the two ways a removal ends ------------------------------------------

    def finish(self, entry: Entry, checkpoint: Callable[[str], None] = lambda step: None) -> None:
        """After COMMIT: put the new page in place and delete the staged wheels."""
        if entry.temp_page:
            temp = self.tree.absolute(entry.temp_page)
            if temp.exists():
                os.replace(temp, self.tree.absolute(entry.page))
                fsync_dir(temp.parent)
        checkpoint("page_replaced")
        for _original, staged in entry.moves:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tree.absolute(staged))
        checkpoint("files_deleted")
        self.drop(entry)

    def undo(self, entry: Entry) -> None:
        """The transaction did not commit: put every moved wheel back, drop the temporary page."""
        for original, staged in entry.moves:
            source, target = self.tree.absolute(staged), self.tree.absolute(original)
            if source.exists() and not target.exists():
                os.rename(source, target)
        if entry.temp_page:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.tree.absolute(entry.temp_page))
        self.drop(entry)

    # -- recovery ---------------------------------------------------------------

    def recover(self, db: Database, wait: float = 30.0) -> str | None:
        """Finish or undo a journal left behind; return what was done, or None if there was none."""
        stale = self.path.with_suffix(".tmp")
        if stale.exists():  # a crash while writing the journal: no file was moved yet
            stale.unlink()
        entry = self.pending()
        if entry is None:
            return None
        committed = self._committed(db, entry, wait)
        if committed:
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
