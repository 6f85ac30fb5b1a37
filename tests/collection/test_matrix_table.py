"""README.md's "Tested with" table is the newest run that `make matrix` recorded, commit and version included."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools/matrix_table.py"
RUN = {
    "date": "2026-12-06",
    "commit": "0123456789ab",
    "collection_version": "0.3.0",
    "python": "3.11",
    "target_python": "3.8",
    "results": {"2.19.14": {"sanity": {"passed": True, "detail": "24 tests passed"},
                            "units": {"passed": False, "detail": "1 failed, 194 passed"}}},
}


def matrix_table(*args: str | Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, TOOL, *map(str, args)], capture_output=True, text=True)


def test_readme_table_is_the_records_newest_run():
    result = matrix_table("--check")
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_that_disagrees_with_the_record_fails_the_check_until_written(tmp_path):
    record = tmp_path / "matrix.json"
    record.write_text(json.dumps({"runs": [dict(RUN, commit="older"), RUN]}))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n<!-- matrix:begin -->\n`make matrix` on 2026-11-27: 122 passed\n"
                      "<!-- matrix:end -->\nafter\n")

    stale = matrix_table("--check", "--record", record, "--readme", readme)
    assert stale.returncode == 1 and "not the newest run" in stale.stdout

    assert matrix_table("--record", record, "--readme", readme).returncode == 0
    text = readme.read_text()
    assert "commit `0123456789ab`, piwheels.ops 0.3.0" in text and "older" not in text
    assert "| 2.19.14 | pass (24 tests passed) | FAIL (1 failed, 194 passed) | not run |" in text
    assert text.startswith("# x\n") and text.endswith("<!-- matrix:end -->\nafter\n")
    assert matrix_table("--check", "--record", record, "--readme", readme).returncode == 0
