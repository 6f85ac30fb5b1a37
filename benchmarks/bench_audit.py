"""Issue 22: a whole-site audit of 100,000 packages and 1,000,000 wheels, against the floor of reading it at all.

The site (untimed, on a fresh database of a private pgserver or PIW_TEST_DSN's
server): P packages (``pkg000000`` ...) of 2 versions, one build each, 5 wheel
files per build (10 P files; files of a few bytes: their own name, so the
database's ``filehash`` is computed in SQL), every 10th package with an alias
in ``package_names`` and its ``project/<alias>`` link; the simple pages and
root index written by Mr Chase's own page writer, the project page and JSON as
the testbed's stand-in piw-master writes them.  Rows are made by
``INSERT ... SELECT FROM generate_series``; files by plain ``os.write``.  Then
damage of every kind the scan finds is injected (a few of each).

Measured, with a real Mr Chase (``python -m mr_chase``, its own least-privilege
role), ``min_age`` 0 (everything here was written seconds ago):

* ``audit``: from ``["AUDIT", {packages: null, repair: [], ...}]`` until JOB
  says ``done``, every finding paged in (checked: exactly the injected damage);
  the best of ROUNDS audits, each round measuring the floors below and then
  the audit, as the floors are the best of theirs;
* ``floor``, in this process: one streaming read (server-side cursors) of the
  ``packages``, ``files`` (with their build's package) and ``package_names``
  rows, and an ``os.scandir`` walk of ``simple/`` and ``project/`` (into each
  package directory), compared as sets: the least any audit must do.
  Target: audit <= 2x floor.  Reported too: the same floor that also reads
  each package's three pages (simple page, project page, JSON), which an
  audit of the pages cannot leave out, and reading those pages alone
  against the floor (what finding stale_page adds to it at the least);
* Mr Chase's peak RSS during the audit (``VmHWM`` after it, ``/proc/<pid>/status``)
  less its RSS idle before it (``VmRSS``), plus the peak RSS (``VmHWM``) of
  every process it started for the audit (its ``audit_workers``, sampled as
  the job is followed): target <= 200 MB;
* a REMOVE during the audit: median reply time of REMOVEs sent while the job
  scans, against the median of the same REMOVEs idle before it; target <= 2x;
* hashing: ``verify_hashes`` over H packages of 10 wheels of 64 KiB (an audit
  of those packages with it, less one without), throughput against
  ``sha256sum`` over the same files (``xargs -0 sha256sum``); target >= 0.8x,
  reported as sha256sum / audit (<= 1.25).

    .venv/bin/python benchmarks/bench_audit.py [--quick] [--scale 0.01 0.1 1] [--results DIR]

``--scale`` multiplies the packages (1: 100,000 packages, 1,000,000 files);
each scale makes a site of its own, smallest first, one CSV row each (the
scale curve; default 0.01 0.1 1): the targets are the largest's, the smaller
ones' ratios are reported.  ``--quick`` is the smoke test (1,000 packages).  The ``load``
of each row is the machine's as its audit started.  Writes
``<results>/bench_audit.csv`` and ``bench_audit.json`` (run_all.py's summary).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import psycopg  # noqa: E402
from common import RESULTS, machine_load, print_table, start_chase, write_csv, write_summary  # noqa: E402
from mr_chase.page import PageFile, index_pieces, render_page  # noqa: E402

from piwheels_testbed import Cluster, create_database, drop_database  # noqa: E402
from piwheels_testbed.scribe import project_json, project_page  # noqa: E402

VERSIONS, FILES = 2, 5
HASH_PACKAGES, HASH_FILE_BYTES = 200, 64 * 1024
REMOVES = 7
#: rounds of the floors and the audit (the REMOVEs are sent during the first round's audit)
ROUNDS = 2
MB = 1 << 20

FILL = """
INSERT INTO packages (package) SELECT format('pkg%%s', lpad(n::text, 6, '0')) FROM generate_series(0, %(p)s - 1) n;
INSERT INTO versions (package, version, released)
    SELECT package, '1.' || v, '2020-01-01' FROM packages, generate_series(0, %(v)s - 1) v;
INSERT INTO builds (package, version, built_by, built_at, duration, abi_tag)
    SELECT package, version, 1, '2020-01-01', '1 minute', 'cp311' FROM versions;
INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, py_version_tag,
                   abi_tag, platform_tag)
    SELECT name, build_id, octet_length(name), encode(sha256(convert_to(name, 'UTF8')), 'hex'), package, version,
           'cp3' || f, 'cp3' || f, 'linux_armv7l'
    FROM builds, generate_series(0, %(f)s - 1) f,
         LATERAL (SELECT format('%%s-%%s-cp3%%s-cp3%%s-linux_armv7l.whl', package, version, f, f) AS name) n;
