"""Run ansible-test sanity and units under every ansible-core release the collection claims.

    python tools/matrix.py [--readme README.md] 2.16 2.17 2.18 2.19

For each minor release it installs the newest ansible-core of that series the
package index offers into .matrix/<minor>/venv, prepares a private HOME in
.matrix/<minor>/home (so ansible-test's ~/.ansible/test is never shared, see
tools/ansible_test_home.py), and runs `ansible-test sanity` and
`ansible-test units` with `--venv --python 3.11`, then the sanity tests that
depend on the Python version (compile, import) on the oldest Python the
modules support on managed hosts (tests/config.yml), one after the other, each
log in .matrix/<minor>/<check>.log.  Each run is appended to records/matrix.json
(committed) with its date, the commit it ran on (``-dirty`` when the work tree
had changes) and galaxy.yml's collection version; with --readme, the table
between the `<!-- matrix:begin -->` and `<!-- matrix:end -->` markers of that
file is written from the record (tools/matrix_table.py).

Exit status 0 when every run passed, 1 when any failed.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import matrix_table
import yaml

ROOT = Path(__file__).resolve().parents[1]
COLLECTION = ROOT / "ansible_collections/piwheels/ops"
MATRIX = ROOT / ".matrix"
PYTHON = "3.11"
# the oldest Python of tests/config.yml's modules.python_requires
TARGET_PYTHON = "3.8"
# column name -> ansible-test arguments
CHECKS = {
    "sanity": ["sanity", "--python", PYTHON],
    "units": ["units", "--python", PYTHON],
    "target": ["sanity", "--test", "compile", "--test", "import", "--python", TARGET_PYTHON],
}


@dataclass
class Run:
    minor: str
    core: str
    test: str
    passed: bool
    detail: str


def sh(*args: str | Path, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([str(a) for a in args], check=True, **kwargs)


def make_venv(minor: str) -> tuple[Path, str]:
    """A venv holding the newest ansible-core ``minor``.*; returns its python and the version installed."""
    venv = MATRIX / minor / "venv"
    python = venv / "bin/python"
    if not python.exists():
        sh(sys.executable, "-m", "venv", venv)
    sh(python, "-m", "pip", "install", "--quiet", f"ansible-core=={minor}.*")
    core = sh(python, "-c", "import importlib.metadata as m; print(m.version('ansible-core'))",
              capture_output=True, text=True).stdout.strip()
    return python, core


def failed_tests(log: str) -> str:
    """What a failed run names: the sanity tests that failed, or pytest's summary line."""
    names = re.findall(r"^ERROR: Found \d+ (\S+) issue", log, re.MULTILINE)
    if names:
        return "failed: " + ", ".join(dict.fromkeys(names))
    summary = re.findall(r"^=+ (.*(?:passed|failed|error).*) in [0-9.]+s", log, re.MULTILINE)
    if summary:
        return summary[-1]
    # pytest stopped before running anything, e.g. a conftest that does not import
    error = re.search(r"^E\s+(\S.*)$", log, re.MULTILINE)
    if error:
        return error.group(1)
    lines = [line for line in log.splitlines() if line.startswith("ERROR:")]
    return lines[-1] if lines else "failed (see the log)"


def interpreter_dir(version: str) -> Path | None:
    """The directory of a working ``python<version>``: on PATH, or a pyenv version pyenv's shims do not select."""
    candidates = [shutil.which(f"python{version}")]
    pyenv = Path("~/.pyenv/versions").expanduser()
    candidates += sorted(str(p) for p in pyenv.glob(f"{version}.*/bin/python{version}"))
    for candidate in filter(None, candidates):
        if subprocess.run([candidate, "-c", "pass"], capture_output=True).returncode == 0:
            return Path(candidate).parent
    return None


