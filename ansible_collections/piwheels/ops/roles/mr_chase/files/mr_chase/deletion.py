"""DELETE: a whole package, all or nothing (issue 14; DESIGN.md "More operations").

The same journal as a removal (journal.py), with whole directories instead of
wheels: ``simple/<package>/`` (wheels and page), ``project/<package>/`` (the
project page and JSON) and each ``project/<alias>`` symlink that points at
it are renamed into the change's staging directory before COMMIT, and the
root ``simple/index.html`` is written without the package.  A directory
rename costs the same for 20,000 wheels as for one, so the whole package is
out of the served tree in a few renames; its files are deleted after the
reply.  Recovery asks whether the package row is gone (journal.py).
"""

from __future__ import annotations

import logging
import os
import uuid
from functools import partial
from typing import NamedTuple

from .database import DeletedPackage
from .journal import PACKAGE_LINKS, Entry
from .page import index_pieces
from .removal import Change
from .tree import UnsafePath, fsync_dir, fsync_file, safe_component, write_pieces

log = logging.getLogger(__name__)


class PackageResult(NamedTuple):
    """What DELETE took: the rows (Database.delete_package), and what left the served tree:
    ``simple/<package>``, ``project/<package>`` and the ``project/<alias>`` links."""

    deleted: DeletedPackage
    moved: list[str]
    #: the change's journal token, and the pages it committed but could not write (the root index)
    token: str
    stale_pages: list[str]


class PackageRemover(Change):
    def delete(self, package: str) -> PackageResult:
        self.begin()
        tree, token = self.tree, uuid.uuid4().hex
        entry = Entry(package, "", token, tree.relative(tree.temp_root_page(token)), tree.relative(tree.root_page()),
                      "package")
        with self._transaction() as transaction:
            deleted = self.db.delete_package(package, overlap=partial(self.journal.write, entry))
            mounted = self._add_evidence(entry, deleted.xid, [], deleted.archived_files)
            self._journalled(entry)
            self._move_aside(entry, deleted)
            self._move_mounted(entry, mounted)
            transaction.while_committing = partial(self._sync_package, entry)
        self.checkpoint("committed")
        stale = self._put_in_place(entry, deleted.remaining)
        return PackageResult(deleted, [tree.relative(original) for original, _staged in entry.moves], token, stale)

    def _move_aside(self, entry: Entry, deleted: DeletedPackage) -> None:
        """Write the root index without the package; rename its directories and alias links into staging."""
        tree = self.tree
        path = tree.temp_root_page(entry.token)
        write_pieces(path, index_pieces(deleted.remaining), tree.simple)
        staging = tree.staging_dir(entry.token)
        os.makedirs(os.path.join(staging, PACKAGE_LINKS))
        for original, staged in self.journal.package_moves(entry, self._linked_aliases(entry.package,
                                                                                       deleted.aliases)):
            try:
                os.rename(original, staged)
            except FileNotFoundError:
                continue
            entry.moves.append([original, staged])
            self.checkpoint("moving")
        self.checkpoint("moved")

    def _linked_aliases(self, package: str, aliases: list[str]) -> list[str]:
        """The aliases whose ``project/<alias>`` is a symlink to the package's project directory
        (piw-master's page writer makes them); anything else by that name is not ours to remove."""
        linked = []
        for alias in aliases:
            try:
                path = os.path.join(self.tree.project, safe_component(alias))
                target = os.readlink(path)
            except (OSError, UnsafePath):
                continue
            if os.path.normpath(os.path.join(self.tree.project, target)) == self.tree.project_dir(package):
                linked.append(alias)
        return linked

    def _sync_package(self, entry: Entry) -> None:
        """While COMMIT runs: the new root index's content and every rename, durable."""
        self.checkpoint("committing")
        try:
            fsync_file(self.tree.absolute(entry.temp_page))
            for directory in (self.tree.staging_dir(entry.token), self.tree.simple, self.tree.project):
                if os.path.isdir(directory):
                    fsync_dir(directory)
            self._sync_mounted(entry)
        except OSError as exc:
            log.error("file system error while deleting a package: %s", exc)
