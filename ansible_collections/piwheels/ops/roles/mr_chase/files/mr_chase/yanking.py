"""YANK: set or clear a version's yanked flag (PEP 592) and rewrite the package's page to match.

No file moves, so the journal entry (kind ``page``) only says "this
package's page may be stale": recovery writes the page from whatever the
database committed, which is right whichever way the change went.  So the
new page is synced only after the reply, before the journal goes
(journal.py's table).
"""

from __future__ import annotations

import uuid
from functools import partial

from .journal import Entry
from .page import page_pieces
from .removal import Change


class Yanker(Change):
    def yank(self, package: str, version: str, yanked: bool) -> tuple[bool, str, list[str]]:
        """Whether the flag changed (the page is rewritten only then), the change's journal token, and the
        pages it could not write."""
        self.begin()
        tree, token = self.tree, uuid.uuid4().hex
        entry = Entry(package, version, token, tree.relative(tree.temp_page(package, token)),
                      tree.relative(tree.page(package)), "page")
        with self._transaction() as transaction:
            changed, files = self.db.set_yanked(package, version, yanked, overlap=partial(self.journal.write, entry))
            self._journalled(entry)
            if changed:
                tree.write_temp_page(package, token, page_pieces(package, files))
                transaction.while_committing = partial(self.checkpoint, "committing")
        stale: list[str] = []
        if changed:
            self.checkpoint("committed")
            stale = self._put_in_place(entry, files)
        else:
            self.cleanup.set(None)
        return changed, token, stale
