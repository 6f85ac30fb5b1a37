"""Command line for the demo and the integration setup target.

    python -m piwheels_testbed up --state DIR --output DIR [--preset small] [--database piwheels]
        start a private PostgreSQL under DIR (it keeps running, and a running
        one is reused), make the database with the schema (or empty it when it
        exists) and the sample repository, print {"dsn": ..., "output_path": ...}
        as JSON (also saved as DIR/<database>.json)
    python -m piwheels_testbed down --state DIR
        stop that PostgreSQL
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

from .postgres import Cluster, reset_database
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
    result = {"dsn": dsn, "output_path": str(output.resolve()),
              "packages": {p: sorted(v) for p, v in manifest.packages.items()}}
    (state / f"{database}.json").write_text(json.dumps(result, indent=2))
    return result


def down(state: Path) -> None:
    if (state / "pgdata" / "postmaster.pid").exists():
        Cluster(state / "pgdata", keep_running=True).stop()


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
    args = parser.parse_args(argv)
    if args.command == "up":
        print(json.dumps(up(args.state.resolve(), args.output, args.preset, args.database)))
    else:
        down(args.state.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
