"""Who holds an ipc socket file: the facts behind "never collide".

ZeroMQ's ipc bind unlinks whatever socket file is at the path and binds a new
one, so a process that binds an address another live process holds silently
takes its queue (piw-master and Mr Chase would steal each other's).  Mr
Chase therefore looks before it binds, names the holder when there is one,
and remembers the inode it bound, so it never unlinks a socket file it did
not create and notices when another process takes its path.
"""

from __future__ import annotations

import errno
import os
import socket


class AddressTaken(Exception):
    """A live process accepts connections on the socket file; binding would steal its queue."""


def holder(path: str) -> str | None:
    """A description of the live process listening on the unix socket ``path``, or None if none listens.

    A plain connect tells a live listener from a stale file (connection
    refused) or none; /proc then names the process where this user may see it.
    """
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.settimeout(2)
        probe.connect(path)
    except OSError as exc:
        if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
            return None
        return f"something this process cannot connect to ({exc.strerror or exc})"
    finally:
        probe.close()
    return describe(listening_pid(path))


def listening_pid(path: str) -> int | None:
    """The pid of the process holding the listening unix socket bound to ``path`` (via /proc)."""
    inodes = set()
    try:
        with open("/proc/net/unix", encoding="utf-8", errors="replace") as table:
            next(table)
            for line in table:
                fields = line.split()
                # Flags 00010000 (__SO_ACCEPTCON) mark a listening socket
                if len(fields) >= 8 and fields[7] == path and int(fields[3], 16) & 0x10000:
                    inodes.add(fields[6])
    except OSError:
        return None
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    return int(pid)
        except OSError:  # gone, or another user's process
            continue
    return None


def describe(pid: int | None) -> str:
    if pid is None:
        return "a live process (its pid is not visible to this user)"
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as stream:
            command = stream.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        command = "?"
    return f"pid {pid} ({command[:200]})"


def refuse_if_taken(address: str, path: str | None) -> None:
    """Raise AddressTaken naming the holder when a live process listens on ``path``."""
    if path is None:
        return
    found = holder(path)
    if found is not None:
        raise AddressTaken(f"{address} is held by {found}; Mr Chase will not take it over "
                           "(give it an address of its own, or stop the other process)")


def inode(path: str) -> tuple[int, int] | None:
    """(device, inode) of the file at ``path``, or None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


__all__ = ["AddressTaken", "describe", "holder", "inode", "listening_pid", "refuse_if_taken"]
