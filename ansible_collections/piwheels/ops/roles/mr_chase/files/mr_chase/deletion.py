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
from dataclasses import dataclass, field
from functools import partial

from .database import DeletedPackage
from .journal import Entry
from .page import index_pieces
from .removal import Change
from .tree import UnsafePath, fsync_dir, fsync_file, safe_component, write_pieces

log = logging.getLogger(__name__)


@dataclass
class PackageResult:
    versions: list[str]
    builds: int
    files: int
    archived: int
    downloads: int
    aliases: list[str]
    #: what left the served tree: simple/<package>, project/<package>, project/<alias> links
    moved: list[str] = field(default_factory=list)


class PackageRemover(Change):
    def delete(self, package: str) -> PackageResult:
        self.begin()
        tree, token = self.tree, uuid.uuid4().hex
        entry = Entry(package, "", token, tree.relative(tree.temp_root_page(token)), tree.relative(tree.root_page()),
                      "package")
        self._entry = None
        committing = False
        try:
            with self.db.guard(), self.db.removal() as transaction:
                deleted = self.db.delete_package(package, overlap=partial(self.journal.write, entry))
                self._entry = entry
                self.checkpoint("journal_written")
                result = self._move_aside(entry, deleted)
                transaction.while_committing = partial(self._sync_package, entry)
                committing = True
        except BaseException as exc:
            self._failed(committing, exc)
            raise
        self._entry = None
        self.checkpoint("committed")
        self.journal.replace_page(entry)
        self.checkpoint("page_replaced")
        self.cleanup.set(partial(self.journal.clean, entry, self.checkpoint))
        return result

    def _move_aside(self, entry: Entry, deleted: DeletedPackage) -> PackageResult:
        """Write the root index without the package; rename its directories and alias links into staging."""
        tree = self.tree
        path = tree.temp_root_page(entry.token)
        write_pieces(path, index_pieces(deleted.remaining), tree.simple)
        staging = tree.staging_dir(entry.token)
        os.makedirs(os.path.join(staging, "links"))
        result = PackageResult(deleted.versions, deleted.builds, deleted.files, deleted.archived,
                               deleted.downloads, deleted.aliases)
        for original, staged in self.journal.package_moves(entry, self._linked_aliases(entry.package,
                                                                                       deleted.aliases)):
            try:
                os.rename(original, staged)
            except FileNotFoundError:
                continue
            entry.moves.append([original, staged])
            result.moved.append(tree.relative(original))
            self.checkpoint("moving")
        self.checkpoint("moved")
        return result

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
        except OSError as exc:
            log.error("file system error while deleting a package: %s", exc)
