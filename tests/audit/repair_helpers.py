"""Damage made by hand on the testbed, one function per finding kind, and the direct check that a site is whole.

The repair's tests cannot rely on the scanner (site_scan.py) to find the
damage: each function here breaks the site as the real cause would (a plain
piw-remove deletes rows and leaves wheels, an operator deletes a wheel, a
disk fills half way through a page) and returns the Finding the audit
contract says the scanner reports for it.  ``age`` makes the damage older
than ``min_age``, as damage the audit finds always is.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from pathlib import Path

import psycopg
from chase_helpers import Links
from mr_chase.findings import Finding

HOUR = 3600.0
#: a min_age the aged damage passes and a fresh change does not
MIN_AGE = 600.0


def age(*paths: Path, seconds: float = HOUR) -> None:
    """Make paths (and everything under a directory) look modified ``seconds`` ago, links themselves included."""
    when = time.time() - seconds
    for path in paths:
        for item in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else ())]:
            os.utime(item, (when, when), follow_symlinks=False)


def age_site(repository) -> None:
    """Everything the testbed wrote is old, as a real site's is: its files and its builds' built_at."""
    age(repository.simple, repository.output_path / "project")
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE builds SET built_at = built_at - interval '1 day'")


def rows(dsn: str, query: str, *args) -> list:
    with psycopg.connect(dsn) as conn:
        return conn.execute(query, args).fetchall()


def package_files(dsn: str, package: str) -> dict[str, str]:
    """filename -> location of the package's file rows."""
    return {name: location for name, location, _hash in file_rows(dsn, package)}


def file_rows(dsn: str, package: str) -> list[tuple[str, str, str]]:
    return rows(dsn, "SELECT f.filename, f.location, f.filehash FROM files f JOIN builds b USING (build_id) "
                     "WHERE b.package = %s", package)


def page_hrefs(path: Path) -> list[str]:
    parser = Links()
    parser.feed(path.read_text())
    return [link["href"] for link in parser.links]


def site_problems(repository) -> list[str]:
    """The direct check: every page link has its file and its row, every wheel its row, every row its link
    (and its wheel, when local), the root index lists exactly the packages, every alias has its link."""
    problems = []
    dsn, simple = repository.dsn, repository.simple
    packages = [row[0] for row in rows(dsn, "SELECT package FROM packages")]
    for package in packages:
        files = package_files(dsn, package)
        page = simple / package / "index.html"
        linked = {href.split("#", 1)[0].rsplit("/", 1)[-1] for href in page_hrefs(page)} if page.exists() else None
        if linked is None:
            problems.append(f"{package}: no page")
        elif linked != set(files):
            problems.append(f"{package}: page links {sorted(linked ^ set(files))} differ from the rows")
        on_disk = {p.name for p in (simple / package).iterdir() if p.name.endswith(".whl")}
        if on_disk - set(files):
            problems.append(f"{package}: wheels without rows {sorted(on_disk - set(files))}")
        local = {name for name, location in files.items() if location == "/simple"}
        if local - {name for name in on_disk if (simple / package / name).exists()}:
            problems.append(f"{package}: rows without wheels {sorted(local - on_disk)}")
        for name, location, filehash in file_rows(dsn, package):
            path = simple / package / name
            if location == "/simple" and path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() != filehash:
                problems.append(f"{package}: {name} is not the wheel its row hashed")
    for alias, package in rows(dsn, "SELECT name, package FROM package_names WHERE name <> package"):
        link = repository.output_path / "project" / alias
        if not link.is_symlink() or os.readlink(link) != package:
            problems.append(f"alias {alias}: not a link to {package}")
    listed = {href for href in page_hrefs(simple / "index.html")}
    if listed != set(packages):
        problems.append(f"root index differs: {sorted(listed ^ set(packages))}")
    return problems


# -- damage, one kind at a time: each returns the findings the scanner would report --------------------------------


def orphan_wheel(repository, package: str = "alpha") -> list[Finding]:
    """A wheel without a row, as an upstream import that died after the file transfer leaves it."""
    name = f"{package}-9.9-py3-none-any.whl"
    path = repository.simple / package / name
    path.write_bytes(b"not a row's wheel")
    age(path)
    return [Finding("orphan_wheel", package, f"simple/{package}/{name}", "no files row")]


def plain_piw_remove(repository, package: str, version: str) -> list[Finding]:
    """What upstream's plain ``piw-remove`` leaves: the version's rows deleted, its wheels on disk and linked."""
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("DELETE FROM builds WHERE package = %s AND version = %s", (package, version))
    names = repository.manifest.files(package, version)
    return [*(Finding("orphan_wheel", package, f"simple/{package}/{name}", "no files row") for name in names),
            Finding("stale_page", package, f"simple/{package}/index.html", f"links {len(names)} file(s) too many")]


