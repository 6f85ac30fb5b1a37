"""Issue 8 (item 2): STATUS and PING over the ipc queue to a real Mr Chase against a bare pyzmq REQ/REP echo.

The echo runs in its own process, as Mr Chase does; one REQ socket per peer
stays connected (as a client sending several requests would).  Interleaved,
medians; target Mr Chase / echo <= 2 for PING.

A STATUS needs a query to PostgreSQL, and on a unix socket one query alone
can cost more than an echo.  So each STATUS row also has a ``floor``: the
same echo plus the very SELECT Mr Chase runs for that form (its prepared
statement, on an already open psycopg connection in this process) and the
JSON encoding of the very reply Mr Chase sends for it, the least any server
answering STATUS from the database must do (issue 25: "the same query on an
open connection plus JSON encoding").  When the floor is above 2x the
echo, the echo's target is beyond what the machine allows: Mr Chase / floor
says how much Mr Chase adds to the unavoidable work, target <= 1.5 (issue
25).  Writes bench_roundtrip.csv, .png and .json (run_all.py's summary).

    .venv/bin/python benchmarks/bench_roundtrip.py [--quick] [--rounds 500]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, bar_plot, median_ms, print_table, start_chase, stop, write_csv, write_summary  # noqa: E402
from mr_chase.database import PACKAGE_STATUS, VERSION_STATUS  # noqa: E402

from piwheels_testbed import Cluster, build_repository, create_database, drop_database  # noqa: E402

ECHO = ("import sys, zmq\ns = zmq.Context().socket(zmq.REP)\ns.bind(sys.argv[1])\n"
        "while True:\n    s.send(s.recv())\n")
#: issue 8: PING within 2x a bare echo; issue 25: STATUS within 1.5x its floor
ECHO_TARGET = 2.0
FLOOR_TARGET = 1.5
REQUESTS = {"PING": ["PING"], "STATUS package": ["STATUS", "alpha", None], "STATUS version": ["STATUS", "alpha", "1.0"]}
#: the query Mr Chase runs for each STATUS form, with its parameters (the floor runs it too)
QUERIES = {"STATUS package": (PACKAGE_STATUS, {"package": "alpha"}),
           "STATUS version": (VERSION_STATUS, {"package": "alpha", "version": "1.0"})}


def round_trip(sock: zmq.Socket, frame: bytes) -> float:
    started = time.perf_counter()
    sock.send(frame)
    if not sock.poll(10_000):
        raise RuntimeError("no reply")
    sock.recv()
    return time.perf_counter() - started


def floor_trip(sock: zmq.Socket, frame: bytes, conn: psycopg.Connection, query: str, params, reply: list) -> float:
    """The echo round trip plus the STATUS query on an open connection and the encoding of the reply:
    the least a STATUS can cost."""
    started = time.perf_counter()
    sock.send(frame)
    if not sock.poll(10_000):
        raise RuntimeError("no reply")
    sock.recv()
    conn.execute(query, params, prepare=True).fetchone()
    json.dumps(reply, ensure_ascii=False, separators=(",", ":")).encode()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--csv", type=Path, default=RESULTS / "bench_roundtrip.csv")
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.quick else 500)
    cluster = Cluster()
    workdir = Path(tempfile.mkdtemp(prefix="mcr-", dir="/tmp"))
    dsn, chase, echo, conn = None, None, None, None
    try:
        dsn = create_database(cluster)
        build_repository(dsn, workdir / "www")
        chase = start_chase(dsn, workdir / "www", workdir)
        echo = subprocess.Popen([sys.executable, "-c", ECHO, f"ipc://{workdir}/echo"])
        context = zmq.Context.instance()
        socks = {}
        for name, address in (("chase", f"ipc://{workdir}/q"), ("echo", f"ipc://{workdir}/echo")):
            socks[name] = context.socket(zmq.REQ)
            socks[name].setsockopt(zmq.LINGER, 0)
            socks[name].connect(address)
        conn = psycopg.connect(dsn, autocommit=True)
        replies = {}  # the reply Mr Chase sends for each STATUS form, which the floor encodes
        for kind in QUERIES:
            socks["chase"].send(json.dumps(REQUESTS[kind]).encode())
            if not socks["chase"].poll(10_000):
                raise RuntimeError("no reply")
            replies[kind] = json.loads(socks["chase"].recv())
            if replies[kind][0] != "STATUS":
                raise RuntimeError(f"{kind}: {replies[kind]}")
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(rounds + 10):
            for kind, message in REQUESTS.items():
                frame = json.dumps(message).encode()
                peers = ["chase", "echo", "floor"] if kind in QUERIES else ["chase", "echo"]
                for peer in peers[r % len(peers):] + peers[:r % len(peers)]:
                    if peer == "floor":
                        elapsed = floor_trip(socks["echo"], frame, conn, *QUERIES[kind], replies[kind])
                    else:
                        elapsed = round_trip(socks[peer], frame)
                    if r >= 10:
                        times.setdefault((kind, peer), []).append(elapsed)
        for sock in socks.values():
            sock.close()
    finally:
        if conn is not None:
            conn.close()
        if chase is not None:
            chase.stop()
        stop(echo)
        if dsn:
            drop_database(cluster, dsn)
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for kind in REQUESTS:
        chase_ms, echo_ms = median_ms(times[(kind, "chase")]), median_ms(times[(kind, "echo")])
        floor_ms = median_ms(times[(kind, "floor")]) if kind in QUERIES else None
        rows.append({"request": kind, "rounds": rounds, "mr_chase_ms": chase_ms, "echo_ms": echo_ms,
                     "ratio": round(chase_ms / echo_ms, 3), "floor_ms": floor_ms,
                     "floor_ratio": round(floor_ms / echo_ms, 3) if floor_ms else None,
                     "mr_chase_over_floor": round(chase_ms / floor_ms, 3) if floor_ms else None})
    print_table(rows, list(rows[0]))
    print(f"(medians of {rounds} interleaved rounds; targets: PING ratio <= {ECHO_TARGET}, STATUS "
          f"mr_chase_over_floor <= {FLOOR_TARGET}; floor = echo + Mr Chase's own STATUS "
          "query on an open psycopg connection + JSON encoding of Mr Chase's reply)")
    write_csv(args.csv, rows)
    summary = summary_items(rows)
    write_summary(args.csv.with_suffix(".json"), summary)
    bar_plot(args.csv.with_suffix(".png"), [r["request"] for r in rows],
             {"Mr Chase / echo": [r["ratio"] for r in rows],
              "floor / echo": [r["floor_ratio"] or 0 for r in rows],
              "Mr Chase / floor": [r["mr_chase_over_floor"] or 0 for r in rows]}, "ratio",
             "Round trip over the ipc queue", target=ECHO_TARGET)
    return 0 if all(item["met"] for item in summary if "met" in item) else 1


def summary_items(rows: list[dict]) -> list[dict]:
    """run_all.py's summary: PING against the echo (target 2), each STATUS against its floor (target 1.5),
    and STATUS against the bare echo, reported without a target (the query alone can exceed it)."""
    items = []
    for row in rows:
        if row["mr_chase_over_floor"] is None:
            items.append({"case": f"{row['request']}: Mr Chase / echo", "ratio": row["ratio"], "target": ECHO_TARGET,
                          "met": row["ratio"] <= ECHO_TARGET})
            continue
        items.append({"case": f"{row['request']}: Mr Chase / floor", "ratio": row["mr_chase_over_floor"],
                      "target": FLOOR_TARGET, "met": row["mr_chase_over_floor"] <= FLOOR_TARGET})
        items.append({"case": f"{row['request']}: Mr Chase / echo", "ratio": row["ratio"], "target": None})
    return items


if __name__ == "__main__":
    sys.exit(main())
