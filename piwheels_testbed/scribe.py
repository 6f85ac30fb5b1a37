"""The testbed's stand-in for piw-master's page writer (the_scribe): simple pages, project pages, search index.

It reads the database as piw-master's SELECT-only account would and writes
the pages piw-master would write, so the testbed's site starts in upstream's
format and the stand-in master can refresh it when Mr Chase notifies it.  It
is written independently of Mr Chase's page writer (its own escaping, and
``packaging`` for the release order), so a test comparing the two compares
two implementations of tests/upstream_format.json, not one with itself.
The project page and JSON carry only what the tests look at: which releases
and files they list.  The root ``simple/index.html`` and ``packages.json``
follow upstream's format exactly (tests/upstream_format.json pins the root
index), since Mr Chase's DELETE rewrites the first and asks piw-master for the
second.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterable
from pathlib import Path

import psycopg
from packaging.version import InvalidVersion, Version

PAGE_FILES = """
SELECT b.version, f.filename, rtrim(f.filehash), f.requires_python, v.yanked, f.location
FROM builds b JOIN files f USING (build_id)
JOIN versions v ON v.package = b.package AND v.version = b.version
WHERE b.package = %s
"""


def release_order(version: str) -> tuple:
    """Upstream's parse_version order: a string that is not PEP 440 sorts before every version."""
    try:
        return (1, Version(version))
    except InvalidVersion:
        return (0, version)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attribute(value: str) -> str:
    return _text(value).replace('"', "&quot;")


def simple_page(package: str, rows: list[tuple], now: dt.datetime | None = None) -> str:
    """rows: (version, filename, hash, requires_python, yanked, location), in any order."""
    rows = sorted(rows, key=lambda r: r[1])
    rows.sort(key=lambda r: release_order(r[0]), reverse=True)
    links = []
    for _version, filename, filehash, requires_python, yanked, location in rows:
        extra = ' data-yanked=""' if yanked else ""
        if requires_python:
            extra += f' data-requires-python="{_attribute(requires_python)}"'
        links.append(f'<a href="{_attribute(f"{location}/{package}/{filename}")}#sha256={filehash}"{extra}>'
                     f"{_text(filename)}</a><br>")
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    name = _text(package)
    return (f"<!doctype html>\n<html>\n<head>\n<title>piwheels - Links for {name}</title>\n</head>\n<body>\n"
            f"<h1>Links for {name}</h1>\n\n" + "\n".join(links) + f"\n</body>\n</html>\n<!--{stamp}-->")


def simple_index(packages: Iterable[str], now: dt.datetime | None = None) -> str:
    """The root ``simple/index.html`` as upstream's ``simple_index.pt`` renders it, names sorted.

    Upstream lists its package cache, a Python set, in the set's (unspecified)
    order; sorting gives the same page for the same database every time, so
    two writers of it can be compared byte for byte.
    """
    links = "\n".join(f'<a href="{_attribute(p)}">{_text(p)}</a>' for p in sorted(packages))
    stamp = (now or dt.datetime.now(dt.UTC)).isoformat()
    return ('<!doctype html>\n<html>\n<head>\n<meta name="api-version" value="2" />\n'
            "<title>piwheels - Simple index</title>\n</head>\n<body>\n"
            f"{links}\n</body>\n</html>\n<!--{stamp}-->")


def write_simple_index(conn: psycopg.Connection, output: Path) -> None:
    """Rewrite the root ``simple/index.html`` from the ``packages`` table."""
    packages = [row[0] for row in conn.execute("SELECT package FROM packages")]
    _replace(output / "simple" / "index.html", simple_index(packages))


SEARCH_INDEX = """
SELECT p.package,
       CAST(count(d.filename) FILTER (
           WHERE d.accessed_at > CURRENT_TIMESTAMP AT TIME ZONE 'UTC' - INTERVAL '30 days') AS INTEGER),
       CAST(count(d.filename) AS INTEGER)
FROM packages p
LEFT JOIN (builds b JOIN files f ON b.build_id = f.build_id JOIN downloads d ON d.filename = f.filename)
    ON p.package = b.package
GROUP BY p.package
ORDER BY p.package
"""


