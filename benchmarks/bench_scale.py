"""Issue 25: scale curves, not single points: how REMOVE and DELETE grow with the size of what they touch.

Four curves.  Each stands on fresh databases of a private pgserver (or
PIW_TEST_DSN's server), filled in bulk by the setup superuser connection
(``INSERT ... SELECT FROM generate_series``, untimed), and a real Mr Chase
(``python -m mr_chase``) that connects as its own least-privilege role
(common.start_chase), never as a superuser:

* ``remove_wheels``: REMOVE of one version holding W wheels (W = 1, 10, 100,
  1,000; 10 download rows per wheel), of a package with 10 other versions;
* ``remove_versions``: REMOVE of one version of 10 wheels (100 download rows
  each) of a package with V other versions of one wheel each (V = 10 ...
  100,000); the files removed are the same all along the curve, the page
  Mr Chase rewrites lists every remaining file of the package;
* ``remove_downloads``: the same 10-wheel REMOVE while the ``downloads`` table
  holds D other rows (D = 10^4 ... 10^7, spread over 1,000 other files); one
  database, topped up from one level to the next;
* ``delete_wheels``: DELETE of a whole package of N wheels (N = 1,000 ...
  200,000; 40 wheels per version, 5 download rows per wheel, two aliases),
  with 10,000 other packages in the root index, on a fresh repository per
  sample (bench_delete_package.delete_once, which checks the end state and
  the stand-in piw-master's notification).  Its wheels are files of a real
  testbed wheel's bytes (DELETE never reads them; the hash in their rows is
  a placeholder).

The removed versions are made (wheels written, rows inserted, ``sync``)
before each REMOVE, untimed, by bench_remove.make_target.  The points of the
first two curves are interleaved round by round (rotating which goes first),
so a burst of load on the shared machine touches every point alike.

Times, medians over the rounds (REMOVE: 7 timed after 2 warm-up rounds) or
repeats (DELETE: 2, each on a fresh repository, so their median is their
mean; a 200,000-wheel repository takes more than a minute to write and
sync on a shared disk, and a third repeat would not fit ``make bench``):

* ``reply``: from sending the request to ``["DONE"]``;
* ``clean``: until Mr Chase's own work for the request is over: until the
  reply to a STATUS of the same version (or package) sent right after the
  DONE (common.settle: Mr Chase's worker deletes the staged files after the
  reply, before it takes the next request; a PING would not do, the
  socket's thread answers it at once).

Growth ratios, each on ``clean`` (nothing the request costs is left out):

* ``remove_downloads``, along which nothing the REMOVE must touch grows:
  t(top) / t(bottom); target 1.5, "flat";
* ``remove_versions``: the files removed stay the same, but the page Mr Chase
  must rewrite lists every remaining file of the package (as piw-master's own
  page writer does), so no REMOVE can be flat here; the work must be linear
  in the page's links (one per other version): the marginal ratio below with
  n = the page's links, target 1.5; t(top) / t(bottom) is reported too;
* curves along the files removed (``remove_wheels``, ``delete_wheels``): what
  each file added over the last step of the curve costs, divided by the cost
  per file at the point before it,
  ``[(t_k - t_k-1) / (n_k - n_k-1)] / [t_k-1 / n_k-1]``; target 1.5, "linear
  or better".  For work linear in the files (t = a + b.n) it is at most 1
  (below 1 by the request's fixed cost a); for a cost per file that grows
  with the files (t = a + c.n^2) it is about ``(n_k + n_k-1) / n_k-1`` (5 to
  11 here).  The point before the top, not the bottom, is the reference:
  at one wheel a request's fixed cost (round trips, the page, fsyncs) is
  all there is, so the plain ``(t/n at the top) / (t/n at the bottom)``
  stays far below 1 for anything short of badly superlinear work; it is
  reported too, without a target.

Also reported, without targets: REMOVE over 10 -> 1,000 versions (the range
of real piwheels packages), and DELETE's reply growth.  The machine's load
average is recorded before and after each curve, in the CSV, the JSON and
under each plot.  Writes ``<results>/bench_scale.csv``, ``bench_scale.json``
(run_all.py's summary) and ``bench_scale_<curve>.png``.

    .venv/bin/python benchmarks/bench_scale.py [--quick] [--only CURVE ...] [--rounds 7] [--warmup 2]
        [--repeats 2] [--results DIR]

A full run takes about 9 minutes on 2 shared cores (the 10^7 download rows
about 70 s to load, the DELETE curve about 6 minutes); ``--quick`` (three or
two small points per curve, one or two rounds) about 20 s.

Exit status 0 when every target was met, 1 when one was missed.
"""

