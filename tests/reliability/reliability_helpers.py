"""Counts and figures shared by the reliability tests (a module of its own: test files cannot import conftest)."""

from __future__ import annotations

import json
import os
import pwd
import signal
import stat
import time
from pathlib import Path

import zmq

SOAK = os.environ.get("PIW_SOAK") == "1"


def scaled(bounded, soak):
    """The count (or duration) for this run: ``soak`` under PIW_SOAK=1, else ``bounded``."""
    return soak if SOAK else bounded


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


def crash_during(chase, messages: list[list], mode: str, rng, delay_s: float, steps: list[str],
                 counts: dict) -> list[list | None]:
    """Send ``messages`` to a running Mr Chase at once and end it abruptly while it serves them; return the
    replies that reached the client.

    ``mode`` "kill": SIGKILL after a random delay up to ``delay_s`` (a quarter
    of the time the restart is SIGKILLed too, possibly while it settles the
    journal); "hook": MR_CHASE_CRASH_AT ends it at a random one of ``steps``.
    ``counts`` tallies sigkills, hook_exits and kills_during_recovery.
    """
    context = zmq.Context.instance()
    if mode == "kill":
        if chase.proc.poll() is not None:
            chase.start()
        sockets = fire(context, chase.address, messages)
        time.sleep(rng.uniform(0, delay_s))
        chase.proc.send_signal(signal.SIGKILL)
        assert chase.wait_exit() == -signal.SIGKILL
        counts["sigkills"] += 1
        if rng.random() < 0.25:
            chase.start(wait=False)
            time.sleep(rng.uniform(0, 0.4))
            chase.proc.send_signal(signal.SIGKILL)
            chase.wait_exit()
            counts["kills_during_recovery"] += 1
    else:
        chase.stop()
        chase.start(env={"MR_CHASE_CRASH_AT": rng.choice(steps)})
        sockets = fire(context, chase.address, messages)
        assert chase.wait_exit(30) == 70, chase.log()[-2000:]
        counts["hook_exits"] += 1
    return collect(sockets)


def fire(context: zmq.Context, address: str, messages: list[list]) -> list[zmq.Socket]:
    """One REQ socket per request, all sent at once; Mr Chase serves them one after another."""
    sockets = []
    for message in messages:
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(address)
        sock.send(json.dumps(message).encode())
        sockets.append(sock)
    return sockets


def collect(sockets: list[zmq.Socket]) -> list[list | None]:
    """Replies that reached the client before the kill (None: no reply)."""
    replies = []
    for sock in sockets:
        replies.append(json.loads(sock.recv()) if sock.poll(50) else None)
        sock.close()
    return replies
