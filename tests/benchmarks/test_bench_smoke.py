"""The benchmark scripts work: they run, and leave results with numeric ratios.

Nothing here looks at how big a ratio is: timings on a shared machine are not
something a test can assert.  ``run_all.py --quick --only bench_ansible``
runs ``bench_ansible.py --quick`` (a real PostgreSQL, a real Mr Chase and
real ansible-playbook runs) with its results in a temporary directory, so the
committed results under benchmarks/results are left alone.
"""

from __future__ import annotations

import csv
import json
import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import run_all  # noqa: E402


def numeric(value: str) -> bool:
    try:
        return math.isfinite(float(value))
    except ValueError:
        return False


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    results = tmp_path_factory.mktemp("bench-results")
    proc = subprocess.run(
        [sys.executable, "benchmarks/run_all.py", "--quick", "--only", "bench_ansible", "--results", str(results),
         "--budget", "150"],
        cwd=ROOT, capture_output=True, text=True, timeout=170,
    )
    return proc, results


def test_run_all_quick_runs_the_script_to_the_end(quick_run):
    """0: targets met, 1: a target missed (timing, not the script's fault); 2 would mean it failed."""
    proc, _ = quick_run
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-2000:]
    assert "bench_ansible: ok" in proc.stdout


def test_bench_ansible_csv_has_every_ratio_as_a_number(quick_run):
    _, results = quick_run
    with open(results / "bench_ansible.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    ratios = {row["ratio_of"]: row["ratio"] for row in rows if row["ratio_of"]}
    assert set(ratios) == {"remove_1 / ping", "noop_1 / ping", "remove_10 / remove_1", "noop_10 / noop_1",
                           "loop_10 / remove_10", "client_10 / client_1"}
    assert all(numeric(value) for value in ratios.values()), ratios
    timings = [row for row in rows if row["case"]]
    assert {row["case"] for row in timings} == {"ping", "remove_1", "noop_1", "remove_10", "noop_10", "loop_10",
                                                "client_1", "client_10"}
    assert all(numeric(row["median_ms"]) for row in timings)


def test_bench_ansible_writes_its_json_summary_and_plot(quick_run):
    _, results = quick_run
    summary = json.loads((results / "bench_ansible.json").read_text())
    assert [item["case"] for item in summary][0] == "remove_1 / ping"
    assert all(isinstance(item["ratio"], float) for item in summary)
    assert {item["target"] for item in summary} == {1.3, 2.0, None}
    assert (results / "bench_ansible.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summary_csv_carries_the_ratios_with_targets(quick_run):
    _, results = quick_run
    with open(results / "summary.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert list(rows[0]) == ["benchmark", "case", "ratio", "target", "met", "load"]
    assert {row["benchmark"] for row in rows} == {"bench_ansible"}
    assert all(re.fullmatch(r"load \d+\.\d\d -> \d+\.\d\d", row["load"]) for row in rows)  # the machine's state
    assert all(numeric(row["ratio"]) for row in rows)
    targeted = [row for row in rows if row["target"]]
    assert len(targeted) == 2
    assert all(row["met"] in ("yes", "no") for row in targeted)


def test_a_csv_without_json_is_summarised_from_its_ratio_column(tmp_path):
    """A bench script that writes only a CSV (as bench_remove.py does) still shows up in summary.csv."""
    (tmp_path / "bench_other.csv").write_text(
        "download_rows,rounds,mr_chase_median_ms,raw_median_ms,ratio\n10000,25,3.1,0.9,3.455\n1000000,25,2.9,0.9,x\n"
    )
    rows, source = run_all.collect("bench_other", tmp_path, since=0)
    assert source == "bench_other.csv"
    assert rows == [{"case": "download_rows=10000", "ratio": 3.455, "target": None, "met": ""}]


def test_results_older_than_the_run_are_not_taken(tmp_path):
    (tmp_path / "bench_old.json").write_text('[{"case": "a", "ratio": 1.0, "target": 2}]')
    assert run_all.collect("bench_old", tmp_path, since=4102444800) == ([], "")
    assert run_all.collect("bench_old", tmp_path, since=0)[0][0]["met"] == "yes"


def test_bench_scale_quick_draws_every_curve_with_its_growth_ratios(tmp_path):
    """bench_scale.py --quick: four small curves (real REMOVEs and DELETEs), their ratios, the load, the plots."""
    proc = subprocess.run([sys.executable, "benchmarks/bench_scale.py", "--quick", "--results", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: a target missed
    curves = ("remove_wheels", "remove_versions", "remove_downloads", "delete_wheels")
    with open(tmp_path / "bench_scale.csv", newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert {row["curve"] for row in rows} == set(curves)
    assert all(numeric(row["clean_ms"]) and float(row["clean_ms"]) >= float(row["reply_ms"]) > 0 for row in rows)
    assert all(row["load"].startswith("before: load average") for row in rows)
    summary = json.loads((tmp_path / "bench_scale.json").read_text())
    targeted = [item for item in summary if item["target"] is not None]
    assert [item["case"].split()[0] for item in targeted] == list(curves)
    assert all(item["target"] == 1.5 and isinstance(item["met"], bool) for item in targeted)
    assert all(math.isfinite(item["ratio"]) and "load average" in item["load"] for item in summary)
    for curve in curves:
        assert (tmp_path / f"bench_scale_{curve}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_run_of_some_scripts_keeps_the_other_scripts_rows(tmp_path):
    summary = tmp_path / "summary.csv"
    summary.write_text("benchmark,case,ratio,target,met,load\nbench_kept,a,1.000,2,yes,load 0.10 -> 0.20\n"
                       "bench_rerun,old,9.000,2,no,load 3.00 -> 3.00\n")
    rerun = run_all.Outcome("bench_rerun", rows=[{"case": "new", "ratio": 1.5, "target": 2.0, "met": "yes"}],
                            load="load 0.50 -> 0.60")
    run_all.write_summary([rerun], summary, run_all.kept_rows(summary))
    with open(summary, newline="") as stream:
        rows = [(row["benchmark"], row["case"], row["load"]) for row in csv.DictReader(stream)]
    assert rows == [("bench_kept", "a", "load 0.10 -> 0.20"), ("bench_rerun", "new", "load 0.50 -> 0.60")]


def test_bench_render_quick_renders_the_same_page_both_ways(tmp_path):
    """bench_render.py --quick: it refuses to compare unless Chameleon's page is Mr Chase's, byte for byte."""
    proc = subprocess.run([sys.executable, "benchmarks/bench_render.py", "--quick", "--results", str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode in (0, 1), proc.stdout[-3000:] + proc.stderr[-3000:]  # 1: the target missed
    summary = json.loads((tmp_path / "bench_render.json").read_text())
    assert summary[0]["target"] == 0.5 and summary[0]["ratio"] > 0
    assert (tmp_path / "bench_render.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
