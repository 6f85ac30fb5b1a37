"""`make integration`: the ansible-test integration targets in parallel shards, each a test master of its own.

One ``ansible-test integration`` runs its targets one after the other, and
most of a target's time is spent waiting (on Mr Chase, PostgreSQL, ssh-less
``ansible-playbook`` runs starting up), so the targets are dealt to
``--shards`` runs at once.  Two ansible-test runs cannot share a collection
checkout (``tests/output/.tmp/output_dir`` is emptied before each target) nor
a HOME (its environments), nor a test master (Mr Chase's queue, PostgreSQL),
so each shard has all three of its own under ``<state>/<n>/``:

- ``src/ansible_collections/piwheels/ops``: a copy of the collection, made
  afresh each run (its ``tests/output`` survives, with ansible-test's
  environment in it);
- ``home``: ansible-test's HOME (``tools/ansible_test_home.py``);
- the test master: ``piw_state_dir`` of the targets (PostgreSQL under
  ``testbed/``, Mr Chase under ``opt/``), stopped when the shard ends.

The ``piwheels`` service account is the machine's, shared by the shards: the
run creates it when missing (through the targets) and deletes it after the
last shard, if this run created it.  Each shard's output is printed whole
when it ends; the run fails if any shard failed.

    python tools/run_integration.py --state DIR [--shards N] [TARGET ...]
    python tools/run_integration.py --state DIR --clean
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLLECTION = ROOT / "ansible_collections/piwheels/ops"
TARGETS = COLLECTION / "tests/integration/targets"
BIN = Path(sys.executable).parent
#: seconds each target took in one unsharded run on a 2-core machine (the times of its "Running ..." lines): how
#: the targets are dealt to the shards, longest first; a target not listed counts as DEFAULT_SECONDS
SECONDS = {
    "archive_runbook": 300, "mr_chase": 270, "mr_chase_lifecycle": 265, "remove_runbook": 150, "piw_remove": 55,
    "audit_runbook": 45, "piw_audit": 30, "module_defaults_group": 25, "piw_package": 25, "piw_package_info": 25,
}
DEFAULT_SECONDS = 60
#: what a copy of the collection leaves out (ansible-test's results and environment stay in each copy)
NOT_COPIED = shutil.ignore_patterns("output", ".ansible", "__pycache__", "integration_config.yml")
USER = "piwheels"


def all_targets() -> list[str]:
    """The targets ansible-test would run by default: every one not marked hidden."""
    return sorted(path.name for path in TARGETS.iterdir()
                  if path.is_dir() and "hidden" not in (path / "aliases").read_text().split())


def deal(targets: list[str], shards: int) -> list[list[str]]:
    """The targets in ``shards`` groups of about equal time (longest first, each to the least loaded shard),
    each group in the usual alphabetical order."""
    groups: list[list[str]] = [[] for _ in range(shards)]
    loads = [0] * shards
    for target in sorted(targets, key=lambda name: -SECONDS.get(name, DEFAULT_SECONDS)):
        lightest = loads.index(min(loads))
        groups[lightest].append(target)
        loads[lightest] += SECONDS.get(target, DEFAULT_SECONDS)
    return [sorted(group) for group in groups if group]


class Shard:
    """One ansible-test integration run: its copy of the collection, its HOME, its test master."""

    def __init__(self, state: Path, number: int):
        self.number = number
        self.state = state / str(number)
        self.collection = self.state / "src/ansible_collections/piwheels/ops"
        self.home = self.state / "home"
        self.log = self.state / "integration.log"

    def prepare(self) -> None:
        """A fresh copy of the collection (keeping its tests/output) with the targets' settings, and a HOME."""
        output, kept = self.collection / "tests/output", self.state / "output.kept"
        shutil.rmtree(kept, ignore_errors=True)  # left by an interrupted run
        if output.exists():
            output.rename(kept)
        shutil.rmtree(self.collection, ignore_errors=True)
        shutil.copytree(COLLECTION, self.collection, ignore=NOT_COPIED, symlinks=True)
        if kept.exists():
            kept.rename(output)  # the same absolute path: ansible-test's environment in it still works
        (self.collection / "tests/integration/integration_config.yml").write_text(
            f"piw_repo_root: {ROOT}\npiw_testbed_python: {BIN / 'python'}\npiw_state_dir: {self.state}\n")
        subprocess.run([BIN / "python", ROOT / "tools/ansible_test_home.py", self.home, BIN / "python"], check=True)

    def run(self, targets: list[str]) -> int:
        env = dict(os.environ, HOME=str(self.home), PATH=f"{BIN}:{os.environ['PATH']}")
        with open(self.log, "wb") as log:
            return subprocess.call([BIN / "ansible-test", "integration", "--venv", "--python", "3.11", "--color", "no",
                                    *targets], cwd=self.collection, env=env, stdout=log, stderr=subprocess.STDOUT)

    def clean(self) -> bool:
        """Stop the shard's Mr Chase and PostgreSQL; False when PostgreSQL is still running after."""
        ctl = self.state / "opt/mr-chase/bin/mr-chase-ctl"
        if os.access(ctl, os.X_OK):
            subprocess.call([ctl, "stop"])
        pid_file = self.state / "testbed/pgdata/postmaster.pid"
        if pid_file.exists():
            env = {key: value for key, value in os.environ.items() if key != "PIW_TEST_DSN"}
            subprocess.call([BIN / "python", "-m", "piwheels_testbed", "down", "--state", self.state / "testbed"],
                            cwd=ROOT, env=env)
        if pid_file.exists():
            print(f"integration-clean: PostgreSQL under {self.state}/testbed is still running", file=sys.stderr)
            return False
        return True