def missing_wheel(repository, package: str = "alpha", version: str = "1.0") -> list[Finding]:
    """An operator deleted a wheel by hand: its row and link stay (a dead link)."""
    name = repository.manifest.files(package, version)[0]
    (repository.simple / package / name).unlink()
    return [Finding("missing_wheel", package, f"simple/{package}/{name}", "files row without its wheel")]


def hash_mismatch(repository, package: str = "alpha", version: str = "1.0") -> list[Finding]:
    """A wheel whose bytes are not the ones its row hashed (a disk error, a copy cut short)."""
    name = repository.manifest.files(package, version)[0]
    path = repository.simple / package / name
    path.write_bytes(path.read_bytes()[:-7])
    age(path)
    return [Finding("hash_mismatch", package, f"simple/{package}/{name}", "sha256 differs from files.filehash")]


def stale_page(repository, package: str = "gamma") -> list[Finding]:
    """The page lost a link (a page writer that died half way)."""
    page = repository.simple / package / "index.html"
    text = page.read_text()
    first = text.index("<a href=")
    page.write_text(text[:first] + text[text.index("<br>", first) + len("<br>"):])
    age(page)
    return [Finding("stale_page", package, f"simple/{package}/index.html", "a link too few")]


def missing_page(repository, package: str = "gamma") -> list[Finding]:
    (repository.simple / package / "index.html").unlink()
    return [Finding("missing_page", package, f"simple/{package}/index.html", "no page")]


def foreign_file(repository, package: str = "alpha") -> list[Finding]:
    path = repository.simple / package / "notes.txt"
    path.write_text("left here by hand")
    age(path)
    return [Finding("foreign_file", package, f"simple/{package}/notes.txt", "neither a wheel nor the page")]


def orphan_directories(repository) -> list[Finding]:
    """A directory of no package under simple/ and project/, and a project/ link that is no alias."""
    ghost = repository.simple / "ghost"
    ghost.mkdir()
    (ghost / "ghost-1.0-py3-none-any.whl").write_bytes(b"ghost")
    (ghost / "index.html").write_text("<!doctype html>")
    project = repository.output_path / "project" / "ghost2"
    project.mkdir(parents=True)
    (project / "index.html").write_text("<!doctype html>")
    link = repository.output_path / "project" / "not-an-alias"
    link.symlink_to("gamma")
    age(ghost, project, link)
    return [Finding("orphan_directory", name, path, "no package and no alias")
            for name, path in (("ghost", "simple/ghost"), ("ghost2", "project/ghost2"),
                               ("not-an-alias", "project/not-an-alias"))]


def broken_aliases(repository, package: str = "beta-tools") -> list[Finding]:
    """One alias link to the wrong package, one dangling (the testbed gives beta-tools two aliases)."""
    project = repository.output_path / "project"
    wrong, dangling = project / "Beta_Tools", project / "beta_tools"
    wrong.unlink()
    wrong.symlink_to("gamma")
    dangling.unlink()
    dangling.symlink_to("beta-tools-gone")
    age(wrong, dangling)
    return [Finding("broken_alias", package, "project/Beta_Tools", f"points at gamma; should point at {package}"),
            Finding("broken_alias", package, "project/beta_tools", f"dangles; should point at {package}")]


def missing_alias(repository, package: str = "beta-tools") -> list[Finding]:
    (repository.output_path / "project" / "Beta_Tools").unlink()
    return [Finding("missing_alias", package, "project/Beta_Tools", f"an alias of {package} without its link")]


def stale_root_index(repository) -> list[Finding]:
    """The root index without gamma and with a package the database does not have."""
    page = repository.simple / "index.html"
    page.write_text(page.read_text().replace('<a href="gamma">gamma</a>', '<a href="ghost">ghost</a>'))
    age(page)
    return [Finding("stale_root_index", None, "simple/index.html", "lists ghost, lacks gamma")]


def leftover_staging(repository) -> list[Finding]:
    """A staging directory no journal names, and an entry a recovery set aside."""
    state = repository.output_path / ".mr-chase"
    token = uuid.uuid4().hex
    staged = state / "staging" / token
    staged.mkdir(parents=True)
    (staged / "alpha-0.1-py3-none-any.whl").write_bytes(b"staged")
    aside = state / "set-aside" / f"20250101T000000-{uuid.uuid4().hex}"
    aside.mkdir(parents=True)
    (aside / "journal.json").write_text(json.dumps({"token": "x"}))
    age(staged, aside)
    return [Finding("leftover_staging", None, f".mr-chase/staging/{token}", "no journal names it"),
            Finding("leftover_staging", None, f".mr-chase/set-aside/{aside.name}", "set aside by a recovery")]


def stale_project_page(repository, package: str = "gamma") -> list[Finding]:
    """The project JSON still lists a version the database no longer has (a FORGET behind the master's back)."""
    path = repository.output_path / "project" / package / "json" / "index.json"
    data = json.loads(path.read_text())
    data["releases"]["9.9"] = {"files": {}}
    path.write_text(json.dumps(data))
    age(path)
    return [Finding("stale_project_page", package, f"project/{package}/json/index.json", "lists 9.9")]
