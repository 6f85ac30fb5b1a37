"""The testbed's stand-in for piw-master's page writer (the_scribe): simple page, project page, project JSON.

It reads the database as piw-master's SELECT-only account would and writes
the pages piw-master would write, so the testbed's site starts in upstream's
format and the stand-in master can refresh it when Mr Chase notifies it.  It
is written independently of Mr Chase's page writer (its own escaping, and
``packaging`` for the release order), so a test comparing the two compares
two implementations of tests/upstream_format.json, not one with itself.
The project page and JSON carry only what the tests look at: which releases
and files they list.
"""

from __future__ import annotations

import datetime as dt
import json
import os
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
    links = "\n".join(f'<li>{_text(v)}: {", ".join(_text(f) for f in r["files"])}</li>'
                      for v, r in data["releases"].items())
    _replace(output / "project" / package / "index.html",
             f"<!doctype html>\n<html>\n<body>\n<h1>{_text(package)}</h1>\n<ul>\n{links}\n</ul>\n</body>\n</html>\n")


def _replace(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(text, encoding="utf-8")
    os.replace(temp, path)
