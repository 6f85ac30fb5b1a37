"""Issue 8 (item 2): STATUS and PING over the ipc queue to a real Mr Chase against a bare pyzmq REQ/REP echo.

The echo runs in its own process, as Mr Chase does; one REQ socket per peer
stays connected (as a client sending several requests would).  Interleaved,
medians; target Mr Chase / echo <= 2 for each request type.

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

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, bar_plot, median_ms, print_table, start_chase, stop, write_csv  # noqa: E402

from piwheels_testbed import Cluster, build_repository, create_database, drop_database  # noqa: E402

ECHO = ("import sys, zmq\ns = zmq.Context().socket(zmq.REP)\ns.bind(sys.argv[1])\n"
        "while True:\n    s.send(s.recv())\n")
REQUESTS = {"PING": ["PING"], "STATUS package": ["STATUS", "alpha", None], "STATUS version": ["STATUS", "alpha", "1.0"]}


def round_trip(sock: zmq.Socket, frame: bytes) -> float:
    started = time.perf_counter()
    sock.send(frame)
    if not sock.poll(10_000):
        raise RuntimeError("no reply")
    sock.recv()
    return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--csv", type=Path, default=RESULTS / "bench_roundtrip.csv")
    args = parser.parse_args()
    rounds = args.rounds or (30 if args.quick else 500)
    cluster = Cluster(tempfile.mkdtemp(prefix="piw-bench-pg-"))
    workdir = Path(tempfile.mkdtemp(prefix="mcr-", dir="/tmp"))
    dsn, chase, echo = None, None, None
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
        times: dict[tuple[str, str], list[float]] = {}
        for r in range(rounds + 10):
            for kind, message in REQUESTS.items():
                frame = json.dumps(message).encode()
                order = ["chase", "echo"] if r % 2 == 0 else ["echo", "chase"]
                for peer in order:
                    elapsed = round_trip(socks[peer], frame)
                    if r >= 10:
                        times.setdefault((kind, peer), []).append(elapsed)
        for sock in socks.values():
            sock.close()
    finally:
        stop(chase)
        stop(echo)
        if dsn:
            drop_database(cluster, dsn)
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = []
    for kind in REQUESTS:
        chase_ms, echo_ms = median_ms(times[(kind, "chase")]), median_ms(times[(kind, "echo")])
        rows.append({"request": kind, "rounds": rounds, "mr_chase_ms": chase_ms, "echo_ms": echo_ms,
                     "ratio": round(chase_ms / echo_ms, 3)})
    print_table(rows, list(rows[0]))
    print(f"(medians of {rounds} interleaved rounds; target ratio <= 2)")
    write_csv(args.csv, rows)
    bar_plot(args.csv.with_suffix(".png"), [r["request"] for r in rows],
             {"Mr Chase / echo": [r["ratio"] for r in rows]}, "ratio to a bare REQ/REP echo",
             "Round trip over the ipc queue", target=2)
    return 0 if all(r["ratio"] <= 2 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
