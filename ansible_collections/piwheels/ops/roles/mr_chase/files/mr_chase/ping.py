"""Readiness probe: wait until Mr Chase answers PING, or give up after --timeout s.

    python -m mr_chase.ping --queue ipc:///run/mr-chase/queue --timeout 30

The role runs it after every start.  Each attempt uses a fresh REQ socket with
LINGER=0: a REQ socket that missed its reply cannot send again (the ZeroMQ
guide's "Lazy Pirate" pattern), and a socket file that appears late, or a
service that restarts, must not wedge the probe.

A PONG whose health is ``degraded`` (the service answers but cannot do its
work: its database role lacks a grant, the database does not answer, piw-master
takes no notices, a change cannot be settled) is not ready: the probe keeps
asking until the timeout, then says why on stderr.  Exit status: 0 ready
(warnings, if any, printed as ``warning: ...`` lines), 1 no PONG, 2 degraded.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import zmq

from .config import DEFAULT_QUEUE

ATTEMPT_MS = 1000


def ping_once(context: zmq.Context, queue: str) -> list | None:
    """One PING; the decoded reply, or None if none came within ATTEMPT_MS."""
    socket = context.socket(zmq.REQ)
    socket.setsockopt(zmq.LINGER, 0)
    try:
        socket.connect(queue)
        socket.send(json.dumps(["PING"]).encode())
        if socket.poll(ATTEMPT_MS, zmq.POLLIN):
            return json.loads(socket.recv())
        return None
    finally:
        socket.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mr_chase.ping", description=__doc__.splitlines()[0])
    parser.add_argument("--queue", default=DEFAULT_QUEUE)
    parser.add_argument("--timeout", type=float, default=30)
    args = parser.parse_args(argv)
    deadline = time.monotonic() + args.timeout
    context = zmq.Context.instance()
    reply = None
    while time.monotonic() < deadline:
        reply = ping_once(context, args.queue)
        if reply and reply[0] == "PONG" and not health(reply)["degraded"]:
            print(f"Mr Chase {reply[1]} answers at {args.queue}")
            for warning in health(reply)["warnings"]:
                print(f"warning: {warning}")
            return 0
        if reply:
            time.sleep(ATTEMPT_MS / 1000 / 4)  # answered, but degraded (or not PONG): ask again, without a storm
    if reply and reply[0] == "PONG":
        reasons = "; ".join(health(reply)["degraded"])
        print(f"Mr Chase {reply[1]} answers at {args.queue} but cannot serve changes: {reasons}", file=sys.stderr)
        return 2
    print(f"no PONG from Mr Chase at {args.queue} within {args.timeout:g} s (last reply: {reply!r})", file=sys.stderr)
    return 1


def health(reply: list) -> dict:
    """PONG's health object; a PONG without one (a Mr Chase before 0.4) says nothing is wrong."""
    return reply[2] if len(reply) > 2 and isinstance(reply[2], dict) else {"degraded": [], "warnings": []}


if __name__ == "__main__":
    sys.exit(main())
