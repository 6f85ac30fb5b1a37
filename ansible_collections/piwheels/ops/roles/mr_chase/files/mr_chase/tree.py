"""The files Mr Chase owns on disk: wheels, index pages and its staging area.

Wheels are never deleted before the database commits: they are first renamed
into a staging directory inside ``output_path`` (same file system, so a
rename is atomic and cannot fail half way), and deleted only after the
commit.  Index pages are written to a temporary file next to the page and
renamed into place, so a client never reads a half-written page.
"""

from __future__ import annotations

import html
import os
from collections.abc import Iterable
from pathlib import Path

PAGE = (
    "<!DOCTYPE html>\n<html>\n<head><title>Links for {package}</title></head>\n<body>\n"
    "<h1>Links for {package}</h1>\n{links}\n</body>\n</html>\n"
)



class UnsafePath(ValueError):
    """A name from the database that would leave the output tree."""


def safe_component(name: str) -> str:
    """Refuse a path component that could escape its directory (defence in depth)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\x00" in name or name.startswith("."):
        raise UnsafePath(f"unsafe file name {name!r}")
    return name


def render_page(package: str, rows: Iterable[tuple[str, str, str | None, bool]]) -> str:
    """The PEP 503 page (PEP 592 yanked markers) of the remaining (filename, hash, requires_python, yanked)."""
    links = []
    for filename, filehash, requires_python, yanked in rows:
        attrs = f'href="{html.escape(filename)}#sha256={filehash.strip()}"'
        if requires_python:
            attrs += f' data-requires-python="{html.escape(requires_python)}"'
        if yanked:
            attrs += ' data-yanked=""'
        links.append(f"<a {attrs}>{html.escape(filename)}</a><br>")
    return PAGE.format(package=html.escape(package), links="\n".join(links))


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_durably(path: Path, data: bytes) -> None:
    """Write ``path`` and fsync it, so a rename of it after a crash finds the whole content."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


class Tree:
    """Paths under ``output_path``: ``simple/`` and Mr Chase's own ``.mr-chase/`` state."""

    def __init__(self, output_path: Path):
        self.output_path = Path(output_path)
        self.simple = self.output_path / "simple"
        self.state = self.output_path / ".mr-chase"
        self.staging = self.state / "staging"

    def prepare(self) -> None:
        self.staging.mkdir(parents=True, exist_ok=True)
        os.chmod(self.state, 0o750)

    def package_dir(self, package: str) -> Path:
        return self.simple / safe_component(package)

    def wheel(self, package: str, filename: str) -> Path:
        return self.package_dir(package) / safe_component(filename)

    def page(self, package: str) -> Path:
        return self.package_dir(package) / "index.html"

    def temp_page(self, package: str, token: str) -> Path:
        return self.package_dir(package) / f".index.html.{token}.tmp"

    def staged(self, token: str, filename: str) -> Path:
        return self.staging / token / safe_component(filename)

    def relative(self, path: Path) -> str:
        return str(path.relative_to(self.output_path))

    def absolute(self, relative: str) -> Path:
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts:
            raise UnsafePath(f"journal path {relative!r} leaves the output tree")
        return self.output_path / rel

    def write_temp_page(self, package: str, token: str, text: str) -> Path:
        self.package_dir(package).mkdir(parents=True, exist_ok=True)
        path = self.temp_page(package, token)
        write_durably(path, text.encode("utf-8"))
        return path