from __future__ import annotations

import argparse
import datetime as dt
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
from bench_delete_package import ALIASES, DOWNLOADS_PER_WHEEL, Size, delete_once  # noqa: E402
from bench_delete_package import PACKAGE as DELETED_PACKAGE  # noqa: E402
from bench_remove import chase_remove, make_target  # noqa: E402
from common import (  # noqa: E402
    RESULTS,
    curve_plot,
    machine_load,
    print_table,
    settle,
    start_chase,
    write_csv,
    write_summary,
)

from piwheels_testbed import Cluster, create_database, drop_database  # noqa: E402
from piwheels_testbed.scribe import write_pages, write_simple_index  # noqa: E402
from piwheels_testbed.wheels import dist_name, wheel_bytes  # noqa: E402

TARGET = 1.5
EPOCH = dt.datetime(2024, 1, 1)
#: the REMOVE of the flat curves: one version of 10 wheels, 100 download rows each
FLAT_FILES, FLAT_DOWNLOADS = 10, 100
WHEEL_DOWNLOADS = 10
WHEELS_PER_VERSION = 40  # of the deleted package


@dataclass
class Curve:
    name: str
    title: str
    xlabel: str
    points: list[int]
    quick: list[int]
    #: the growth ratio's kind: "flat" (nothing the request must touch grows), "files" (x is the files
    #: removed) or "page" (x is the links of the page the request rewrites, the files removed constant)
    kind: str


CURVES = {c.name: c for c in (
    Curve("remove_wheels", "REMOVE of one version against its wheels", "wheels in the removed version",
          [1, 10, 100, 1000], [1, 10, 30], "files"),
    Curve("remove_versions", "REMOVE of one version (10 wheels) against the package's versions",
          "other versions of the package", [10, 100, 1000, 10_000, 100_000], [10, 100, 300], "page"),
    Curve("remove_downloads", "REMOVE of one version (10 wheels) against the downloads table",
          "download rows of other files", [10_000, 100_000, 1_000_000, 10_000_000], [10_000, 30_000], "flat"),
    Curve("delete_wheels", "DELETE of a whole package against its wheels", "wheels in the package",
          [1_000, 10_000, 50_000, 200_000], [40, 120, 400], "files"),
)}

FILL_PACKAGE = [
    "INSERT INTO packages (package) VALUES (%(p)s::text)",
    "INSERT INTO package_names (package, name, seen) SELECT %(p)s::text, n, %(epoch)s FROM unnest(%(names)s::text[]) n",
    "INSERT INTO versions (package, version, released) "
    "SELECT %(p)s::text, '1.' || v, %(epoch)s + v * interval '1 minute' FROM generate_series(0, %(versions)s - 1) v",
    "INSERT INTO builds (package, version, built_by, duration, abi_tag) "
    "SELECT %(p)s::text, '1.' || v, 1, interval '1 minute', 'cp311' FROM generate_series(0, %(versions)s - 1) v",
    "INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, py_version_tag, "
    "abi_tag, platform_tag) "
    "SELECT %(dist)s || '-' || b.version || '-cp3' || (f + 7) || '-cp3' || (f + 7) || '-linux_armv7l.whl', "
    "b.build_id, %(size)s, encode(sha256(convert_to(b.version || '/' || f, 'UTF8')), 'hex'), %(p)s::text, b.version, "
    "'cp3' || (f + 7), 'cp3' || (f + 7), 'linux_armv7l' "
    "FROM builds b CROSS JOIN generate_series(0, %(files)s - 1) f WHERE b.package = %(p)s::text",
    "INSERT INTO dependencies (filename, tool, dependency) SELECT filename, 'apt', 'libc6' FROM files "
    "WHERE package_tag = %(p)s::text",
    "INSERT INTO downloads (filename, accessed_by, accessed_at, installer_name) "
    "SELECT f.filename, '10.0.0.0'::inet + d, %(epoch)s + d * interval '1 second', 'pip' "
    "FROM files f CROSS JOIN generate_series(1, %(downloads)s) d WHERE f.package_tag = %(p)s::text",
]

