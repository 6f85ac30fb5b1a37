"""Fill a piwheels database and output tree with a sample repository.

The same builder makes the three-package tree of a unit test and the 100,000
build, 1,000,000 download database of the benchmarks; only the spec differs.
Every file row has a real wheel on disk with the sha256 and size in the row
(unless ``write_wheels`` is off, for sizes where only the database matters).
As on a real master, ``package_names`` holds every package's canonical name
and the other spellings it was seen under (its aliases), ``project/<alias>``
is a symlink to ``<package>`` for each alias, and the root ``simple/index.html``
is in upstream's format: a whole-package deletion has all of them to remove.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from .scribe import simple_index, simple_page, write_pages
from .wheels import wheel_bytes, wheel_filename

SAMPLE_NAMES = ("alpha", "beta-tools", "gamma")
#: other spellings a package was seen under (upstream's package_names rows besides the canonical name)
SAMPLE_ALIASES = {"beta-tools": ("Beta_Tools", "beta_tools")}
EPOCH = dt.datetime(2024, 1, 1)


@dataclass
class RepositorySpec:
    """How big a repository to make; counts are per parent row."""

    packages: int = 3
    versions: int = 3
    builds: int = 1
    files: int = 2
    downloads: int = 3
    write_wheels: bool = True
    names: tuple[str, ...] = SAMPLE_NAMES
    #: the second version of the first package is yanked (PEP 592)
    yank_one: bool = True
    #: package -> its aliases (never its canonical name)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(SAMPLE_ALIASES))

    def package_name(self, index: int) -> str:
        return self.names[index] if index < len(self.names) else f"pkg{index:06d}"


PRESETS = {
    "small": RepositorySpec(),
    "medium": RepositorySpec(packages=50, versions=5, builds=2, files=2, downloads=10),
    "bench": RepositorySpec(packages=10_000, versions=10, builds=1, files=1, downloads=10, write_wheels=False),
}


@dataclass
class FileEntry:
    filename: str
    filehash: str
    filesize: int
    requires_python: str | None
    tag: str


@dataclass
class Manifest:
    """What was made: package -> version -> files, for tests to assert against."""

    packages: dict[str, dict[str, list[FileEntry]]] = field(default_factory=dict)
    yanked: set[tuple[str, str]] = field(default_factory=set)
    downloads_per_file: int = 0
    #: package -> its aliases in package_names (each a symlink under project/ when the site is written)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def files(self, package: str, version: str) -> list[str]:
        return sorted(f.filename for f in self.packages[package][version])


def file_tag(index: int) -> str:
    """A distinct wheel tag for the index-th file of a version."""
    if index == 0:
        return "py3-none-any"
    py = f"cp3{index + 6}"
    return f"{py}-{py}-linux_armv7l"


def version_name(index: int) -> str:
    """The index-th version of a package: 1.0, 1.1, ... (distinct, PEP 440, legal in a wheel name)."""
    return f"1.{index}"


def build_repository(dsn: str, output_path: str | Path, spec: RepositorySpec | None = None) -> Manifest:
    """Insert the rows of ``spec`` and write its wheels and index pages."""
    spec = spec or RepositorySpec()
    simple = Path(output_path) / "simple"
    simple.mkdir(parents=True, exist_ok=True)
    manifest = Manifest(downloads_per_file=spec.downloads)
    with psycopg.connect(dsn) as conn, conn.transaction():
        _insert_rows(conn, spec, manifest, simple)
    for package in manifest.packages:
        write_index_page(simple, package, manifest)
    if spec.write_wheels:  # the project pages and JSON too, for the tests of the whole site
        with psycopg.connect(dsn) as conn:
            for package in manifest.packages:
                write_pages(conn, Path(output_path), package)
    write_root_index(simple, manifest)
    return manifest


def _insert_rows(conn: psycopg.Connection, spec: RepositorySpec, manifest: Manifest, simple: Path) -> None:
    """Plan the repository in memory, then load each table with one COPY."""
    rows = _plan(spec, manifest, simple)
    with conn.cursor() as cur:
        for statement, table_rows in rows.items():
            with cur.copy(statement) as copy:
                for row in table_rows:
                    copy.write_row(row)
        cur.execute("SELECT setval('builds_build_id_seq', (SELECT coalesce(max(build_id), 1) FROM builds))")
        _insert_downloads(cur, spec, manifest)


FILE_COLUMNS = ("filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                "py_version_tag, abi_tag, platform_tag, requires_python")


def _plan(spec: RepositorySpec, manifest: Manifest, simple: Path) -> dict[str, list[tuple]]:
    rows: dict[str, list[tuple]] = {
        "COPY packages (package) FROM STDIN": [],
        "COPY package_names (package, name, seen) FROM STDIN": [],
        "COPY versions (package, version, released, yanked) FROM STDIN": [],
        "COPY builds (build_id, package, version, built_by, duration, status, abi_tag) FROM STDIN": [],
        f"COPY files ({FILE_COLUMNS}) FROM STDIN": [],
        "COPY dependencies (filename, tool, dependency) FROM STDIN": [],
    }
    packages, names, versions, builds, files, deps = rows.values()
    build_id = 0
    for p in range(spec.packages):
        package = spec.package_name(p)
        packages.append((package,))
        aliases = tuple(a for a in spec.aliases.get(package, ()) if a != package)
        names.extend((package, name, EPOCH) for name in (package, *aliases))
        if aliases:
            manifest.aliases[package] = aliases
        manifest.packages[package] = {}
        if spec.write_wheels:
            (simple / package).mkdir(exist_ok=True)
        for v in range(spec.versions):
            version = version_name(v)
            yanked = spec.yank_one and p == 0 and v == 1
            if yanked:
                manifest.yanked.add((package, version))
            versions.append((package, version, EPOCH + dt.timedelta(days=v), yanked))
            entries = manifest.packages[package][version] = []
            for b in range(spec.builds):
                build_id += 1
                builds.append((build_id, package, version, 1, "00:01:00", True, "cp311"))
                for f in range(spec.files):
                    entry = _make_file(simple, package, version, b * spec.files + f, spec.write_wheels)
                    entries.append(entry)
                    py, abi, platform = entry.tag.split("-")
                    files.append((entry.filename, build_id, entry.filesize, entry.filehash,
                                  package, version, py, abi, platform, entry.requires_python))
                    deps.append((entry.filename, "apt", "libc6"))
    return rows


def _make_file(simple: Path, package: str, version: str, index: int, write: bool) -> FileEntry:
    tag = file_tag(index)
    requires_python = ">=3.7,<4" if index == 0 else None
    filename = wheel_filename(package, version, tag)
    data = wheel_bytes(package, version, tag, requires_python)
    if write:
        (simple / package / filename).write_bytes(data)
    return FileEntry(filename, hashlib.sha256(data).hexdigest(), len(data), requires_python, tag)


def _insert_downloads(cur: psycopg.Cursor, spec: RepositorySpec, manifest: Manifest) -> None:
    n = 0
    with cur.copy("COPY downloads (filename, accessed_by, accessed_at, installer_name) FROM STDIN") as downloads:
        for versions in manifest.packages.values():
            for entries in versions.values():
                for entry in entries:
                    for _ in range(spec.downloads):
                        n += 1
                        address = f"10.{(n >> 16) & 255}.{(n >> 8) & 255}.{n & 255}"
                        downloads.write_row((entry.filename, address, EPOCH + dt.timedelta(seconds=n), "pip"))


def write_index_page(simple: Path, package: str, manifest: Manifest) -> None:
    """The simple page of ``package`` as piw-master writes it (the testbed's own writer, not Mr Chase's)."""
    rows = [(version, entry.filename, entry.filehash, entry.requires_python, (package, version) in manifest.yanked,
             "/simple") for version, entries in manifest.packages[package].items() for entry in entries]
    (simple / package).mkdir(exist_ok=True)
    (simple / package / "index.html").write_text(simple_page(package, rows), encoding="utf-8")


def write_root_index(simple: Path, manifest: Manifest) -> None:
    """The root ``simple/index.html`` in upstream's format (scribe.simple_index), as piw-master writes it."""
    (simple / "index.html").write_text(simple_index(manifest.packages), encoding="utf-8")
