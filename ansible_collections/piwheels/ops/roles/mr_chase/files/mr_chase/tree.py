"""The files Mr Chase owns on disk: wheels, index pages and its staging area.

Wheels are never deleted before the database commits: they are first renamed
into a staging directory inside ``output_path`` (same file system, so a
rename is atomic and cannot fail half way), and deleted only after the
commit.  Index pages are written to a temporary file next to the page and
renamed into place, so a client never reads a half-written page.

Paths are plain strings (os.path): a removal touches a dozen paths and this
is on the timed path of every REMOVE.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager


class UnsafePath(ValueError):
    """A name from the database or the journal that would leave the output tree."""


def safe_component(name: str) -> str:
    """Refuse a path component that could escape its directory (defence in depth)."""
    if not name or name.startswith(".") or "/" in name or "\\" in name or "\x00" in name:
        raise UnsafePath(f"unsafe file name {name!r}")
    return name


def _sync_path(path: str, sync: Callable[[int], None]) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        sync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: str) -> None:
    """fsync a directory: the renames into and out of it survive a power loss."""
    _sync_path(path, os.fsync)


def fsync_file(path: str) -> None:
    """fdatasync a file written earlier (its content; its name is the directory's business)."""
    _sync_path(path, os.fdatasync)


def write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is written (a regular file takes it all at once, bar a signal)."""
    written = os.write(fd, data)
    while written < len(data):
        written += os.write(fd, data[written:])


def write_durably(path: str, data: bytes) -> None:
    """Write ``path`` and fsync it, so whoever relies on it after a crash finds the whole content."""
    with naming(path):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)


@contextmanager
def naming(path: str) -> Iterator[None]:
    """Make an OSError name ``path`` (os.write's errors name no file: "No space left on device: None")."""
    try:
        yield
    except OSError as exc:
        if exc.filename is None:
            raise OSError(exc.errno, exc.strerror, path) from exc
        raise


class StateLocked(Exception):
    """Another live Mr Chase serves the same output tree (two would share, and corrupt, one journal)."""


class Tree:
    """Paths under ``output_path``: ``simple/`` and Mr Chase's own ``.mr-chase/`` state."""

    def __init__(self, output_path: str | os.PathLike):
        self.root = os.path.abspath(os.fspath(output_path))
        self.simple = os.path.join(self.root, "simple")
        #: piw-master's project pages and JSON: project/<package>/ and a symlink per alias
        self.project = os.path.join(self.root, "project")
        self.state = os.path.join(self.root, ".mr-chase")
        self.staging = os.path.join(self.state, "staging")
        self.set_aside = os.path.join(self.state, "set-aside")
        self._lock_fd: int | None = None

    def prepare(self) -> None:
        os.makedirs(self.staging, exist_ok=True)
        os.chmod(self.state, 0o750)

    def lock(self) -> None:
        """Hold ``.mr-chase/lock`` for as long as this process lives; raise StateLocked naming the holder."""
        path = os.path.join(self.state, "lock")
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o640)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "?"
            os.close(fd)
            raise StateLocked(f"{self.root} is served by another Mr Chase (pid {holder}); one output tree, "
                              "one Mr Chase") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        self._lock_fd = fd

    def package_dir(self, package: str) -> str:
        return os.path.join(self.simple, safe_component(package))

    def wheel(self, package: str, filename: str) -> str:
        return os.path.join(self.simple, safe_component(package), safe_component(filename))

    def page(self, package: str) -> str:
        return os.path.join(self.package_dir(package), "index.html")

    def project_dir(self, package: str) -> str:
        return os.path.join(self.project, safe_component(package))

    def root_page(self) -> str:
        """``simple/index.html``: every package's name (PEP 503's root)."""
        return os.path.join(self.simple, "index.html")

    def temp_root_page(self, token: str) -> str:
        return os.path.join(self.simple, f".index.html.{token}.tmp")

    def temp_page(self, package: str, token: str) -> str:
        return os.path.join(self.package_dir(package), f".index.html.{token}.tmp")

    def staging_dir(self, token: str) -> str:
        """Where one removal's wheels wait for COMMIT: a directory per removal, so that every legal
        file name (255 bytes) stays legal there."""
        return os.path.join(self.staging, safe_component(token))

    def staged(self, token: str, filename: str) -> str:
        return os.path.join(self.staging, safe_component(token), safe_component(filename))

    def relative(self, path: str) -> str:
        return os.path.relpath(path, self.root)

    def absolute(self, relative: str) -> str:
        """A journalled path, checked so a tampered journal cannot reach outside the tree."""
        if os.path.isabs(relative) or ".." in relative.split(os.sep):
            raise UnsafePath(f"journal path {relative!r} leaves the output tree")
        return os.path.join(self.root, relative)

    def write_temp_page(self, package: str, token: str, pieces: Iterable[str]) -> str:
        """Write the new page (its pieces, one after the other) next to the old one; the caller fsyncs it
        (while the database commits)."""
        path = self.temp_page(package, token)
        write_pieces(path, pieces, self.package_dir(package))
        return path


def write_pieces(path: str, pieces: Iterable[str], directory: str) -> None:
    """Write a page piece by piece; ``directory`` is made when it is gone, so the page stays."""
    with naming(path):
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        except FileNotFoundError:
            os.makedirs(directory, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            for piece in pieces:
                write_all(fd, piece.encode("utf-8"))
        finally:
            os.close(fd)
