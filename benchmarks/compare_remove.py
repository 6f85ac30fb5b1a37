"""Issue 25: REMOVE before and after a change of Mr Chase, side by side in one run.

On the shared 2-core machine the load moves by a factor of two within
minutes, so two runs of bench_remove.py a few minutes apart differ by more
than a change on REMOVE's path is worth.  Here two real Mr Chase
subprocesses, one started from each tree's service code (``--before`` and
``--after``, e.g. two git worktrees), each on an output tree of its own,
share one database (bench_remove.fill_background) and remove identical
versions (bench_remove.make_target: 10 wheels, 1,000 download rows) round
by round, alternating which goes first, so that a burst of load falls on
both alike.  Printed: each side's median round trip, after/before of the
medians, and the median of the per-round ratios after/before.  Not part of
``make bench`` (run_all.py runs ``bench_*.py`` only): it compares two trees.

    .venv/bin/python benchmarks/compare_remove.py --before ../wt-main [--after .] [--rounds 200]
        [--downloads 10000] [--builds 1000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import psycopg
import zmq

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_remove import chase_remove, fill_background, make_target  # noqa: E402
from common import ROOT, MrChase, start_chase  # noqa: E402

from piwheels_testbed import Cluster, create_database, drop_database  # noqa: E402

SERVICE = Path("ansible_collections/piwheels/ops/roles/mr_chase/files")
WARMUP = 5


def start_side(tree: Path, dsn: str, workdir: Path) -> tuple[MrChase, zmq.Socket]:
    """A Mr Chase running ``tree``'s service code, and a REQ socket to it.  MrChase.start puts its module's
    SERVICE_PATH (tests/chase_helpers.py) on the subprocess's PYTHONPATH: set here, side by side."""
    sys.modules[MrChase.__module__].SERVICE_PATH = tree / SERVICE
    workdir.mkdir()
    chase = start_chase(dsn, workdir / "www", workdir)
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"ipc://{workdir}/q")
    return chase, sock


def compare(trees: dict[str, Path], rounds: int, downloads: int, builds: int) -> dict[str, list[float]]:
    """Each side's REMOVE round trips (seconds), ``rounds`` of them after WARMUP untimed ones."""
    data = tempfile.mkdtemp(prefix="piw-compare-pg-")
    cluster = Cluster(data)
    workdir = Path(tempfile.mkdtemp(prefix="mcc-", dir="/tmp"))
    sides: dict[str, tuple[MrChase, zmq.Socket]] = {}
    dsn = None
    try:
        dsn = create_database(cluster)
        fill_background(dsn, workdir / "background", downloads, builds)
        for name, tree in trees.items():
            sides[name] = start_side(tree, dsn, workdir / name)
        times: dict[str, list[float]] = {name: [] for name in trees}
        with psycopg.connect(dsn, autocommit=True) as setup:
            for r in range(WARMUP + rounds):
                versions = {name: f"9.{r}.{i}" for i, name in enumerate(trees)}
                for i, name in enumerate(trees):
                    make_target(setup, workdir / name / "www" / "simple", versions[name], len(trees) * r + i, True)
                os.sync()  # a removed release was written long ago, not a moment before
                for name in list(trees)[::1 if r % 2 else -1]:
                    elapsed = chase_remove(sides[name][1], versions[name])
                    if r >= WARMUP:
                        times[name].append(elapsed)
        return times
    finally:
        for chase, sock in sides.values():
            sock.close()
            chase.stop()
        if dsn is not None:
            drop_database(cluster, dsn)
        cluster.close()
        for directory in (workdir, data, f"{data}-socket"):
            shutil.rmtree(directory, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the tree (checkout) of the code before")
    parser.add_argument("--after", type=Path, default=ROOT, help="the tree of the code after (default: this one)")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--downloads", type=int, default=10_000, help="background download rows")
    parser.add_argument("--builds", type=int, default=1_000, help="background builds")
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": args.after.resolve()}
    for tree in trees.values():
        if not (tree / SERVICE / "mr_chase").is_dir():
            parser.error(f"{tree} has no {SERVICE}/mr_chase")
    load = os.getloadavg()[0]
    times = compare(trees, args.rounds, args.downloads, args.builds)
    before, after = (statistics.median(times[name]) * 1000 for name in ("before", "after"))
    paired = statistics.median(a / b for a, b in zip(times["after"], times["before"], strict=True))
    print(f"{args.downloads:,} download rows, {args.builds:,} builds, {args.rounds} paired rounds: "
          f"before {before:.3f} ms, after {after:.3f} ms (medians); after/before {after / before:.3f}, "
          f"median of the paired ratios {paired:.3f}; load average {load:.2f} -> {os.getloadavg()[0]:.2f} "
          f"on {os.cpu_count()} cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
