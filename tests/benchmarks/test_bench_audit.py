"""bench_audit.py works: ``run_all.py --quick --only bench_audit`` runs it on a 1,000-package site (a real
PostgreSQL, a real Mr Chase) with its results in a temporary directory, and leaves every ratio as a number.
Nothing here looks at how big a ratio is: timings on a shared machine are not something a test can assert."""

from __future__ import annotations

import csv
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_audit_quick_runs_to_the_end_and_leaves_its_ratios(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--quick", "--only", "bench_audit", "--results", str(tmp_path),
         "--budget", "280"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]  # 1: a target missed (timing)
    assert "bench_audit: ok" in proc.stdout, proc.stdout[-3000:]
    summary = json.loads((tmp_path / "bench_audit.json").read_text())
    assert [item["case"] for item in summary] == [
        "audit / floor, 1,000 packages", "audit / floor with the pages read, 1,000 packages (reported)",
        "reading the pages alone / floor, 1,000 packages (reported: the least a page check adds)",
        "peak RSS growth during the audit / 200 MB",
        "REMOVE during the audit / idle (medians)", "sha256sum / audit hashing throughput"]
    assert [item["target"] for item in summary] == [2.0, None, None, 1.0, 2.0, 1.25]
    assert all(math.isfinite(item["ratio"]) for item in summary), summary
    with open(tmp_path / "bench_audit.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert int(row["packages"]) == 1000 and int(row["removes_during"]) > 0


def test_the_scale_curve_holds_only_the_largest_site_to_the_targets():
    """Several scales (the default 0.01 0.1 1): the smaller sites' ratios are reported, the targets are the
    largest site's."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    import bench_audit

    ratios = {"audit": 3.0, "pages": 1.5, "pages_only": 0.5, "rss": 0.2, "remove": 1.1, "removes_during": 7,
              "hashing": 0.2}
    smaller = bench_audit.summary_items(1000, ratios, "load", largest=False)
    assert [(item["case"], item["target"]) for item in smaller] == [
        ("audit / floor, 1,000 packages", None), ("audit / floor with the pages read, 1,000 packages (reported)", None)]
    largest = bench_audit.summary_items(100_000, ratios, "load", largest=True)
    assert [item["target"] for item in largest] == [2.0, None, None, 1.0, 2.0, 1.25]
    assert largest[0]["case"] == "audit / floor, 100,000 packages"
