"""Counts and figures shared by the reliability tests (a module of its own: test files cannot import conftest)."""

from __future__ import annotations

import os
import pwd
import stat
from pathlib import Path

SOAK = os.environ.get("PIW_SOAK") == "1"

#: test name -> {figure: value}, printed by pytest_terminal_summary
FIGURES: dict[str, dict[str, object]] = {}


def scaled(bounded, soak):
    """The count (or duration) for this run: ``soak`` under PIW_SOAK=1, else ``bounded``."""
    return soak if SOAK else bounded


def report(test: str, **figures) -> None:
    """Record and print the figures of one test."""
    FIGURES.setdefault(test, {}).update(figures)
    print(f"[reliability] {test}: " + ", ".join(f"{k}={v}" for k, v in figures.items()), flush=True)


def make_traversable(path) -> None:
    """Give other users search (x) permission on every directory above ``path``.

    pgserver opens the directories above its data and socket directories to
    other users when it first starts, but a pytest session started meanwhile
    (another suite, another developer) resets ``/tmp/pytest-of-<user>`` to
    0700; pg_ctl (run as pgserver's own user) and a Mr Chase running as a
    service user then cannot reach them any more.
    """
    for parent in Path(path).parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            os.chmod(parent, stat.S_IMODE(mode) | stat.S_IXGRP | stat.S_IXOTH)


def as_user(user: str) -> list[str]:
    """The command prefix that runs a program as ``user`` with its groups and no capabilities."""
    entry = pwd.getpwnam(user)
    return ["setpriv", f"--reuid={entry.pw_uid}", f"--regid={entry.pw_gid}", "--init-groups"]