INSERT INTO package_names (package, name) SELECT package, package FROM packages;
INSERT INTO package_names (package, name)
    SELECT package, upper(package) || '_Old' FROM packages WHERE right(package, 1) = '0';
"""


def make_site(dsn: str, output: Path, packages: int) -> None:
    with psycopg.connect(dsn) as conn:
        for statement in filter(str.strip, FILL.split(";")):
            conn.execute(statement, {"p": packages, "v": VERSIONS, "f": FILES} if "%(" in statement else None)
        conn.execute("ANALYZE")
    simple, project = output / "simple", output / "project"
    simple.mkdir(parents=True)
    project.mkdir()
    with psycopg.connect(dsn) as conn, conn.cursor(name="site") as cursor:
        cursor.itersize = 20_000
        rows: list[PageFile] = []
        package = None
        for row in cursor.execute("SELECT b.package, f.filename, rtrim(f.filehash), f.requires_python, false, "
                                  "b.version, f.location FROM builds b JOIN files f USING (build_id) "
                                  "ORDER BY b.package"):
            if row[0] != package and package is not None:
                write_package(output, package, rows)
                rows = []
            package = row[0]
            rows.append(PageFile(*row[1:]))
        write_package(output, package, rows)
        aliases = conn.execute("SELECT package, name FROM package_names WHERE name <> package").fetchall()
        names = [row[0] for row in conn.execute("SELECT package FROM packages ORDER BY package")]
    for package, alias in aliases:
        (project / alias).symlink_to(package)
    (simple / "index.html").write_text("".join(index_pieces(names)))


def write_package(output: Path, package: str, rows: list[PageFile]) -> None:
    directory = output / "simple" / package
    directory.mkdir()
    for row in rows:
        fd = os.open(directory / row.filename, os.O_WRONLY | os.O_CREAT, 0o644)
        os.write(fd, row.filename.encode())
        os.close(fd)
    (directory / "index.html").write_text(render_page(package, rows))
    data = project_json(package, sorted({row.version for row in rows}),
                        [(r.version, r.filename, r.filehash, None, False, r.location) for r in rows])
    (output / "project" / package / "json").mkdir(parents=True)
    (output / "project" / package / "json" / "index.json").write_text(json.dumps(data))
    (output / "project" / package / "index.html").write_text(project_page(package, data))


def damage(dsn: str, output: Path) -> dict[str, int]:
    """A few findings of every kind (hash_mismatch: found by the verify_hashes audit); the counts expected."""
    simple, project = output / "simple", output / "project"
    with psycopg.connect(dsn) as conn:
        conn.execute("DELETE FROM versions WHERE package IN ('pkg000001', 'pkg000002') AND version = '1.1'")
        conn.execute("UPDATE versions SET yanked = true WHERE package = 'pkg000003' AND version = '1.0'")
    for package in ("pkg000001", "pkg000002"):  # upstream piw-remove: rows gone, page and project rewritten
        rows = [r for r in _rows(dsn, package)]
        (simple / package / "index.html").write_text(render_page(package, rows))
        data = project_json(package, ["1.0"], [(r.version, r.filename, r.filehash, None, False, r.location)
                                               for r in rows])
        (project / package / "json" / "index.json").write_text(json.dumps(data))
        (project / package / "index.html").write_text(project_page(package, data))
    (simple / "pkg000004" / "pkg000004-1.0-cp30-cp30-linux_armv7l.whl").unlink()
    (simple / "pkg000005" / "index.html").unlink()
    (simple / "ghost" / "deep").mkdir(parents=True)
    (project / "PKG000010_Old").unlink()
    (project / "PKG000010_Old").symlink_to("pkg000011")
    (project / "PKG000020_Old").unlink()
    index = (simple / "index.html").read_text()
    (simple / "index.html").write_text(index.replace('<a href="pkg000006">pkg000006</a>\n', ""))
    data = json.loads((project / "pkg000007" / "json" / "index.json").read_text())
    data["releases"]["0.9"] = {"files": {}}
    (project / "pkg000007" / "json" / "index.json").write_text(json.dumps(data))
    (simple / "pkg000008" / "README").write_text("x")
    (output / ".mr-chase" / "staging" / ("d" * 32)).mkdir(parents=True)
    return {"orphan_wheel": 2 * FILES, "missing_wheel": 1, "hash_mismatch": 0, "stale_page": 1, "missing_page": 1,
            "orphan_directory": 1, "broken_alias": 1, "missing_alias": 1, "stale_root_index": 1,
            "stale_project_page": 1, "foreign_file": 1, "leftover_staging": 1,
            "orphan_archived_wheel": 0, "missing_archived_wheel": 0}  # no archive listing: bench_audit has none


def _rows(dsn: str, package: str) -> list[PageFile]:
    with psycopg.connect(dsn) as conn:
        return [PageFile(*row) for row in conn.execute(
            "SELECT f.filename, rtrim(f.filehash), f.requires_python, v.yanked, b.version, f.location "
            "FROM builds b JOIN files f USING (build_id) JOIN versions v USING (package, version) "
            "WHERE b.package = %s", (package,))]


def floor(dsn: str, output: Path, pages: bool = False) -> float:
    """The least an audit must do: read the rows once, walk the tree once, compare as sets; with ``pages``, also
    read the three pages of each package (simple page, project page, JSON), which the issue's floor leaves out
    but no audit of the pages can."""
    started = time.perf_counter()
    with psycopg.connect(dsn) as conn, conn.transaction():
        names = set()
        for query in ("SELECT package FROM packages", "SELECT name FROM package_names"):
            with conn.cursor(name="floor") as cursor:
                cursor.itersize = 20_000
                names.update(row[0] for row in cursor.execute(query))
        with conn.cursor(name="floor_files") as cursor:
            cursor.itersize = 20_000
            files = {(row[0], row[1]) for row in cursor.execute(
                "SELECT b.package, f.filename FROM files f JOIN builds b USING (build_id)")}
    on_disk, directories = set(), set()
    for top in ("simple", "project"):
        with os.scandir(output / top) as listing:
            for entry in listing:
                directories.add(entry.name)
                if top == "simple" and entry.is_dir(follow_symlinks=False):
                    with os.scandir(entry.path) as inner:
                        on_disk.update((entry.name, item.name) for item in inner)
                    if pages:
                        for page in (f"{entry.path}/index.html", f"{output}/project/{entry.name}/index.html",
                                     f"{output}/project/{entry.name}/json/index.json"):
                            with contextlib.suppress(OSError), open(page, "rb") as stream:
                                stream.read()
    differences = len(files - on_disk) + len(on_disk - files) + len(directories - names)
    seconds = time.perf_counter() - started
    print(f"  floor{' with the pages read' if pages else ''}: {seconds:.2f} s ({len(files):,} file rows, "
          f"{len(on_disk):,} entries, {differences} differ)")
    return seconds


def read_pages(output: Path) -> float:
    """Reading the three pages of every package alone (simple page, project page, JSON; no walk, no rows), each
    with the fewest system calls (the floor with the pages reads them through Python's file objects, which cost
    more): what any audit that finds stale_page and stale_project_page adds to the issue's floor at the least."""
    started = time.perf_counter()
    with os.scandir(output / "simple") as listing:
        names = [entry.name for entry in listing if entry.is_dir(follow_symlinks=False)]
    for name in names:
        for page in (f"{output}/simple/{name}/index.html", f"{output}/project/{name}/index.html",
                     f"{output}/project/{name}/json/index.json"):
            with contextlib.suppress(OSError):  # the least a read costs: open, fstat, read, close
                fd = os.open(page, os.O_RDONLY)
                try:
                    os.read(fd, os.fstat(fd).st_size + 1)
                finally:
                    os.close(fd)
    seconds = time.perf_counter() - started
    print(f"  the pages alone: {seconds:.2f} s ({3 * len(names):,} pages)")
    return seconds


