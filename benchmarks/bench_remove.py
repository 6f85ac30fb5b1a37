"""Issue 3 benchmark: the REMOVE round trip against the same deletes as one raw psycopg transaction.

For each table size (total download rows) a fresh database is filled with
piwheels_testbed (background packages, no wheels on disk), then, round after
round, two identical target versions are made (1 build, 10 wheels on disk,
100 downloads per wheel = 1,000 download rows each; untimed) and removed:

* ``mr_chase``: the client sends ``["REMOVE", "benchpkg", V, true]`` over the
  import queue to a running Mr Chase subprocess and waits for ``["DONE"]``
  (database work, wheels moved and deleted, index page rewritten, journal,
  audit line, all included);
* ``raw``: on an already open psycopg connection, one transaction deleting
  the version's download rows and builds (files and dependencies cascade).

The two run interleaved, alternating which goes first, so drift in the
machine affects both alike.  Medians are reported; the target is
mr_chase / raw <= 1.5 at every size.

    .venv/bin/python benchmarks/bench_remove.py [--sizes 10000 1000000] [--rounds 25]

Uses PIW_TEST_DSN's server when set, otherwise starts a private pgserver.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml
import zmq

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PATH = ROOT / "ansible_collections/piwheels/ops/roles/mr_chase/files"
sys.path.insert(0, str(ROOT))

from piwheels_testbed import Cluster, RepositorySpec, build_repository, create_database, drop_database  # noqa: E402
from piwheels_testbed.wheels import wheel_bytes, wheel_filename  # noqa: E402

PACKAGE = "benchpkg"
FILES_PER_VERSION = 10
DOWNLOADS_PER_FILE = 100


def fill_background(dsn: str, output: Path, downloads: int) -> None:
    """``downloads`` download rows spread over 100-download files of other packages."""
    files = downloads // DOWNLOADS_PER_FILE
    spec = RepositorySpec(packages=max(1, files // 10), versions=min(10, files), builds=1, files=1,
                          downloads=DOWNLOADS_PER_FILE, write_wheels=False, names=(), yank_one=False)
    build_repository(dsn, output, spec)
    with psycopg.connect(dsn) as conn:
        conn.execute("INSERT INTO packages (package) VALUES (%s)", (PACKAGE,))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def make_target(conn: psycopg.Connection, simple: Path, version: str, serial: int, wheels: bool) -> None:
    """One version of PACKAGE with 10 wheels on disk and 1,000 download rows (untimed set-up)."""
    (simple / PACKAGE).mkdir(parents=True, exist_ok=True)
    with conn.transaction():
        conn.execute("INSERT INTO versions (package, version) VALUES (%s, %s)", (PACKAGE, version))
        build_id = conn.execute(
            "INSERT INTO builds (package, version, built_by, duration, abi_tag) "
            "VALUES (%s, %s, 1, '1 minute', 'cp311') RETURNING build_id", (PACKAGE, version)).fetchone()[0]
        with conn.cursor() as cur:
            for i in range(FILES_PER_VERSION):
                tag = f"cp3{i + 10}-cp3{i + 10}-linux_armv7l"
                filename = wheel_filename(PACKAGE, version, tag)
                data = wheel_bytes(PACKAGE, version, tag)
                if wheels:  # the raw side never touches the disk
                    (simple / PACKAGE / filename).write_bytes(data)
                py, abi, platform = tag.split("-")
                cur.execute(
                    "INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                    "py_version_tag, abi_tag, platform_tag) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    (filename, build_id, len(data), hashlib.sha256(data).hexdigest(), PACKAGE, version,
                     py, abi, platform))
                cur.execute("INSERT INTO dependencies (filename, dependency) VALUES (%s, 'libc6')", (filename,))
                with cur.copy("COPY downloads (filename, accessed_by, accessed_at) FROM STDIN") as copy:
                    for n in range(DOWNLOADS_PER_FILE):
                        copy.write_row((filename, f"10.{serial % 250}.{i}.{n}", dt.datetime(2024, 1, 1)))


def raw_remove(conn: psycopg.Connection, version: str) -> float:
    started = time.perf_counter()
    with conn.transaction():
        conn.execute(
            "DELETE FROM downloads WHERE filename IN (SELECT f.filename FROM builds b "
            "JOIN files f ON f.build_id = b.build_id WHERE b.package = %s AND b.version = %s)", (PACKAGE, version))
        conn.execute("DELETE FROM builds WHERE package = %s AND version = %s", (PACKAGE, version))
    return time.perf_counter() - started


def chase_remove(sock: zmq.Socket, version: str) -> float:
    started = time.perf_counter()
    sock.send(json.dumps(["REMOVE", PACKAGE, version, True]).encode())
    if not sock.poll(30_000):
        raise RuntimeError("no reply from Mr Chase")
    reply = sock.recv()
    elapsed = time.perf_counter() - started
    if reply != b'["DONE"]':
        raise RuntimeError(f"Mr Chase replied {reply!r}")
    return elapsed


def start_chase(dsn: str, output: Path, workdir: Path) -> subprocess.Popen:
    config = {"dsn": dsn, "output_path": str(output), "import_queue": f"ipc://{workdir}/q",
              "audit_log": str(workdir / "audit.jsonl"), "log_file": str(workdir / "mr-chase.log")}
    (workdir / "config.yaml").write_text(yaml.safe_dump(config))
    proc = subprocess.Popen([sys.executable, "-m", "mr_chase", "--config", str(workdir / "config.yaml")],
                            env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)))
    deadline = time.monotonic() + 20
    while not (workdir / "q").exists():
        if time.monotonic() > deadline or proc.poll() is not None:
            raise RuntimeError("Mr Chase did not start")
        time.sleep(0.05)
    return proc


def measure(cluster: Cluster, downloads: int, rounds: int, warmup: int) -> dict:
    dsn = create_database(cluster)
    workdir = Path(tempfile.mkdtemp(prefix="mcb-", dir="/tmp"))
    output = workdir / "www"
    proc = None
    try:
        started = time.monotonic()
        fill_background(dsn, output, downloads)
        print(f"  {downloads:,} background download rows loaded in {time.monotonic() - started:.1f}s", flush=True)
        proc = start_chase(dsn, output, workdir)
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"ipc://{workdir}/q")
        times: dict[str, list[float]] = {"mr_chase": [], "raw": []}
        with psycopg.connect(dsn, autocommit=True) as setup, psycopg.connect(dsn, autocommit=True) as raw_conn:
            raw_conn.execute("SELECT 1")  # the raw side's connection is open and warm, like Mr Chase's
            for r in range(warmup + rounds):
                versions = {"mr_chase": f"9.{r}.0", "raw": f"9.{r}.1"}
                for i, (method, version) in enumerate(versions.items()):
                    make_target(setup, output / "simple", version, 2 * r + i, wheels=method == "mr_chase")
                order = ["mr_chase", "raw"] if r % 2 == 0 else ["raw", "mr_chase"]
                for method in order:
                    if method == "raw":
                        elapsed = raw_remove(raw_conn, versions["raw"])
                    else:
                        elapsed = chase_remove(sock, versions["mr_chase"])
                    if r >= warmup:
                        times[method].append(elapsed)
            leftover = setup.execute("SELECT count(*) FROM downloads d JOIN files f ON f.filename = d.filename "
                                     "WHERE f.package_tag = %s", (PACKAGE,)).fetchone()[0]
            assert leftover == 0, "a removal left download rows behind"
        assert not [p for p in (output / "simple" / PACKAGE).iterdir() if p.suffix == ".whl"], "wheels left"
        sock.close()
        chase_ms = statistics.median(times["mr_chase"]) * 1000
        raw_ms = statistics.median(times["raw"]) * 1000
        return {"download_rows": downloads, "rounds": rounds, "mr_chase_median_ms": round(chase_ms, 3),
                "raw_median_ms": round(raw_ms, 3), "ratio": round(chase_ms / raw_ms, 3),
                "mr_chase_p90_ms": round(sorted(times["mr_chase"])[int(0.9 * rounds)] * 1000, 3),
                "raw_p90_ms": round(sorted(times["raw"])[int(0.9 * rounds)] * 1000, 3)}
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        drop_database(cluster, dsn)
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--rounds", type=int, default=25)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--csv", type=Path, default=ROOT / "benchmarks/results/bench_remove.csv")
    args = parser.parse_args()
    cluster = Cluster(tempfile.mkdtemp(prefix="piw-bench-pg-"))
    try:
        rows = []
        for size in args.sizes:
            print(f"download rows {size:,}:", flush=True)
            rows.append(measure(cluster, size, args.rounds, args.warmup))
    finally:
        cluster.close()
    print(f"\n{'download rows':>14} {'Mr Chase REMOVE (ms)':>21} {'raw transaction (ms)':>21} {'ratio':>7}")
    for row in rows:
        print(f"{row['download_rows']:>14,} {row['mr_chase_median_ms']:>21.2f} {row['raw_median_ms']:>21.2f} "
              f"{row['ratio']:>7.2f}")
    print(f"(medians of {args.rounds} interleaved rounds; target ratio <= 1.5)")
    args.csv.parent.mkdir(parents=True, exist_ok=True)
    with open(args.csv, "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"written {args.csv}")
    return 0 if all(row["ratio"] <= 1.5 for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
