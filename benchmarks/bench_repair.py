"""Issue 22: repairing 10,000 findings across 1,000 packages, time per finding.

One fresh database and tree (piwheels_testbed, untimed): 1,000 packages of
5 versions, one build of 2 real wheels each, an alias per package with its
``project/`` link.  Each package is then damaged by hand with 10 findings
(5 orphan wheels, 2 foreign files, a wheel deleted from disk, a page that
lost a link, an alias without its link), and the findings are built as the
audit contract says the scanner reports them.  Then Service.repair (the
repair the audit job hands each package's findings to, in-process: the job
that calls it is helper scan's) is called once per package, connected as
Mr Chase's own least-privilege role:

* ``repair``: the 1,000 repairs (each re-checks its findings under the
  package's lock, removes the missing wheel's build, moves the orphans
  aside, rewrites the page, links the alias, all through the journal, and
  audits it): milliseconds per finding and per package;
* ``recheck``: the same findings handed over again, all of them repaired
  already: the cost of the re-checks alone (each comes back "no longer
  found").

Afterwards the site is checked whole (every page link has its file and row,
no wheel without a row, every alias linked).  The figures are reported, not
held to a target (issue 22 asks for the time per finding).  Writes
``<results>/bench_repair.csv`` and ``.json`` (run_all.py's summary).

    .venv/bin/python benchmarks/bench_repair.py [--quick] [--packages 1000] [--results DIR]

Uses PIW_TEST_DSN's server when set, otherwise starts a private pgserver.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import RESULTS, ROOT, machine_load, print_table, write_csv, write_summary  # noqa: E402

sys.path.insert(0, str(ROOT / "tests" / "audit"))
from mr_chase.config import parse_config  # noqa: E402
from mr_chase.findings import Finding  # noqa: E402
from mr_chase.service import Service  # noqa: E402
from repair_helpers import age_site, site_problems  # noqa: E402

from piwheels_testbed import (  # noqa: E402
    SERVICE_ROLE,
    Cluster,
    RepositorySpec,
    build_repository,
    create_database,
    drop_database,
    role_dsn,
)

FINDINGS_PER_PACKAGE = 10
MIN_AGE = 600.0


class Site:
    """What repair_helpers' checks need of a repository."""

    def __init__(self, dsn: str, output: Path, manifest):
        self.dsn, self.output_path, self.manifest = dsn, output, manifest
        self.simple = output / "simple"


def alias_of(package: str) -> str:
    return package.upper() + "_Old"


def damage(site: Site, package: str) -> list[Finding]:
    """Ten findings in one package: 5 orphan wheels, 2 foreign files, a missing wheel, a stale page, a missing alias."""
    directory = site.simple / package
    found = []
    for i in range(5):
        name = f"{package}-9.{i}-py3-none-any.whl"
        (directory / name).write_bytes(b"orphan")
        found.append(Finding("orphan_wheel", package, f"simple/{package}/{name}", "no files row"))
    for i in range(2):
        (directory / f"notes{i}.txt").write_text("by hand")
        found.append(Finding("foreign_file", package, f"simple/{package}/notes{i}.txt", "not a wheel"))
    missing = site.manifest.files(package, "1.0")[0]
    (directory / missing).unlink()
    found.append(Finding("missing_wheel", package, f"simple/{package}/{missing}", "no wheel"))
    page = directory / "index.html"
    text = page.read_text()
    first = text.index("<a href=")
    page.write_text(text[:first] + text[text.index("<br>", first) + 4:])
    found.append(Finding("stale_page", package, f"simple/{package}/index.html", "a link too few"))
    (site.output_path / "project" / alias_of(package)).unlink()
    found.append(Finding("missing_alias", package, f"project/{alias_of(package)}", "no link"))
    return found


def make_site(cluster: Cluster, workdir: Path, packages: int) -> tuple[Site, dict[str, list[Finding]]]:
    dsn = create_database(cluster)
    spec = RepositorySpec(packages=packages, versions=5, builds=1, files=2, downloads=2, names=(), yank_one=False,
                          aliases={f"pkg{i:06d}": (alias_of(f"pkg{i:06d}"),) for i in range(packages)})
    output = workdir / "www"
    site = Site(dsn, output, build_repository(dsn, output, spec))
    findings = {package: damage(site, package) for package in site.manifest.packages}
    age_site(site)
    return site, findings


def repair_all(service: Service, findings: dict[str, list[Finding]]) -> tuple[float, int]:
    """Seconds for one Service.repair per package, and how many findings came back repaired."""
    repaired = 0
    started = time.perf_counter()
    for package, found in findings.items():
        repaired += sum(finding.repaired for finding in service.repair(package, found, MIN_AGE))
    return time.perf_counter() - started, repaired


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20 packages (smoke test)")
    parser.add_argument("--packages", type=int, default=None)
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    packages = args.packages or (20 if args.quick else 1000)
    workdir = Path(tempfile.mkdtemp(prefix="piw-bench-rep-"))
    cluster = Cluster(workdir / "pgdata")
    try:
        site, findings = make_site(cluster, workdir, packages)
        total = sum(len(found) for found in findings.values())
        config = {"dsn": role_dsn(site.dsn, SERVICE_ROLE), "output_path": str(site.output_path),
                  "import_queue": f"ipc://{workdir}/q", "audit_log": str(workdir / "audit.jsonl"), "log_level": "info"}
        service = Service(parse_config(config))
        service.recover()
        repair_s, repaired = repair_all(service, findings)
        recheck_s, again = repair_all(service, findings)
        service.db.close()
        problems = site_problems(site)
        assert repaired == total and again == 0, f"{repaired} of {total} repaired, {again} repaired again"
        assert problems == [], problems[:5]
        drop_database(cluster, site.dsn)
    finally:
        cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)
    rows = [{"pass": name, "packages": packages, "findings": total, "seconds": round(seconds, 3),
             "ms_per_finding": round(seconds * 1000 / total, 3), "ms_per_package": round(seconds * 1000 / packages, 3)}
            for name, seconds in (("repair", repair_s), ("recheck", recheck_s))]
    print()
    print_table(rows, list(rows[0]))
    print(f"({machine_load()})")
    args.results.mkdir(parents=True, exist_ok=True)
    write_csv(args.results / "bench_repair.csv", rows)
    summary = [{"case": f"repair {total:,} findings across {packages:,} packages: ms per finding",
                "ratio": rows[0]["ms_per_finding"], "target": None, "load": machine_load()},
               {"case": "re-check only (every finding already repaired): ms per finding",
                "ratio": rows[1]["ms_per_finding"], "target": None, "load": machine_load()}]
    write_summary(args.results / "bench_repair.json", summary)
    print(json.dumps({"rows": rows, "summary": summary}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