def rss_kb(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/{pid}/status")


def children_hwm_kb(pid: int, peaks: dict[int, int]) -> None:
    """Record in ``peaks`` the VmHWM of every process below ``pid`` (the audit's workers and what they start)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            for child in map(int, (task / "children").read_text().split()):
                with contextlib.suppress(OSError, RuntimeError):
                    peaks[child] = max(peaks.get(child, 0), rss_kb(child, "VmHWM"))
                children_hwm_kb(child, peaks)


def timed_remove(client, package: str, version: str) -> float:
    started = time.perf_counter()
    reply = client("REMOVE", package, version, False)
    assert reply == ["DONE"], reply
    return time.perf_counter() - started


def run_audit(client, during=None, **chosen) -> tuple[float, dict, list[dict]]:
    """An audit to its end; ``during(job)`` is called while it scans (REMOVEs). Returns (seconds, job, findings)."""
    options = {"packages": None, "repair": [], "verify_hashes": False, "min_age": 0, "archives": [], **chosen}
    started = time.perf_counter()
    job = client("AUDIT", options)[1]
    found, offset = list(job["findings"]), len(job["findings"])
    while job["next"] is not None:
        if during is not None and job["state"] == "scanning":
            during(job)
        reply = client("JOB", job["id"], offset)
        assert reply[0] == "JOB", reply
        job = reply[1]
        found += job["findings"]
        offset = job["next"] if job["next"] is not None else offset
        if job["next"] is not None and not job["findings"]:
            time.sleep(0.05)
    assert job["state"] == "done", job
    return time.perf_counter() - started, job, found


def hashing(client, output: Path) -> tuple[float, float, int]:
    """(audit seconds spent hashing, sha256sum seconds, bytes) over the HASH_PACKAGES packages' wheels, each
    rewritten to HASH_FILE_BYTES (and its row's hash with it: no mismatch)."""
    packages = [f"pkg{n:06d}" for n in range(100, 100 + HASH_PACKAGES)]
    paths = [entry.path for package in packages for entry in os.scandir(output / "simple" / package)
             if entry.name.endswith(".whl")]
    for path in paths:
        Path(path).write_bytes(os.path.basename(path).encode().ljust(HASH_FILE_BYTES, b"."))
    with psycopg.connect(client.dsn) as conn:
        conn.execute("UPDATE files SET filehash = encode(sha256(convert_to(rpad(filename, %s, '.'), 'UTF8')), 'hex'),"
                     " filesize = %s FROM builds b WHERE b.build_id = files.build_id AND b.package = ANY(%s)",
                     (HASH_FILE_BYTES, HASH_FILE_BYTES, packages))
    for package in packages:  # piw-master's page for the new hashes
        (output / "simple" / package / "index.html").write_text(render_page(package, _rows(client.dsn, package)))
    os.sync()
    subprocess.run(["cat", *paths[:1]], stdout=subprocess.DEVNULL, check=True)
    plain, _job, _found = run_audit(client, packages=packages)
    verified, job, found = run_audit(client, packages=packages, verify_hashes=True)
    assert not found, found[:3]
    started = time.perf_counter()
    listing = b"\0".join(path.encode() for path in paths)
    subprocess.run(["xargs", "-0", "sha256sum"], input=listing, stdout=subprocess.DEVNULL, check=True)
    sha256sum = time.perf_counter() - started
    return max(verified - plain, 1e-6), sha256sum, job["scanned"]["bytes_hashed"]


def measure(packages: int) -> tuple[dict, dict[str, float]]:
    """One scale: make the site, measure; (the CSV row, the ratios for the summary)."""
    cluster = Cluster()
    workdir = Path(tempfile.mkdtemp(prefix="mca-", dir="/tmp"))
    output = workdir / "www"
    dsn = create_database(cluster)
    chase = None
    try:
        started = time.monotonic()
        make_site(dsn, output, packages)
        with psycopg.connect(dsn) as conn:  # what the REMOVEs remove: a package of its own
            conn.execute("INSERT INTO packages (package) VALUES ('zzremove')")
            conn.execute("INSERT INTO versions (package, version) SELECT 'zzremove', '0.' || n "
                         "FROM generate_series(1, %s) n", (2 * REMOVES,))
        expected = damage(dsn, output)
        os.sync()
        made_s = time.monotonic() - started
        print(f"site of {packages:,} packages, {packages * VERSIONS * FILES:,} wheels made in {made_s:.0f} s "
              f"({machine_load()})", flush=True)
        chase = start_chase(dsn, output, workdir, log_level="info")
        chase.client.timeout = 120
        chase.client.dsn = dsn
        pid = chase.proc.pid
        idle_rss = rss_kb(pid, "VmRSS")
        idle = [timed_remove(chase.client, "zzremove", f"0.{n}") for n in range(1, REMOVES + 1)]
        during: list[float] = []

        workers_hwm: dict[int, int] = {}

        def remove_while_scanning(job):
            children_hwm_kb(pid, workers_hwm)
            if len(during) < REMOVES and job["progress"]["packages_done"] >= len(during) * packages / (REMOVES + 2):
                during.append(timed_remove(chase.client, "zzremove", f"0.{REMOVES + len(during) + 1}"))

        load = machine_load()  # the load the first audit starts under (the json's load field)
        floors, audits = [], []
        for round_ in range(ROUNDS):  # each measure once a round, interleaved: a load that comes and goes on a
            # shared machine weighs on all of them alike; each is the best of its rounds
            floors.append((floor(dsn, output), floor(dsn, output, pages=True), read_pages(output)))
            seconds, job, found = run_audit(chase.client, during=remove_while_scanning if round_ == 0 else None)
            audits.append(seconds)
            if round_ == 0:
                peak_rss = rss_kb(pid, "VmHWM")
            got = {kind: count for kind, count in job["counts"].items()}
            assert got == expected, f"the audit found {got}, the damage was {expected}"
            assert len(found) == sum(expected.values())
        floor_s, pages_s, pages_only_s = (min(times) for times in zip(*floors, strict=True))
        audit_s = min(audits)
        hash_s, sha256sum_s, hashed = hashing(chase.client, output)
    finally:
        if chase is not None:
            chase.stop()
        drop_database(cluster, dsn)
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    workers_mb = sum(workers_hwm.values()) / 1024
    rss_mb = (peak_rss - idle_rss) / 1024 + workers_mb
    remove_ratio = statistics.median(during) / statistics.median(idle) if during else float("nan")
    audit_mb_s, sha_mb_s = hashed / MB / hash_s, hashed / MB / sha256sum_s
    row = {"packages": packages, "files": job["scanned"]["files"], "made_s": round(made_s),
           "audit_s": round(audit_s, 3), "audit_with_removes_s": round(audits[0], 3), "floor_s": round(floor_s, 3),
           "audit_over_floor": round(audit_s / floor_s, 3),
           "floor_pages_s": round(pages_s, 3), "audit_over_floor_pages": round(audit_s / pages_s, 3),
           "pages_only_s": round(pages_only_s, 3), "pages_only_over_floor": round(pages_only_s / floor_s, 3),
           "idle_rss_mb": round(idle_rss / 1024, 1), "peak_rss_mb": round(peak_rss / 1024, 1),
           "processes_started": len(workers_hwm), "their_peak_rss_mb": round(workers_mb, 1),
           "rss_growth_mb": round(rss_mb, 1), "remove_idle_ms": round(statistics.median(idle) * 1000, 2),
           "remove_during_ms": round(statistics.median(during) * 1000, 2) if during else None,
           "removes_during": len(during), "hashed_mb": round(hashed / MB, 1), "audit_hash_mb_s": round(audit_mb_s, 1),
           "sha256sum_mb_s": round(sha_mb_s, 1), "load": load}
    ratios = {"audit": audit_s / floor_s, "pages": audit_s / pages_s, "pages_only": pages_only_s / floor_s,
              "rss": rss_mb / 200, "remove": remove_ratio, "removes_during": len(during),
              "hashing": sha_mb_s / audit_mb_s}
    return row, ratios


def summary_items(packages: int, ratios: dict[str, float], load: str, largest: bool) -> list[dict]:
    """run_all's rows of one scale: the targets at the largest scale, the audit's ratios alone (reported) at the
    smaller ones (the scale curve)."""
    scale = f"{packages:,} packages"
    items = [
        {"case": f"audit / floor, {scale}", "ratio": ratios["audit"], "target": 2.0 if largest else None,
         "load": load},
        {"case": f"audit / floor with the pages read, {scale} (reported)", "ratio": ratios["pages"], "target": None,
         "load": load},
    ]
    if not largest:
        return items
    return items + [
        {"case": f"reading the pages alone / floor, {scale} (reported: the least a page check adds)",
         "ratio": ratios["pages_only"], "target": None, "load": load},
        {"case": "peak RSS growth during the audit / 200 MB", "ratio": ratios["rss"], "target": 1.0, "load": load},
        {"case": "REMOVE during the audit / idle (medians)", "ratio": ratios["remove"], "target": 2.0,
         "met": bool(ratios["removes_during"]) and ratios["remove"] <= 2.0, "load": load},
        {"case": "sha256sum / audit hashing throughput", "ratio": ratios["hashing"], "target": 1.25, "load": load},
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="1,000 packages: the smoke test")
    parser.add_argument("--scale", type=float, nargs="+", default=[0.01, 0.1, 1.0],
                        help="fractions of 100,000 packages, each a site of its own (default 0.01 0.1 1: the scale "
                             "curve up to the issue's size)")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [1000] if args.quick else sorted(int(100_000 * scale) for scale in args.scale)
    rows, summary = [], []
    for packages in sizes:
        row, ratios = measure(packages)
        rows.append(row)
        summary += summary_items(packages, ratios, row["load"], largest=packages == sizes[-1])
        print_table([row], [key for key in row if key != "load"])
        print(f"({row['load']})", flush=True)
    write_csv(args.results / "bench_audit.csv", rows)
    write_summary(args.results / "bench_audit.json", summary)
    met = all(item.get("met", item["ratio"] <= item["target"]) for item in summary if item["target"] is not None)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
