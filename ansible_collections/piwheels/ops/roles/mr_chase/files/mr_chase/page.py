"""The package's simple page, in exactly the format piw-master's page writer uses.

piw-master (piwheels 0.23) rewrites ``simple/<package>/index.html`` whenever
a build is imported; Mr Chase rewrites it after a removal.  If the two wrote
different bytes, the site would flip format with every write, so this
module follows upstream's ``simple_package.pt`` as rendered by Chameleon
(pinned by tests/upstream_format.json):

* ``<!doctype html>``, the title ``piwheels - Links for <package>`` and the
  heading ``Links for <package>``;
* one ``<a href="{location}/{package}/{filename}#sha256={hash}">`` link per
  file, ``location`` being the ``files.location`` column (``/simple`` for a
  wheel on this host, an archive server's URL otherwise), with
  ``data-yanked=""`` and ``data-requires-python`` where they apply;
* releases newest first in PEP 440 order (within a release, by file name:
  upstream's order there is whatever its JSON aggregate yields);
* Chameleon's escaping: ``& < >`` in text, and ``"`` too in attributes;
* a last line ``<!--{ISO timestamp}-->`` with no newline after it.

A package with thousands of wheels is rewritten inside every removal, so the
page is produced in pieces of CHUNK_ROWS links, each written as it is made.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from .versions import version_key

HEAD = ("<!doctype html>\n<html>\n<head>\n<title>piwheels - Links for {package}</title>\n</head>\n<body>\n"
        "<h1>Links for {package}</h1>\n\n")
TAIL = "\n</body>\n</html>\n<!--{timestamp}-->"
#: links per piece: small enough that each piece reuses the memory of the one before
CHUNK_ROWS = 256
LOCAL = "/simple"


class PageFile(NamedTuple):
    """One link of a package's page: a file row of the database and what the page needs of its version."""

    filename: str
    filehash: str
    requires_python: str | None
    yanked: bool
    version: str
    location: str


def escape_text(text: str) -> str:
    """Text content as Chameleon escapes it (quotes stay as they are)."""
    if "&" in text or "<" in text or ">" in text:
        return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def escape_attribute(text: str) -> str:
    """An attribute value as Chameleon escapes it."""
    text = escape_text(text)
    return text.replace('"', "&quot;") if '"' in text else text


def in_page_order(files: Iterable[PageFile]) -> list[PageFile]:
    """Newest release first (PEP 440), then by file name.

    Each release's key is computed once: a package can have more releases
    than version_key's cache holds.
    """
    files = list(files)
    keys = {version: version_key(version) for version in {row.version for row in files}}
    ordered = sorted(files, key=lambda row: row.filename)
    ordered.sort(key=lambda row: keys[row.version], reverse=True)
    return ordered


def page_pieces(package: str, files: Iterable[PageFile], now: dt.datetime | None = None) -> Iterator[str]:
    """The page of ``package`` listing ``files`` (in any order), as pieces to write one after the other."""
    rows = in_page_order(files)
    name = escape_text(package)
    yield HEAD.format(package=name)
    attributes: dict[tuple[str | None, bool], str] = {}
    for start in range(0, len(rows), CHUNK_ROWS):
        links = []
        for row in rows[start:start + CHUNK_ROWS]:
            extra = attributes.get((row.requires_python, row.yanked))
            if extra is None:
                extra = attributes[row.requires_python, row.yanked] = _attributes(row.requires_python, row.yanked)
            links.append(link_line(package, row, extra))
        yield ("\n" if start else "") + "\n".join(links)
    yield TAIL.format(timestamp=(now or dt.datetime.now(dt.UTC)).isoformat())


def link_line(package: str, row: PageFile, extra: str | None = None) -> str:
    """One file's line of the page (``extra``: its attributes, when the caller has them at hand); the site
    audit compares a page's lines with these."""
    if extra is None:
        extra = _attributes(row.requires_python, row.yanked)
    return (f'<a href="{escape_attribute(f"{row.location}/{package}/{row.filename}")}#sha256={row.filehash}"{extra}>'
            f"{escape_text(row.filename)}</a><br>")


def _attributes(requires_python: str | None, yanked: bool) -> str:
    text = ' data-yanked=""' if yanked else ""
    if requires_python:
        text += f' data-requires-python="{escape_attribute(requires_python)}"'
    return text


INDEX_HEAD = ('<!doctype html>\n<html>\n<head>\n<meta name="api-version" value="2" />\n'
              "<title>piwheels - Simple index</title>\n</head>\n<body>\n")
INDEX_TAIL = "\n</body>\n</html>\n<!--{timestamp}-->"


def index_pieces(packages: Iterable[str], now: dt.datetime | None = None) -> Iterator[str]:
    """The root ``simple/index.html`` listing ``packages`` as upstream's ``simple_index.pt`` renders it:
    one link per line.  Upstream lists them in a Python set's order (unspecified); this lists them in
    the order given (the database's, by name)."""
    yield INDEX_HEAD
    names = list(packages)
    for start in range(0, len(names), CHUNK_ROWS * 16):
        yield ("\n" if start else "") + "\n".join(f'<a href="{escape_attribute(name)}">{escape_text(name)}</a>'
                                                  for name in names[start:start + CHUNK_ROWS * 16])
    yield INDEX_TAIL.format(timestamp=(now or dt.datetime.now(dt.UTC)).isoformat())


def render_page(package: str, files: Iterable[PageFile], now: dt.datetime | None = None) -> str:
    """The whole page as one string (see page_pieces)."""
    return "".join(page_pieces(package, files, now))


__all__ = ["LOCAL", "PageFile", "escape_attribute", "escape_text", "in_page_order", "index_pieces", "link_line",
           "page_pieces", "render_page"]
