"""Run every ``benchmarks/bench_*.py`` and gather their ratios into ``benchmarks/results/summary.csv``.

Each script runs as its own process (``sys.executable benchmarks/<name>.py``,
plus ``--quick`` when asked and the script accepts it), its output shown as it
comes.  Afterwards its machine-readable result is read:

* ``benchmarks/results/<name>.json``: a list of ``{"case", "ratio", "target"}``
  (``target`` null when the ratio is only reported; an optional ``"met"``
  overrides ``ratio <= target``), the format every bench script should write;
* failing that, ``benchmarks/results/<name>.csv`` if it has a ``ratio`` column
  (the case is named from the columns before it; the target is issue 8's for
  that script, from ``KNOWN_TARGETS``);
* failing that, "no summary".

Each summary row carries the machine's state: the item's own ``"load"`` where
the script wrote one, else the 1-minute load average before and after the
script ran.  Results older than this run are ignored, so a script that failed never passes
for one that worked.  The whole run has a time budget (default 3600 s: on this kind of 2-core
machine about 600 s go to the scripts of issues 3 to 14, 850 s to
bench_scale.py's curves, whose largest points, 10^7 download rows and 200,000
wheels on disk, take minutes to write, and 700 to 1,150 s to bench_audit.py,
whose full-size site of 1,000,000 wheels takes minutes to make and delete); a
script still running when its share runs out is stopped, with everything it
started.

    .venv/bin/python benchmarks/run_all.py [--quick] [--only bench_ansible ...] [--budget SECONDS] [--results DIR]

A script's exit status 1 with results from this run means "ran, a target
missed" (the convention of the bench scripts), anything else non-zero a failure.

Exit status: 0 when every script ran and every target was met, 1 when every
script ran but a target was missed, 2 when a script failed, timed out or left
no summary.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCHMARKS = ROOT / "benchmarks"
RESULTS = BENCHMARKS / "results"
SUMMARY_FIELDS = ["benchmark", "case", "ratio", "target", "met", "load"]
#: time kept back for each script still to run when giving one its budget
RESERVE_SECONDS = 60.0
#: issue 8's targets, for scripts that leave only a CSV (their own JSON's targets win when they write one)
KNOWN_TARGETS = {"bench_remove": 1.5, "bench_roundtrip": 2.0, "bench_index": 3.0}


@dataclass
class Outcome:
    name: str
    status: str = "ok"  # ok, failed (exit code), timed out, no summary
    seconds: float = 0.0
    rows: list[dict] = field(default_factory=list)
    source: str = ""
    #: the machine's 1-minute load average before and after the script ran
    load: str = ""


def discover(only: list[str] | None) -> list[Path]:
    scripts = sorted(BENCHMARKS.glob("bench_*.py"))
    if only:
        wanted = {name.removesuffix(".py") for name in only}
        missing = wanted - {script.stem for script in scripts}
        if missing:
            raise SystemExit(f"no such benchmark: {', '.join(sorted(missing))}")
        scripts = [script for script in scripts if script.stem in wanted]
    return scripts


def accepts(script: Path, option: str) -> bool:
    """Whether the script has ``option`` (read from its source: running --help costs an import)."""
    return f'"{option}"' in script.read_text(encoding="utf-8", errors="replace")


def results_dir(script: Path, results: Path) -> Path:
    """Where the script writes: ``results`` if it takes --results, else the default directory."""
    return results if results != RESULTS and accepts(script, "--results") else RESULTS


def run_script(script: Path, quick: bool, budget: float, results: Path) -> tuple[int | None, float]:
    """Run one script, echoing its output; return (exit code or None when stopped for time, seconds)."""
    command = [sys.executable, str(script.relative_to(ROOT))]
    if quick and accepts(script, "--quick"):
        command.append("--quick")
    if results != RESULTS:
        command.extend(["--results", str(results)])
    print(f"\n=== {script.stem}: {' '.join(['.venv/bin/python', *command[1:]])} (budget {budget:.0f} s)", flush=True)
    started = time.monotonic()
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    echo = threading.Thread(target=_echo, args=(proc.stdout,), daemon=True)
    echo.start()
    try:
        code = proc.wait(timeout=budget)
    except subprocess.TimeoutExpired:
        _stop_group(proc)
        code = None
    echo.join(5)
    return code, time.monotonic() - started


def _echo(stream) -> None:
    for line in stream:
        sys.stdout.write("    " + line)
        sys.stdout.flush()


def _stop_group(proc: subprocess.Popen) -> None:
    """Stop a script that ran out of time and whatever it started (its own session, by its process group id)."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _met(ratio: float | None, target: float | None, given=None) -> str:
    if isinstance(given, bool):
        return "yes" if given else "no"
    if ratio is None or target is None:
        return ""
    return "yes" if ratio <= target else "no"


def read_json(path: Path) -> list[dict]:
    rows = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        ratio, target = _number(item.get("ratio")), _number(item.get("target"))
        rows.append({"case": str(item.get("case", "")), "ratio": ratio, "target": target,
                     "met": _met(ratio, target, item.get("met")), "load": str(item.get("load", ""))})
    return rows