def search_index(conn: psycopg.Connection) -> list[list]:
    """``[[package, downloads_recent, downloads_all], ...]``: upstream's get_search_index() as a plain SELECT.

    Plain SQL rather than the SECURITY DEFINER function, so that it runs on
    the testbed's schema (which has no functions) as the SELECT-only account.
    """
    return [list(row) for row in conn.execute(SEARCH_INDEX)]


def write_search_index(conn: psycopg.Connection, output: Path) -> None:
    """Rewrite ``packages.json`` as the_scribe's write_search_index does (compact separators)."""
    _replace(output / "packages.json", json.dumps(search_index(conn), check_circular=False, separators=(",", ":")))


def project_json(package: str, versions: list[str], rows: list[tuple]) -> dict:
    """The releases and files of the project JSON (project/<package>/json/index.json)."""
    releases: dict[str, dict] = {v: {"files": {}} for v in sorted(versions, key=release_order, reverse=True)}
    for version, filename, filehash, requires_python, yanked, location in rows:
        releases[version]["yanked"] = yanked
        releases[version]["files"][filename] = {
            "url": f"{location}/{package}/{filename}", "hash": filehash, "requires_python": requires_python}
    return {"package": package, "releases": releases}


def write_pages(conn: psycopg.Connection, output: Path, package: str, exclude: frozenset[str] = frozenset()) -> None:
    """Rewrite the simple page, project page and JSON of ``package`` from the database, as piw-master's BOTH does."""
    rows = [r for r in conn.execute(PAGE_FILES, (package,)).fetchall() if r[0] not in exclude]
    versions = [r[0] for r in conn.execute("SELECT version FROM versions WHERE package = %s", (package,))
                if r[0] not in exclude]
    _replace(output / "simple" / package / "index.html", simple_page(package, rows))
    data = project_json(package, versions, rows)
    _replace(output / "project" / package / "json" / "index.json", json.dumps(data, indent=1))
    _replace(output / "project" / package / "index.html", project_page(package, data))
    link_aliases(conn, output, package)


def project_page(package: str, data: dict) -> str:
    """The project page's releases table as upstream's ``project.pt`` marks it up (a ``release-info`` row naming
    the version, then its files as ``<a href="{url}#sha256={hash}">``): what the site audit reads of it."""
    rows = "\n".join(
        f'<tr class="release-info">\n<td>\n{_text(version)}\n</td>\n</tr>\n<tr class="files-info">\n<td>\n'
        '<ul class="files">\n' + "".join(f'<li><span><a href="{_attribute(entry["url"])}#sha256={entry["hash"]}">'
                                        f"{_text(name)}</a></span></li>\n" for name, entry in release["files"].items())
        + "</ul>\n</td>\n</tr>" for version, release in data["releases"].items())
    return (f"<!doctype html>\n<html>\n<body>\n<h1>{_text(package)}</h1>\n<table>\n<tbody>\n{rows}\n</tbody>\n"
            "</table>\n</body>\n</html>\n")


def link_aliases(conn: psycopg.Connection, output: Path, package: str) -> list[Path]:
    """Make ``project/<alias>`` a symlink to ``<package>`` for each other name in ``package_names``.

    As upstream's write_project_page: a relative link to the directory's own
    name, made every time the project page is written, and an existing entry
    left as it is.  Returns the links, made now or before.
    """
    links = []
    aliases = conn.execute("SELECT name FROM package_names WHERE package = %s AND name <> %s ORDER BY name",
                           (package, package))
    for (alias,) in aliases:
        link = output / "project" / alias
        with contextlib.suppress(FileExistsError):
            link.symlink_to(package)
        links.append(link)
    return links


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