def passed_detail(test: str, log: str) -> str:
    if test == "units":  # ansible-test runs one pytest per test directory (plugins, roles): add them up
        counts = re.findall(r"^=+ (\d+) passed.* in [0-9.]+s", log, re.MULTILINE)
        return f"{sum(map(int, counts))} passed" if counts else "passed"
    ran = len(re.findall(r"^Running sanity test [\"']", log, re.MULTILINE))
    return f"{ran} tests passed"


def run_test(minor: str, core: str, python: Path, test: str) -> Run:
    home = MATRIX / minor / "home"
    sh(python, ROOT / "tools/ansible_test_home.py", home, python)
    shutil.rmtree(COLLECTION / ".ansible", ignore_errors=True)  # ansible-lint's cache, which sanity would check
    bin_dir = python.parent
    path = f"{bin_dir}:{os.environ['PATH']}"
    if test == "target":
        target_dir = interpreter_dir(TARGET_PYTHON)
        if target_dir is None:
            print(f"matrix: ansible-core {core}: no Python {TARGET_PYTHON} here, {test} not run", flush=True)
            return Run(minor, core, test, False, f"not run: no Python {TARGET_PYTHON}")
        path = f"{bin_dir}:{target_dir}:{os.environ['PATH']}"
    env = dict(os.environ, HOME=str(home), PATH=path)
    log_path = MATRIX / minor / f"{test}.log"
    print(f"matrix: ansible-core {core}: ansible-test {' '.join(CHECKS[test])} (log: {log_path.relative_to(ROOT)})",
          flush=True)
    with log_path.open("w") as log:
        result = subprocess.run([bin_dir / "ansible-test", *CHECKS[test], "--venv", "--color", "no"],
                                cwd=COLLECTION, env=env, stdout=log, stderr=subprocess.STDOUT)
    text = log_path.read_text()
    passed = result.returncode == 0
    detail = passed_detail(test, text) if passed else failed_tests(text)
    print(f"matrix: ansible-core {core}: {test} {'passed' if passed else 'FAILED'}: {detail}", flush=True)
    return Run(minor, core, test, passed, detail)


def checkout_commit() -> str:
    """The commit the work tree holds, with ``-dirty`` when tracked files differ from it."""
    return sh("git", "-C", ROOT, "describe", "--always", "--dirty", "--abbrev=12",
              capture_output=True, text=True).stdout.strip()


def record_run(runs: list[Run], commit: str, record: Path) -> dict:
    """Append this run to the record: what ran, on which commit and collection version, and how it went."""
    results: dict[str, dict[str, dict]] = {}
    for run in runs:
        results.setdefault(run.core, {})[run.test] = {"passed": run.passed, "detail": run.detail}
    entry = {
        "date": datetime.date.today().isoformat(),
        "commit": commit,
        "collection_version": yaml.safe_load((COLLECTION / "galaxy.yml").read_text())["version"],
        "python": PYTHON,
        "target_python": TARGET_PYTHON,
        "results": results,
    }
    history = json.loads(record.read_text())["runs"] if record.exists() else []
    record.parent.mkdir(exist_ok=True)
    record.write_text(json.dumps({"runs": [*history, entry]}, indent=2) + "\n")
    return entry


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python tools/matrix.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--readme", type=Path, help="replace the table between the matrix markers of this file")
    parser.add_argument("minors", nargs="+", metavar="MINOR", help="ansible-core minor releases, e.g. 2.16")
    args = parser.parse_args(argv)
    commit = checkout_commit()  # before the run: what it tests, whatever changes while it runs
    runs: list[Run] = []
    for minor in args.minors:
        python, core = make_venv(minor)
        runs.extend(run_test(minor, core, python, test) for test in CHECKS)
    entry = record_run(runs, commit, matrix_table.RECORD)
    if args.readme:
        matrix_table.main(["--readme", str(args.readme)])
    print(matrix_table.table(entry), end="")
    failed = [f"{r.core} {r.test}" for r in runs if not r.passed]
    which = f" ({', '.join(failed)})" if failed else ""
    print(f"matrix: {len(runs) - len(failed)} passed, {len(failed)} failed{which}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
