"""Command line for the demo and the integration setup target.

    python -m piwheels_testbed up --state DIR --output DIR [--preset small] [--database piwheels]
        start a private PostgreSQL under DIR (it keeps running, and a running
        one is reused), make the database with the schema and upstream's grants
        (or empty it when it exists) and the sample repository, print as JSON
        (also saved as DIR/<database>.json): "dsn" (Mr Chase's own role, with
        exactly its documented grants), "admin_dsn" (a superuser, for setup and
        checks), "piwheels_dsn" (piw-master's SELECT-only account), "output_path",
        "packages" (package -> versions) and "aliases" (package -> its other names)
    python -m piwheels_testbed master --queue ADDRESS --dsn DSN --output DIR [--record FILE]
        play piw-master's import queue (see master.py) until SIGTERM
    python -m piwheels_testbed down --state DIR
        stop that PostgreSQL (whatever PIW_TEST_DSN says); fails when DIR holds
        no testbed, or when the server still runs afterwards
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import threading
from pathlib import Path

from .master import StandInMaster
from .postgres import MASTER_ROLE, SERVICE_ROLE, Cluster, forget_dead_server, reset_database, role_dsn
from .repository import PRESETS, build_repository


def up(state: Path, output: Path, preset: str, database: str) -> dict:
    state.mkdir(parents=True, exist_ok=True)
    cluster = Cluster(state / "pgdata", keep_running=True)
    dsn = reset_database(cluster, database)
    # Only simple/ is rebuilt: a Mr Chase serving this tree keeps its own
    # working directory (output/.mr-chase) across rebuilds.
    if (output / "simple").exists():
        shutil.rmtree(output / "simple")
    manifest = build_repository(dsn, output, PRESETS[preset])
    result = {"dsn": role_dsn(dsn, SERVICE_ROLE), "admin_dsn": dsn, "piwheels_dsn": role_dsn(dsn, MASTER_ROLE),
              "output_path": str(output.resolve()),
              "packages": {p: sorted(v) for p, v in manifest.packages.items()},
              "aliases": {p: list(a) for p, a in manifest.aliases.items()}}
    (state / f"{database}.json").write_text(json.dumps(result, indent=2))
    return result


def down(state: Path) -> str:
    """Stop the PostgreSQL that ``up`` started under ``state``; return what was done."""
    pgdata = state / "pgdata"
    if not (pgdata / "PG_VERSION").is_file():
        raise SystemExit(f"no testbed under {state}: {pgdata} holds no PostgreSQL (give the --state that up was given)")
    forget_dead_server(pgdata)
    if not (pgdata / "postmaster.pid").exists():
        return f"PostgreSQL under {state} is not running"
    # down means the server under --state: with PIW_TEST_DSN set, Cluster would use that server and stop nothing
    os.environ.pop("PIW_TEST_DSN", None)
    Cluster(pgdata, keep_running=True).stop()
    if (pgdata / "postmaster.pid").exists():
        raise SystemExit(f"PostgreSQL under {state} still runs after pg_ctl stop: see {pgdata / 'log'}")
    return f"stopped PostgreSQL under {state}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m piwheels_testbed")
    commands = parser.add_subparsers(dest="command", required=True)
    start = commands.add_parser("up")
    start.add_argument("--state", type=Path, required=True)
    start.add_argument("--output", type=Path, required=True)
    start.add_argument("--preset", choices=sorted(PRESETS), default="small")
    start.add_argument("--database", default="piwheels")
    stop = commands.add_parser("down")
    stop.add_argument("--state", type=Path, required=True)
    master = commands.add_parser("master")
    master.add_argument("--queue", required=True)
    master.add_argument("--dsn", required=True)
    master.add_argument("--output", type=Path, required=True)
    master.add_argument("--record", type=Path)
    args = parser.parse_args(argv)
    if args.command == "up":
        print(json.dumps(up(args.state.resolve(), args.output, args.preset, args.database)))
    elif args.command == "master":
        serve_master(args)
    else:
        print(down(args.state.resolve()))
    return 0


def serve_master(args: argparse.Namespace) -> None:
    """Run the stand-in master in the foreground until SIGTERM or SIGINT."""
    stand_in = StandInMaster(args.queue, args.dsn, args.output, args.record)
    stopping = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stopping.set())
    stand_in.start()
    print(f"stand-in piw-master listening on {args.queue}", flush=True)
    stopping.wait()
    stand_in.stop()


if __name__ == "__main__":
    sys.exit(main())
