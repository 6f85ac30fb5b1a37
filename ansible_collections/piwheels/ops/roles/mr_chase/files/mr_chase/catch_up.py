"""After a change's page is in place: read again what it must list, and write it again until the two agree.

Mr Chase writes a page from what it read of the database before its rename
(a REMOVE, a YANK and a DELETE, each inside its own transaction).
piw-master imports builds meanwhile and has its own page writer rewrite
the page, and that writer takes no lock Mr Chase could share.
So a build committed after Mr Chase's read, whose page piw-master wrote
before Mr Chase's rename, dropped off the page: the older page replaced the
newer one (and without a master, nothing writes the page again at all).

The order closes the window instead of a lock: once the page is in place,
read again what it must list; if that differs from what the page lists,
write it again and ask again.  Whatever committed before such a read is on
the page written after it; whatever commits after it is followed by
piw-master's own write, which comes after that read and so after this
rename.  The same holds for DELETE's root ``simple/index.html`` (a package
added meanwhile).

This runs once the reply is sent, in the change's clean-up and before its
journal goes: a REMOVE pays nothing for it on its timed path, and a crash
in between leaves the journal, whose recovery writes the page from the
database anyway.  A failure here is logged and costs nothing else: the page
is then as up to date as it was before this check existed.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import psycopg

from .database import PACKAGE_FILES, ROOT_INDEX_PACKAGES, Database, DatabaseUnavailable, Locked
from .journal import Entry
from .page import PageFile, index_pieces, page_pieces
from .privileges import MissingPrivileges
from .tree import Tree, write_pieces

log = logging.getLogger(__name__)

#: how many times a page is written again while piw-master keeps committing to the package (each round is
#: one read; more than one is already rare, since a write takes milliseconds)
ROUNDS = 5


def catch_up(db: Database, tree: Tree, entry: Entry, listed: Sequence[PageFile] | Sequence[str]) -> None:
    """Make the page ``entry`` put in place (listing ``listed``) list what the database now holds.

    ``listed`` is the package's files for a package page, the package names for the root index (DELETE, a
    repair of the site).
    """
    try:
        if entry.writes_root_index:
            _root_index(db, tree, entry.token, list(listed))
        else:
            _package_page(db, tree, entry, set(listed))
    except (DatabaseUnavailable, Locked, MissingPrivileges, psycopg.Error, OSError) as exc:
        log.warning("could not check the page of %s against the database after %s (%s); a build imported "
                    "meanwhile may be missing from it until it is next written", entry.package, entry.what, exc)


def _package_page(db: Database, tree: Tree, entry: Entry, listed: set[PageFile]) -> None:
    package = entry.package
    for _round in range(ROUNDS):
        if not os.path.isdir(tree.package_dir(package)):
            return  # piw-master deleted the package meanwhile: no page to keep
        with db.guard():
            current = {PageFile(*row) for row in db.conn.execute(PACKAGE_FILES, (package,)).fetchall()}
        if current == listed:
            return
        log.info("%s changed while its page was put in place after %s; writing it again", package, entry.what)
        os.replace(tree.write_temp_page(package, entry.token, page_pieces(package, current)), tree.page(package))
        listed = current
    _gave_up(package)


def _root_index(db: Database, tree: Tree, token: str, listed: list[str]) -> None:
    """Like _package_page for ``simple/index.html``; its temporary file is not the journal's (recovery of a
    DELETE puts that one in place as it is, so it must never be caught half written)."""
    path = os.path.join(tree.simple, f".index.html.{token}.again.tmp")
    for _round in range(ROUNDS):
        with db.guard():
            current = [row[0] for row in db.conn.execute(ROOT_INDEX_PACKAGES).fetchall()]
        if current == listed:
            return
        log.info("the packages changed while the root index was put in place; writing it again")
        write_pieces(path, index_pieces(current), tree.simple)
        os.replace(path, tree.root_page())
        listed = current
    _gave_up("the root index")


def _gave_up(what: str) -> None:
    log.warning("%s kept changing while it was written again %d times; piw-master's own write of it follows "
                "the last change", what, ROUNDS)


__all__ = ["catch_up"]
