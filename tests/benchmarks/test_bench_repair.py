"""bench_repair.py works end to end at a tiny size: real repairs of every finding, the site whole, its results.

The timings are not asserted (a shared machine); the script asserts itself
that every finding was repaired once, none twice, and that the site is whole
afterwards, so a pass here means those held.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_repairs_every_finding_and_writes_its_results(tmp_path):
    proc = subprocess.run([sys.executable, "benchmarks/bench_repair.py", "--packages", "5", "--results", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(tmp_path / "bench_repair.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [(row["pass"], row["findings"]) for row in rows] == [("repair", "50"), ("recheck", "50")]
    assert all(float(row["ms_per_finding"]) > 0 for row in rows)
    summary = json.loads((tmp_path / "bench_repair.json").read_text())
    assert [item["target"] for item in summary] == [None, None]
    assert all(isinstance(item["ratio"], float) for item in summary)
