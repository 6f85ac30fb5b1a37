"""Issue 14: deleting a whole package of 500 versions and 20,000 wheels is one operation, done in under 10 s.

For each repeat a fresh database and output tree are made with
piwheels_testbed (untimed): one package ``bigpkg`` of 500 versions, one build
of 40 wheels each (20,000 real wheels on disk, 5 download rows per wheel:
100,000 download rows), two aliases in ``package_names`` with their
``project/`` symlinks, its simple page, project page and JSON, and 100,000
other packages (rows only) so that the root ``simple/index.html`` Mr Chase
rewrites is the size of a real master's.  Then a real Mr Chase (``python -m
mr_chase``, connected as its own least-privilege role, never a superuser;
notifying a stand-in piw-master) is sent ``["DELETE", "bigpkg"]``:

* ``reply``: from sending the request to ``["DONE"]`` (one transaction for
  every row, every wheel moved aside under the journal, the root index
  rewritten);
* ``clean``: from sending the request until Mr Chase's clean-up after the
  reply is finished too: the reply to a STATUS sent right after the DONE
  (common.settle: the worker deletes the staged files before it takes the
  next request; checked: nothing left under ``<output>/.mr-chase/staging``,
  ``<output>/.mr-chase/journal.json`` empty).  Waiting for the STATUS, not
  scanning the staging directory every few milliseconds, keeps the bench
  from competing with the deletion it times.

Afterwards the bench checks the end state (no row of the package or its
aliases, no ``simple/bigpkg`` or ``project/bigpkg``, no alias symlink, the
root index without it, the other packages still listed) and that the stand-in
master was told ``REBUILD ["SEARCH"]`` and never ``REMPKG``.

``--compare`` adds, on one more fresh repository, the same package removed
version by version: 500 ``["REMOVE", "bigpkg", V, false]`` requests, each
rewriting the package's page, timed until the last reply and until clean.

Medians over the repeats; target: ``clean`` under 10 s.  Writes
``<results>/bench_delete_package.csv`` and ``.json`` (run_all.py's summary:
``clean / 10 s`` with target 1) and a PNG.

    .venv/bin/python benchmarks/bench_delete_package.py [--quick] [--repeats 5] [--compare]
        [--versions 500] [--files 40] [--others 100000] [--results DIR]

Uses PIW_TEST_DSN's server when set, otherwise starts a private pgserver.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, bar_plot, print_table, settle, start_chase, write_csv, write_summary  # noqa: E402

from piwheels_testbed import (  # noqa: E402
    MASTER_ROLE,
    Cluster,
    RepositorySpec,
    build_repository,
    create_database,
    drop_database,
    role_dsn,
)
from piwheels_testbed.master import StandInMaster  # noqa: E402
from piwheels_testbed.scribe import write_simple_index  # noqa: E402

PACKAGE = "bigpkg"
ALIASES = ("BigPkg", "big_pkg")
TARGET_SECONDS = 10.0
DOWNLOADS_PER_WHEEL = 5


@dataclass
class Size:
    versions: int
    files: int
    others: int

    @property
    def wheels(self) -> int:
        return self.versions * self.files


def make_repository(cluster: Cluster, workdir: Path, size: Size) -> tuple[str, Path]:
    """A fresh database and tree holding PACKAGE at ``size`` and ``size.others`` other packages (untimed)."""
    dsn = create_database(cluster)
    output = workdir / "www"
    if output.exists():
        shutil.rmtree(output)
    spec = RepositorySpec(packages=1, versions=size.versions, builds=1, files=size.files,
                          downloads=DOWNLOADS_PER_WHEEL, names=(PACKAGE,), aliases={PACKAGE: ALIASES})
    build_repository(dsn, output, spec)
    with psycopg.connect(dsn) as conn:
        with conn.cursor() as cur, cur.copy("COPY packages (package) FROM STDIN") as copy:
            for i in range(size.others):
                copy.write_row((f"other{i:06d}",))
        conn.commit()
        write_simple_index(conn, output)  # as piw-master has it: every package listed
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    os.sync()  # a package deleted today was written long ago, not a moment before
    return dsn, output


def staging_clean(output: Path) -> bool:
    """No file left under ``.mr-chase/staging`` (stops at the first one found: cheap while 20,000 remain)."""
    stack = [output / ".mr-chase" / "staging"]
    while stack:
        try:
            entries = os.scandir(stack.pop())
        except FileNotFoundError:
            continue
        with entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(Path(entry.path))
                else:
                    return False
    return True


def journal_empty(output: Path) -> bool:
    path = output / ".mr-chase" / "journal.json"
    return not path.exists() or path.stat().st_size == 0


def request(sock: zmq.Socket, message: list, timeout: float = 300.0) -> None:
    sock.send(json.dumps(message).encode())
    if not sock.poll(int(timeout * 1000)):
        raise RuntimeError(f"no reply to {message[:2]} within {timeout:.0f} s")
    reply = sock.recv()
    if reply != b'["DONE"]':
        raise RuntimeError(f"Mr Chase replied {reply!r} to {message[:3]}")


def check_deleted(dsn: str, output: Path, size: Size) -> None:
    """The end state of a whole-package deletion, or AssertionError naming what was left."""
    with psycopg.connect(dsn) as conn:
        for table, column in (("packages", "package"), ("package_names", "package"), ("versions", "package"),
                              ("builds", "package"), ("files", "package_tag")):
            left = conn.execute(f"SELECT count(*) FROM {table} WHERE {column} = %s", (PACKAGE,)).fetchone()[0]
            assert left == 0, f"{left} rows of {PACKAGE} left in {table}"
        left = conn.execute("SELECT count(*) FROM downloads WHERE filename LIKE %s", (f"{PACKAGE}-%",)).fetchone()[0]
        assert left == 0, f"{left} download rows left"
        others = conn.execute("SELECT count(*) FROM packages").fetchone()[0]
        assert others == size.others, f"{others} other packages instead of {size.others}"
    for path in (output / "simple" / PACKAGE, output / "project" / PACKAGE,
                 *(output / "project" / alias for alias in ALIASES)):
        assert not os.path.lexists(path), f"{path} left"
    root = (output / "simple" / "index.html").read_text()
    assert f'href="{PACKAGE}"' not in root, "the root index still lists the package"
    assert root.count("<a href=") == size.others, "the root index lost other packages"


def delete_once(cluster: Cluster, workdir: Path, size: Size, make=None) -> dict:
    """One DELETE on a fresh repository (``make``, by default :func:`make_repository`): seconds to the reply
    and to the end of the clean-up."""
    dsn, output = (make or make_repository)(cluster, workdir, size)
    chase = master = None
    run = Path(tempfile.mkdtemp(prefix="mcd-", dir="/tmp"))
    try:
        master = StandInMaster(f"ipc://{run}/master", role_dsn(dsn, MASTER_ROLE), output).start()
        chase = start_chase(dsn, output, run, master_queue=master.queue, log_level="info")
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(chase.address)
        started = time.perf_counter()
        request(sock, ["DELETE", PACKAGE])
        reply = time.perf_counter() - started
        settle(sock, PACKAGE)
        clean = time.perf_counter() - started
        sock.close()
        assert staging_clean(output) and journal_empty(output), "STATUS answered before the clean-up was over"
        check_deleted(dsn, output, size)
        deadline = time.monotonic() + 10
        while not master.accepted and time.monotonic() < deadline:
            time.sleep(0.01)
        assert master.sent("REBUILD") == [["REBUILD", ["SEARCH"]]], f"the master was told {master.accepted}"
        assert master.sent("REMPKG") == [], "Mr Chase sent REMPKG"
        return {"reply_s": round(reply, 3), "clean_s": round(clean, 3)}
    finally:
        if chase is not None:
            chase.stop()
        if master is not None:
            master.stop()
        drop_database(cluster, dsn)
        shutil.rmtree(run, ignore_errors=True)


def remove_each_version(cluster: Cluster, workdir: Path, size: Size) -> dict:
    """The comparison: the same package emptied by one REMOVE per version (each rewrites the page)."""
    dsn, output = make_repository(cluster, workdir, size)
    with psycopg.connect(dsn) as conn:
        versions = [r[0] for r in conn.execute("SELECT version FROM versions WHERE package = %s", (PACKAGE,))]
    chase = None
    run = Path(tempfile.mkdtemp(prefix="mcr-", dir="/tmp"))
    try:
        chase = start_chase(dsn, output, run, log_level="info")
        sock = zmq.Context.instance().socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(chase.address)
        started = time.perf_counter()
        for version in versions:
            request(sock, ["REMOVE", PACKAGE, version, False])
        reply = time.perf_counter() - started
        settle(sock, PACKAGE)
        clean = time.perf_counter() - started
        sock.close()
        assert staging_clean(output) and journal_empty(output), "STATUS answered before the clean-up was over"
        assert not list((output / "simple" / PACKAGE).glob("*.whl")), "wheels left after the REMOVEs"
        return {"reply_s": round(reply, 3), "clean_s": round(clean, 3), "requests": len(versions)}
    finally:
        if chase is not None:
            chase.stop()
        drop_database(cluster, dsn)
        shutil.rmtree(run, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="a tiny package, two repeats (smoke test)")
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--versions", type=int, default=None)
    parser.add_argument("--files", type=int, default=None, help="wheels per version")
    parser.add_argument("--others", type=int, default=None, help="other packages (rows only) in the root index")
    parser.add_argument("--compare", action="store_true", help="also remove the package with one REMOVE per version")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    size = Size(versions=args.versions or (10 if args.quick else 500), files=args.files or (4 if args.quick else 40),
                others=args.others if args.others is not None else (100 if args.quick else 100_000))
    repeats = args.repeats or (2 if args.quick else 5)
    workdir = Path(tempfile.mkdtemp(prefix="piw-bench-del-"))
    cluster = Cluster(workdir / "pgdata")
    samples = []
    compare = None
    try:
        for r in range(repeats):
            samples.append(delete_once(cluster, workdir, size))
            print(f"  repeat {r + 1}/{repeats}: DONE after {samples[-1]['reply_s']:.3f} s, "
                  f"clean after {samples[-1]['clean_s']:.3f} s", flush=True)
        if args.compare or args.quick:
            compare = remove_each_version(cluster, workdir, size)
            print(f"  {compare['requests']} REMOVEs: last DONE after {compare['reply_s']:.3f} s, "
                  f"clean after {compare['clean_s']:.3f} s", flush=True)
    finally:
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)

    reply = round(statistics.median(s["reply_s"] for s in samples), 3)
    clean = round(statistics.median(s["clean_s"] for s in samples), 3)
    common = {"versions": size.versions, "wheels": size.wheels, "download_rows": size.wheels * DOWNLOADS_PER_WHEEL,
              "other_packages": size.others}
    rows = [{"operation": "DELETE", "requests": 1, **common, "repeats": repeats, "reply_s": reply, "clean_s": clean,
             "max_clean_s": max(s["clean_s"] for s in samples)}]
    if compare is not None:
        rows.append({"operation": "REMOVE each version", "requests": compare["requests"], **common, "repeats": 1,
                     "reply_s": compare["reply_s"], "clean_s": compare["clean_s"], "max_clean_s": compare["clean_s"]})
    print()
    print_table(rows, ["operation", "requests", "versions", "wheels", "download_rows", "other_packages", "repeats",
                       "reply_s", "clean_s", "max_clean_s"])
    print(f"(medians of {repeats} repeats, each on a fresh repository; target: DELETE clean_s < {TARGET_SECONDS:g} s)")
    args.results.mkdir(parents=True, exist_ok=True)
    write_csv(args.results / "bench_delete_package.csv", rows)
    met = clean < TARGET_SECONDS
    summary = [{"case": f"DELETE {size.versions} versions, {size.wheels:,} wheels: clean_s / {TARGET_SECONDS:g} s",
                "ratio": round(clean / TARGET_SECONDS, 3), "target": 1.0, "met": met}]
    if compare is not None:
        summary.append({"case": f"DELETE / {compare['requests']} REMOVEs (clean_s)",
                        "ratio": round(clean / compare["clean_s"], 3), "target": None})
    write_summary(args.results / "bench_delete_package.json", summary)
    print(json.dumps({"rows": rows, "summary": summary}))
    bar_plot(args.results / "bench_delete_package.png", [r["operation"] for r in rows],
             {"until DONE": [r["reply_s"] for r in rows], "until clean": [r["clean_s"] for r in rows]},
             "seconds", f"Whole package: {size.versions} versions, {size.wheels:,} wheels")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