def read_csv(path: Path, default_target: float | None = None) -> list[dict]:
    """Rows with a numeric ``ratio``; the case is named by the columns before ``ratio`` that are not timings."""
    rows = []
    with open(path, newline="", encoding="utf-8") as stream:
        reader = csv.DictReader(stream)
        columns = reader.fieldnames or []
        if "ratio" not in columns:
            return []
        before = columns[: columns.index("ratio")]
        naming = [c for c in before if not c.endswith(("_ms", "_s", "_seconds")) and c not in ("rounds", "samples")]
        for row in reader:
            ratio = _number(row.get("ratio"))
            if ratio is None:
                continue
            case = row.get("case") or row.get("ratio_of") or ", ".join(f"{c}={row[c]}" for c in naming if row.get(c))
            target = _number(row.get("target"))
            target = default_target if target is None and not row.get("ratio_of") else target
            rows.append({"case": case, "ratio": ratio, "target": target, "met": _met(ratio, target)})
    return rows


def collect(name: str, results: Path, since: float) -> tuple[list[dict], str]:
    """The script's ratios from this run's JSON, else its CSV; ([], reason) when there are none."""
    def csv_reader(path: Path) -> list[dict]:
        return read_csv(path, KNOWN_TARGETS.get(name))

    for path, reader in ((results / f"{name}.json", read_json), (results / f"{name}.csv", csv_reader)):
        if not path.exists():
            continue
        if path.stat().st_mtime < since:
            continue
        try:
            rows = reader(path)
        except (OSError, ValueError, TypeError, AttributeError) as exc:
            print(f"    cannot read {path.name}: {exc}")
            continue
        if rows:
            return rows, path.name
    return [], ""


def kept_rows(path: Path) -> list[dict]:
    """The rows of an existing summary.csv, which a run of some scripts (--only) keeps for the others."""
    if not path.exists():
        return []
    with open(path, newline="", encoding="utf-8") as stream:
        return [{field: row.get(field) or "" for field in SUMMARY_FIELDS} for row in csv.DictReader(stream)]


def write_summary(outcomes: list[Outcome], path: Path, kept: list[dict]) -> None:
    """summary.csv: this run's rows, and ``kept`` rows of scripts this run did not run, in script order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    ran = {outcome.name for outcome in outcomes}
    rows = [row for row in kept if row["benchmark"] not in ran]
    for outcome in outcomes:
        if not outcome.rows:
            rows.append({"benchmark": outcome.name, "case": outcome.status, "ratio": "", "target": "", "met": "",
                         "load": outcome.load})
        for row in outcome.rows:
            rows.append({"benchmark": outcome.name, "case": row["case"],
                         "ratio": "" if row["ratio"] is None else f"{row['ratio']:.3f}",
                         "target": "" if row["target"] is None else f"{row['target']:g}",
                         "met": row["met"], "load": row.get("load") or outcome.load})
    rows.sort(key=lambda row: row["benchmark"])  # stable: each script's rows keep their order
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=SUMMARY_FIELDS)
        writer.writeheader()
        writer.writerows(rows)


def print_summary(outcomes: list[Outcome], path: Path, total: float) -> None:
    shown = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    print(f"\n=== summary ({total:.0f} s), written to {shown}")
    width = max(16, *(len(outcome.name) + 2 for outcome in outcomes))
    print(f"{'benchmark':<{width}}{'case':<42}{'ratio':>8}{'target':>9}  met")
    for outcome in outcomes:
        if not outcome.rows:
            print(f"{outcome.name:<{width}}{outcome.status:<42}")
        for row in outcome.rows:
            ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}"
            target = "-" if row["target"] is None else f"<={row['target']:g}"
            print(f"{outcome.name:<{width}}{row['case'][:41]:<42}{ratio:>8}{target:>9}  {row['met'] or '-'}")
    for outcome in outcomes:
        print(f"{outcome.name}: {outcome.status} in {outcome.seconds:.0f} s"
              + (f" (from {outcome.source})" if outcome.source else ""))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="pass --quick to every script that has it")
    parser.add_argument("--only", nargs="+", metavar="NAME",
                        help="run only these scripts (bench_ansible, ...); summary.csv keeps the other scripts' rows")
    parser.add_argument("--budget", type=float, default=3600.0, help="seconds for the whole run (default 3600)")
    parser.add_argument("--results", type=Path, default=RESULTS,
                        help="results directory: summary.csv goes here, and scripts that take --results get it")
    args = parser.parse_args(argv)

    scripts = discover(args.only)
    started = time.monotonic()
    since = time.time() - 1  # file systems with coarse timestamps
    deadline = started + args.budget
    outcomes = []
    for index, script in enumerate(scripts):
        # what is left, less a reserve for each script still to come (their real lengths are unknown)
        left = deadline - time.monotonic()
        after = len(scripts) - index - 1
        budget = max(10.0, left - after * min(RESERVE_SECONDS, left / (after + 1)))
        results = results_dir(script, args.results)
        load_before = os.getloadavg()[0]
        code, seconds = run_script(script, args.quick, budget, results)
        outcome = Outcome(script.stem, seconds=seconds, load=f"load {load_before:.2f} -> {os.getloadavg()[0]:.2f}")
        outcome.rows, outcome.source = collect(script.stem, results, since)
        if code is None:
            outcome.status = f"timed out after {seconds:.0f} s"
        elif code not in (0, 1) or (code == 1 and not outcome.rows):
            outcome.status = f"failed (exit {code})"
        elif not outcome.rows:
            outcome.status = "no summary"
        elif code == 1:
            outcome.status = "ok, exit 1: a target missed"
        outcomes.append(outcome)

    summary = args.results / "summary.csv"
    write_summary(outcomes, summary, kept_rows(summary) if args.only else [])
    print_summary(outcomes, summary, time.monotonic() - started)
    if not all(outcome.status.startswith("ok") for outcome in outcomes):
        return 2
    missed = any(row["met"] == "no" for outcome in outcomes for row in outcome.rows)
    return 1 if missed or any(outcome.status != "ok" for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
