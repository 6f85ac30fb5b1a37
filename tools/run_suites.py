"""`make test`: every suite, in parallel lanes, each suite's output shown whole and its duration at the end.

The suites share no state across lanes (each pytest worker and the demo start
their own PostgreSQL; the integration shards keep theirs under IT_STATE, with a
copy of the collection each), but the ansible-test commands of one checkout
share ``tests/output/.tmp`` (the delegation virtual environment) and
ansible-lint writes a cache into the collection that ansible-test sanity would
check, so lint, sanity and units run one after the other in one lane.
Integration, the longest suite (itself two ansible-test runs at once,
``tools/run_integration.py``), has the other lane to itself.  A lane carries
on after a failed suite, as ``make -k`` did; the run fails if any suite failed.

Each suite's output goes to ``<logs>/<suite>.log`` and is printed in one piece
when the suite ends, so two lanes never interleave their lines.  The closing
table (``suite <name>: <status> in <seconds>s``) is what ``.ci/run`` repeats.

    python3 tools/run_suites.py [--logs DIR] [--lanes 'integration' 'lint sanity units pytest demo-check']
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
#: integration is the longest suite; the other lane carries the rest, the ansible-test commands of the checkout in order
DEFAULT_LANES = ("integration", "lint sanity units pytest demo-check")


@dataclass
class Outcome:
    suite: str
    lane: int
    status: int
    seconds: float


def run_suite(suite: str, lane: int, logs: Path, print_lock: threading.Lock) -> Outcome:
    log_path = logs / f"{suite}.log"
    started = time.monotonic()
    with open(log_path, "wb") as log:
        status = subprocess.call(["make", "--no-print-directory", suite], cwd=ROOT, stdout=log,
                                 stderr=subprocess.STDOUT)
    outcome = Outcome(suite, lane, status, time.monotonic() - started)
    with print_lock:
        print(f"\n##### suite {suite} (lane {lane}): {describe(outcome)}", flush=True)
        sys.stdout.buffer.write(log_path.read_bytes())
        sys.stdout.flush()
    return outcome


def describe(outcome: Outcome) -> str:
    state = "passed" if outcome.status == 0 else f"FAILED (exit {outcome.status})"
    return f"{state} in {outcome.seconds:.0f}s"


def run_lanes(lanes: list[list[str]], logs: Path) -> list[Outcome]:
    outcomes: list[Outcome] = []
    print_lock = threading.Lock()

    def lane_worker(number: int, suites: list[str]) -> None:
        for suite in suites:
            outcomes.append(run_suite(suite, number, logs, print_lock))

    threads = [threading.Thread(target=lane_worker, args=(number, suites))
               for number, suites in enumerate(lanes, start=1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logs", type=Path, default=None, help="where each suite's log goes (default: a new temp dir)")
    parser.add_argument("--lanes", nargs="+", default=list(DEFAULT_LANES),
                        help="one argument per lane: the suites (make targets) it runs in order")
    args = parser.parse_args()
    logs = args.logs or Path(tempfile.mkdtemp(prefix="piw-suites-"))
    logs.mkdir(parents=True, exist_ok=True)
    lanes = [lane.split() for lane in args.lanes]
    started = time.monotonic()
    outcomes = run_lanes(lanes, logs)
    print(f"\n===== suite times (logs in {logs}) =====")
    for outcome in sorted(outcomes, key=lambda o: (o.lane, -o.seconds)):
        print(f"suite {outcome.suite}: {describe(outcome)} (lane {outcome.lane})")
    failed = [o.suite for o in outcomes if o.status != 0]
    # worded without "<n> passed" / "<n> failed": .ci/run adds those up as test counts
    verdict = f"failed: {', '.join(failed)}" if failed else "every suite passed"
    print(f"suites: {verdict}; wall time {time.monotonic() - started:.0f}s")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