TOP_UP_DOWNLOADS = (
    "INSERT INTO downloads (filename, accessed_by, accessed_at, installer_name) "
    "SELECT a.names[1 + g %% a.n], '10.0.0.0'::inet + g, %(epoch)s + g * interval '1 second', 'pip' "
    "FROM (SELECT array_agg(filename ORDER BY filename) AS names, count(*)::int AS n FROM files "
    "WHERE package_tag = %(p)s) a CROSS JOIN generate_series(%(first)s::int, %(last)s::int) g")


def fill_package(conn: psycopg.Connection, package: str, versions: int, files: int, downloads: int,
                 aliases: tuple[str, ...] = (), size: int = 1000) -> None:
    """``versions`` versions of one build of ``files`` wheels (rows only), ``downloads`` download rows each."""
    params = {"p": package, "names": [package, *aliases], "epoch": EPOCH, "versions": versions, "files": files,
              "downloads": downloads, "dist": dist_name(package), "size": size}
    with conn.transaction():
        for statement in FILL_PACKAGE:
            conn.execute(statement, params)


def vacuum(dsn: str) -> None:
    """VACUUM ANALYZE, as autovacuum keeps a real master's tables (plans and visibility map up to date)."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


class Service:
    """A database, an output tree and a Mr Chase on it, with a REQ socket; a context manager."""

    def __init__(self, cluster: Cluster):
        self.cluster, self.dsn, self.chase, self.sock = cluster, create_database(cluster), None, None
        self.workdir = Path(tempfile.mkdtemp(prefix="mcs-", dir="/tmp"))
        self.simple = self.workdir / "www" / "simple"
        self.simple.mkdir(parents=True)

    def start(self) -> Service:
        self.chase = start_chase(self.dsn, self.workdir / "www", self.workdir)
        self.sock = zmq.Context.instance().socket(zmq.REQ)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.connect(self.chase.address)
        return self

    def __enter__(self) -> Service:
        return self

    def __exit__(self, *exc) -> None:
        if self.sock is not None:
            self.sock.close()
        if self.chase is not None:
            self.chase.stop()
        drop_database(self.cluster, self.dsn)
        shutil.rmtree(self.workdir, ignore_errors=True)


def remove_rounds(service: Service, targets: dict[int, tuple[str, int, int]], rounds: int, warmup: int,
                  prefix: str = "9") -> dict[int, list[tuple[float, float]]]:
    """Interleaved rounds: per point x, ``targets[x]`` = (package, wheels, downloads per wheel) is made and
    removed once a round.  Returns x -> [(reply, clean)] seconds, the warm-up rounds left out."""
    samples: dict[int, list[tuple[float, float]]] = {x: [] for x in targets}
    points = list(targets)
    with psycopg.connect(service.dsn, autocommit=True) as setup:
        for r in range(warmup + rounds):
            order = points[r % len(points):] + points[:r % len(points)]
            versions = {x: f"{prefix}.{r}.{i}" for i, x in enumerate(points)}
            for x in order:
                package, files, downloads = targets[x]
                make_target(setup, service.simple, versions[x], r * len(points) + points.index(x), True,
                            package=package, files=files, downloads=downloads)
            os.sync()  # a removed release was written long ago, not a moment before
            for x in order:
                started = time.perf_counter()
                chase_remove(service.sock, versions[x], targets[x][0])
                reply = time.perf_counter() - started
                settle(service.sock, targets[x][0], versions[x])
                clean = time.perf_counter() - started
                if r >= warmup:
                    samples[x].append((reply, clean))
    return samples


def remove_wheels(cluster: Cluster, points: list[int], args) -> dict[int, list[tuple[float, float]]]:
    with Service(cluster) as service:
        with psycopg.connect(service.dsn) as conn:
            fill_package(conn, "benchpkg", 10, 1, WHEEL_DOWNLOADS)
        vacuum(service.dsn)
        service.start()
        return remove_rounds(service, {w: ("benchpkg", w, WHEEL_DOWNLOADS) for w in points}, args.rounds,
                             args.warmup)


def remove_versions(cluster: Cluster, points: list[int], args) -> dict[int, list[tuple[float, float]]]:
    """One package per point (``v<V>``, V versions of one wheel), all in one database, removed in turn."""
    with Service(cluster) as service:
        with psycopg.connect(service.dsn) as conn:
            for versions in points:
                fill_package(conn, f"v{versions}", versions, 1, 1)
        vacuum(service.dsn)
        service.start()
        return remove_rounds(service, {v: (f"v{v}", FLAT_FILES, FLAT_DOWNLOADS) for v in points}, args.rounds,
                             args.warmup)


def remove_downloads(cluster: Cluster, points: list[int], args) -> dict[int, list[tuple[float, float]]]:
    """One database whose downloads table is topped up from one level to the next, Mr Chase running all along."""
    samples = {}
    with Service(cluster) as service:
        with psycopg.connect(service.dsn) as conn:
            fill_package(conn, "bgpkg", 100, 10, 0)
            fill_package(conn, "benchpkg", 10, 1, 0)
        service.start()
        loaded = 0
        for level, rows in enumerate(points):
            started = time.monotonic()
            with psycopg.connect(service.dsn, autocommit=True) as conn:
                conn.execute(TOP_UP_DOWNLOADS, {"p": "bgpkg", "epoch": EPOCH, "first": loaded + 1, "last": rows})
            loaded = rows
            vacuum(service.dsn)
            print(f"  {rows:,} download rows loaded in {time.monotonic() - started:.1f} s", flush=True)
            samples.update(remove_rounds(service, {rows: ("benchpkg", FLAT_FILES, FLAT_DOWNLOADS)}, args.rounds,
                                         args.warmup, prefix=str(9 + level)))
    return samples


def make_big_package(cluster: Cluster, workdir: Path, size: Size) -> tuple[str, Path]:
    """bench_delete_package's repository, filled in bulk: the package's rows by generate_series, its wheels as
    files of one real wheel's bytes, its pages and alias links by the testbed's page writer (untimed)."""
    dsn = create_database(cluster)
    output = workdir / "www"
    if output.exists():
        shutil.rmtree(output)
    simple = output / "simple" / DELETED_PACKAGE
    simple.mkdir(parents=True)
    data = wheel_bytes(DELETED_PACKAGE, "1.0", "py3-none-any")
    with psycopg.connect(dsn) as conn:
        fill_package(conn, DELETED_PACKAGE, size.versions, size.files, DOWNLOADS_PER_WHEEL, ALIASES, len(data))
        conn.execute("INSERT INTO packages (package) SELECT 'other' || lpad(g::text, 6, '0') "
                     "FROM generate_series(0, %s - 1) g", (size.others,))
        conn.commit()
        for (filename,) in conn.execute("SELECT filename FROM files WHERE package_tag = %s", (DELETED_PACKAGE,)):
            (simple / filename).write_bytes(data)
        write_pages(conn, output, DELETED_PACKAGE)
        write_simple_index(conn, output)
    vacuum(dsn)
    os.sync()  # a package deleted today was written long ago, not a moment before
    return dsn, output


def delete_wheels(cluster: Cluster, points: list[int], args) -> dict[int, list[tuple[float, float]]]:
    """Each repeat deletes one fresh package of every size (sizes in rotating order)."""
    others = 100 if args.quick else 10_000
    samples: dict[int, list[tuple[float, float]]] = {n: [] for n in points}
    workdir = Path(tempfile.mkdtemp(prefix="piw-bench-scale-"))
    try:
        for r in range(args.repeats):
            for n in points[r % len(points):] + points[:r % len(points)]:
                size = Size(versions=max(1, n // WHEELS_PER_VERSION), files=min(n, WHEELS_PER_VERSION),
                            others=others)
                result = delete_once(cluster, workdir, size, make=make_big_package)
                samples[n].append((result["reply_s"], result["clean_s"]))
                print(f"  repeat {r + 1}: {size.wheels:,} wheels: DONE after {result['reply_s']:.3f} s, "
                      f"clean after {result['clean_s']:.3f} s", flush=True)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return samples


RUNNERS = {"remove_wheels": remove_wheels, "remove_versions": remove_versions, "remove_downloads": remove_downloads,
           "delete_wheels": delete_wheels}


def files_removed(curve: Curve, x: int) -> int:
    return x if curve.kind == "files" else FLAT_FILES


def curve_rows(curve: Curve, samples: dict[int, list[tuple[float, float]]], load: str) -> list[dict]:
    rows = []
    for x, pairs in samples.items():
        reply = statistics.median(p[0] for p in pairs) * 1000
        clean = statistics.median(p[1] for p in pairs) * 1000
        files = files_removed(curve, x)
        rows.append({"curve": curve.name, "x": x, "files_removed": files, "samples": len(pairs),
                     "reply_ms": round(reply, 3), "clean_ms": round(clean, 3),
                     "clean_ms_per_file": round(clean / files, 4), "load": load})
    return rows


def growth(curve: Curve, rows: list[dict], load: str) -> list[dict]:
    """The curve's growth ratios (module docstring) as run_all.py's summary items, the load next to them."""
    t = [r["clean_ms"] for r in rows]
    x = [r["x"] for r in rows]
    n = x if curve.kind == "page" else [r["files_removed"] for r in rows]
    unit = "page link" if curve.kind == "page" else "file"
    span = f"{x[0]:,} -> {x[-1]:,}"
    if curve.kind == "flat":
        items = [(f"{curve.name} {span}: clean t(top) / t(bottom)", t[-1] / t[0], TARGET)]
    else:
        marginal = (t[-1] - t[-2]) / (n[-1] - n[-2])
        items = [(f"{curve.name} {x[-2]:,} -> {x[-1]:,}: clean per added {unit} / per {unit} at {x[-2]:,}",
                  marginal / (t[-2] / n[-2]), TARGET),
                 (f"{curve.name} {span}: clean per {unit}, top / bottom", (t[-1] / n[-1]) / (t[0] / n[0]), None)]
        if curve.name == "remove_versions":
            items.append((f"{curve.name} {span}: clean t(top) / t(bottom)", t[-1] / t[0], None))
            if 1000 in x:
                items.append((f"{curve.name} 10 -> 1,000: clean t / t(bottom)", t[x.index(1000)] / t[0], None))
        if curve.name == "delete_wheels":
            items.append((f"{curve.name} {span}: reply t(top) / t(bottom)", rows[-1]["reply_ms"] / rows[0]["reply_ms"],
                          None))
    return [{"case": case, "ratio": round(ratio, 3), "target": target,
             **({"met": ratio <= target} if target is not None else {}), "load": load}
            for case, ratio, target in items]


def plot(curve: Curve, rows: list[dict], summary: list[dict], path: Path) -> None:
    series = {"until clean (median)": [r["clean_ms"] for r in rows],
              "until DONE (median)": [r["reply_ms"] for r in rows]}
    if curve.kind == "files":
        series["until clean, per removed file"] = [r["clean_ms_per_file"] for r in rows]
    note = "\n".join([*(f"{s['case']}: {s['ratio']:.3f}" + (f" (target <= {s['target']:g})" if s["target"] else "")
                        for s in summary), f"{rows[0]['samples']} samples per point; {rows[0]['load']}"])
    curve_plot(path, [r["x"] for r in rows], series, curve.xlabel, "milliseconds", curve.title, note)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small points, few rounds (smoke test)")
    parser.add_argument("--only", nargs="+", choices=list(CURVES), help="run only these curves")
    parser.add_argument("--rounds", type=int, default=None, help="timed REMOVE rounds per point (default 7)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed REMOVE rounds first (default 2)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="DELETEs per point, each on a fresh repository (default 2)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    args.rounds = args.rounds or (2 if args.quick else 7)
    args.warmup = args.warmup if args.warmup is not None else (0 if args.quick else 2)
    args.repeats = args.repeats or (1 if args.quick else 2)
    curves = [CURVES[name] for name in (args.only or CURVES)]
    cluster = Cluster()
    rows, summary = [], []
    try:
        for curve in curves:
            points = curve.quick if args.quick else curve.points
            before, started = machine_load(), time.monotonic()
            print(f"{curve.name}: {curve.xlabel} {', '.join(f'{p:,}' for p in points)} ({before})", flush=True)
            samples = RUNNERS[curve.name](cluster, points, args)
            load = f"before: {before}; after: {machine_load()}"
            print(f"  {curve.name} took {time.monotonic() - started:.0f} s", flush=True)
            measured = curve_rows(curve, samples, load)
            curve_summary = growth(curve, measured, load)
            plot(curve, measured, curve_summary, args.results / f"bench_scale_{curve.name}.png")
            rows.extend(measured)
            summary.extend(curve_summary)
    finally:
        cluster.close()
    print()
    print_table(rows, ["curve", "x", "files_removed", "samples", "reply_ms", "clean_ms", "clean_ms_per_file"])
    for item in summary:
        target = f" (target <= {item['target']:g}: {'met' if item['met'] else 'MISSED'})" if item["target"] else ""
        print(f"{item['case']}: {item['ratio']:.3f}{target}")
    print(f"(medians; clean = until Mr Chase's work for the request is over; {machine_load()})")
    write_csv(args.results / "bench_scale.csv", rows)
    write_summary(args.results / "bench_scale.json", summary)
    return 0 if all(item.get("met", True) for item in summary) else 1


if __name__ == "__main__":
    sys.exit(main())