def user_exists() -> bool:
    return subprocess.call(["getent", "passwd", USER], stdout=subprocess.DEVNULL) == 0


def delete_user() -> None:
    """Delete the service account this run created (unless something still runs as it)."""
    if not user_exists():
        return
    if subprocess.call(["userdel", USER]) == 0:
        subprocess.call(["groupdel", USER], stderr=subprocess.DEVNULL)
    else:
        print(f"integration: user {USER} left in place (in use by another run?)", file=sys.stderr)


def run_shards(shards: list[Shard], groups: list[list[str]]) -> list[int]:
    """Each shard's targets, the shards at once; each shard's status (its run's, or 1 when its clean-up failed)."""
    print_lock = threading.Lock()

    def run_shard(shard: Shard, targets: list[str]) -> int:
        started = time.monotonic()
        status = shard.run(targets)
        cleaned = shard.clean()  # pass or fail
        status = status or (0 if cleaned else 1)
        with print_lock:
            state = "passed" if status == 0 else f"FAILED (exit {status})"
            print(f"\n##### integration shard {shard.number} ({' '.join(targets)}): {state} in "
                  f"{time.monotonic() - started:.0f}s", flush=True)
            sys.stdout.buffer.write(shard.log.read_bytes())
            sys.stdout.flush()
        return status

    with ThreadPoolExecutor(len(shards)) as pool:
        return list(pool.map(run_shard, shards, groups))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--state", type=Path, required=True, help="the shards' directories go under it")
    parser.add_argument("--shards", type=int, default=2, help="ansible-test runs at once (default 2)")
    parser.add_argument("--clean", action="store_true", help="only stop what earlier runs' shards left running")
    parser.add_argument("targets", nargs="*", help="the targets to run (default: every one)")
    args = parser.parse_args()
    if args.shards < 1:
        parser.error("--shards must be 1 or more")
    if args.clean:
        shards = sorted(int(path.name) for path in args.state.glob("[0-9]*") if path.name.isdigit())
        return 0 if all([Shard(args.state, number).clean() for number in shards]) else 1
    groups = deal(args.targets or all_targets(), args.shards)
    shards = [Shard(args.state, number) for number in range(1, len(groups) + 1)]
    created_user = not user_exists()
    for shard in shards:
        shard.prepare()
    started = time.monotonic()
    statuses = run_shards(shards, groups)
    if created_user:
        delete_user()
    failed = [shard.number for shard, status in zip(shards, statuses, strict=True) if status != 0]
    # worded without "<n> failed": .ci/run adds those up as test counts
    verdict = (f"FAILED in shard {', '.join(map(str, failed))}" if failed
               else "every ansible-test integration target passed")
    shards_run = f"{len(shards)} shard{'s' if len(shards) != 1 else ''}"
    print(f"integration: {verdict} ({shards_run}, {time.monotonic() - started:.0f}s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
