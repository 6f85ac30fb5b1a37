"""bench_delete_package.py works end to end at a tiny size: a real DELETE, the REMOVE comparison, its results.

The timings themselves are not asserted (a shared machine); the script's own
end-state checks (no row, no directory, no alias symlink, the root index
without the package, the master told REBUILD SEARCH and never REMPKG) run on
every repeat, so a pass here means they held.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_quick_run_deletes_the_package_and_writes_its_results(tmp_path):
    proc = subprocess.run(
        [sys.executable, "benchmarks/bench_delete_package.py", "--quick", "--versions", "6", "--files", "3",
         "--others", "20", "--results", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=240)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: the target missed, not a failure
    with open(tmp_path / "bench_delete_package.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["operation"] for row in rows] == ["DELETE", "REMOVE each version"]
    assert rows[0]["wheels"] == "18" and rows[1]["requests"] == "6"
    assert all(float(row["clean_s"]) >= float(row["reply_s"]) > 0 for row in rows)
    summary = json.loads((tmp_path / "bench_delete_package.json").read_text())
    assert summary[0]["target"] == 1.0 and isinstance(summary[0]["ratio"], float)
    assert summary[1]["target"] is None
    assert (tmp_path / "bench_delete_package.png").read_bytes()[:4] == b"\x89PNG"
