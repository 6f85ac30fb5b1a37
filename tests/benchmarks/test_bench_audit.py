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
        "audit / floor, 1,000 packages", "audit / floor with the pages read (reported)",
        "peak RSS growth during the audit / 200 MB",
        "REMOVE during the audit / idle (medians)", "sha256sum / audit hashing throughput"]
    assert all(math.isfinite(item["ratio"]) for item in summary), summary
    with open(tmp_path / "bench_audit.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert int(row["packages"]) == 1000 and int(row["removes_during"]) > 0
