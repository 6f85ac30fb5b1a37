"""Issue 8, item 3: what Ansible adds to a removal, task against task, in the same playbook runs.

One private PostgreSQL (piwheels_testbed) and one real Mr Chase subprocess are
started in a temporary directory; a repository with real wheels on disk is
built so that every measured removal takes down versions that still have
builds, files and downloads.  Then ``ansible-playbook`` runs on localhost, one
playbook per round, and a small callback (``benchmarks/callback_plugins/
bench_timer.py``) records each task's wall time, from task start to result, so
playbook start-up is never part of a figure.  Within a round the cases are
interleaved, and the order alternates from one round to the next.

Cases (per-task seconds; medians over every sample of every round):

* ``ping``          one ``ansible.builtin.ping`` task
* ``remove_1``      one ``piwheels.ops.piw_remove`` task removing one version
* ``noop_1``        the same task again: nothing left to remove (STATUS only)
* ``remove_N``      one task removing N versions given as a list (N = 50)
* ``noop_N``        the same again
* ``loop_N``        the N versions as ``loop:`` items, one removal per item
* ``client_1``, ``client_N``  the same removals without Ansible: the module's own
  code (``survey_releases``, the plan's ``carry_out``) called in this process, so what Mr Chase
  and the protocol cost can be told from what Ansible adds

Ratios and targets (issue 4 "Done means", issue 8 item 3):

* ``remove_1 / ping``    <= 1.3
* ``remove_N / remove_1`` <= 2
* ``loop_N / remove_N``   reported
* ``client_N / client_1`` reported: how much of remove_N's extra time is Mr Chase's

A ratio is the median over rounds of the ratio within each round.

    .venv/bin/python benchmarks/bench_ansible.py [--quick] [--rounds R] [--versions N]

Writes ``benchmarks/results/bench_ansible.{csv,json,png}``; exits 1 when a target
is missed, like the other bench scripts.  Uses
PIW_TEST_DSN's server when set, otherwise starts a private pgserver.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from chase_helpers import MrChase, make_config  # noqa: E402

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import MrChaseClient  # noqa: E402
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.release_survey import (  # noqa: E402
    survey_releases,
)
from piwheels_testbed import (  # noqa: E402
    SERVICE_ROLE,
    Cluster,
    RepositorySpec,
    build_repository,
    create_database,
    drop_database,
    role_dsn,
)

RESULTS = ROOT / "benchmarks/results"
CALLBACKS = ROOT / "benchmarks/callback_plugins"
NAME = "bench_ansible"
FILES_PER_VERSION = 2
DOWNLOADS_PER_FILE = 10

CASES = ("ping", "remove_1", "noop_1", "remove_N", "noop_N", "loop_N", "client_1", "client_N")
#: (case, numerator, denominator, target or None)
RATIOS = [
    ("remove_1 / ping", "remove_1", "ping", 1.3),
    ("noop_1 / ping", "noop_1", "ping", None),
    ("remove_N / remove_1", "remove_N", "remove_1", 2.0),
    ("noop_N / noop_1", "noop_N", "noop_1", None),
    ("loop_N / remove_N", "loop_N", "remove_N", None),
    ("client_N / client_1", "client_N", "client_1", None),
]


@dataclass
class Repo:
    """The packages a run uses, each with ``versions`` versions named 1.0, 1.1, ..."""

    dsn: str
    output_path: Path
    versions: int
    packages: list[str]
    free: list[str] = field(default_factory=list)

    def __post_init__(self):
        self.free = list(self.packages)

    @property
    def service_dsn(self) -> str:
        """Mr Chase's own role with its documented grants, never the superuser."""
        return role_dsn(self.dsn, SERVICE_ROLE)

    def take(self) -> str:
        """A package nothing has been removed from yet."""
        return self.free.pop(0)

    def version_names(self) -> list[str]:
        return [f"1.{i}" for i in range(self.versions)]


def task(name: str, module: str, args: dict, loop: list | None = None) -> dict:
    entry = {"name": name, module: args}
    if loop is not None:
        entry["loop"] = loop
    return entry


def remove(name: str, queue: str, package: str, version, loop: list | None = None) -> dict:
    return task(name, "piwheels.ops.piw_remove", {"package": package, "version": version, "import_queue": queue}, loop)


def round_tasks(repo: Repo, queue: str, round_no: int, pairs: int, lists: int) -> list[dict]:
    """The tasks of one round: warm-ups (not measured), then the cases interleaved.

    The ``remove_1`` versions come from one package of their own, a fresh one
    per round; each ``remove_N`` and the ``loop_N`` take a fresh package and
    remove all its versions, named one by one (not ``all``), so the cases do
    the same work per version.  Groups (a ping; a removal and its no-op
    repeat) are rotated from one slot to the next so no case always runs
    first or right after another.
    """
    versions = repo.version_names()
    warm, single, looped = repo.take(), repo.take(), repo.take()
    listed = [repo.take() for _ in range(lists)]
    tasks = [
        task("warm:ping", "ansible.builtin.ping", {}),
        remove("warm:piw_remove", queue, warm, versions[0]),
    ]
    loop = [remove("loop_N", queue, looped, "{{ item }}", loop=versions)]
    if round_no % 2 == 1:
        tasks.extend(loop)
    for i in range(pairs):
        groups = [
            [task(f"ping:{i}", "ansible.builtin.ping", {})],
            [remove(f"remove_1:{i}", queue, single, versions[i]), remove(f"noop_1:{i}", queue, single, versions[i])],
        ]
        if i < lists:
            groups.append([remove(f"remove_N:{i}", queue, listed[i], versions),
                           remove(f"noop_N:{i}", queue, listed[i], versions)])
        shift = (round_no + i) % len(groups)
        for group in groups[shift:] + groups[:shift]:
            tasks.extend(group)
    if round_no % 2 == 0:
        tasks.extend(loop)
    return tasks


def client_samples(repo: Repo, queue: str, pairs: int) -> dict[str, list[float]]:
    """The Mr Chase work of ``remove_1`` and ``remove_N`` without Ansible: piw_remove's own survey and plan.

    What a task costs beyond this is Ansible's (AnsiballZ, a fresh Python,
    pyzmq's import, the result's trip back); this part is the protocol and
    Mr Chase's own removal work.
    """
    versions = repo.version_names()
    single, listed = repo.take(), repo.take()
    samples: dict[str, list[float]] = {"client_1": [], "client_N": []}
    for i in range(pairs):
        samples["client_1"].append(direct_removal(queue, single, [versions[i]]))
    samples["client_N"].append(direct_removal(queue, listed, versions))
    return samples


def direct_removal(queue: str, package: str, versions: list[str]) -> float:
    started = time.perf_counter()
    with MrChaseClient(queue, 30) as client:
        plan = survey_releases(client, package, versions, False)
        plan.carry_out(client, [])
    seconds = time.perf_counter() - started
    if not plan.changed:
        raise RuntimeError(f"direct removal of {package} {versions[0]}... removed nothing")
    return seconds


def ansible_env(timer_file: Path, workdir: Path) -> dict:
    env = dict(os.environ)
    env.update(
        ANSIBLE_COLLECTIONS_PATH=str(ROOT),
        ANSIBLE_CALLBACK_PLUGINS=str(CALLBACKS),
        ANSIBLE_CALLBACKS_ENABLED="bench_timer",
        BENCH_TIMER_FILE=str(timer_file),
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_RETRY_FILES_ENABLED="0",
        ANSIBLE_LOCAL_TEMP=str(workdir / "ansible-local"),
        ANSIBLE_REMOTE_TMP=str(workdir / "ansible-remote"),
        ANSIBLE_HOST_KEY_CHECKING="0",
    )
    return env


def ansible_playbook() -> str:
    beside = Path(sys.executable).parent / "ansible-playbook"
    return str(beside if beside.exists() else ROOT / ".venv/bin/ansible-playbook")


def run_round(tasks: list[dict], workdir: Path, round_no: int) -> list[dict]:
    """Run one playbook; return the callback's records of the measured tasks."""
    playbook = workdir / f"round{round_no}.yml"
    playbook.write_text(json.dumps([{"name": f"round {round_no}", "hosts": "all", "gather_facts": False,
                                     "tasks": tasks}], indent=1))
    timer_file = workdir / f"round{round_no}.json"
    command = [ansible_playbook(), "-i", "localhost,", "-c", "local",
               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)]
    proc = subprocess.run(command, env=ansible_env(timer_file, workdir), capture_output=True, text=True,
                          cwd=workdir)
    if proc.returncode != 0 or not timer_file.exists():
        raise RuntimeError(f"ansible-playbook failed ({proc.returncode}):\n"
                           f"{proc.stdout[-4000:]}\n{proc.stderr[-2000:]}")
    records = json.loads(timer_file.read_text())
    check_records(records)
    return records


def check_records(records: list[dict]) -> None:
    """A removal that changed nothing (or a no-op that changed something) would measure the wrong case."""
    for record in records:
        case = record["name"].split(":")[0]
        if record["status"] != "ok":
            raise RuntimeError(f"task {record['name']} {record['status']}: {record.get('msg', '')}")
        if case in ("remove_1", "remove_N", "loop_N", "warm") and record["name"] != "warm:ping" \
                and not record["changed"]:
            raise RuntimeError(f"task {record['name']} removed nothing: the repository was not fresh")
        if case.startswith("noop") and record["changed"]:
            raise RuntimeError(f"task {record['name']} changed something")


def summarise(rounds: list[dict[str, list[float]]], versions: int) -> tuple[list[dict], list[dict]]:
    """Per-case medians over all samples, and the ratios with their targets.

    A ratio is taken within each round (median of the round's samples of one
    case over the same of the other), then the median over rounds is
    reported: the two sides of a ratio always ran minutes apart at most, so
    load that comes and goes on the machine moves both alike.
    """
    cases = []
    for case in rounds[0]:
        values = [value for samples in rounds for value in samples[case]]
        cases.append({"case": case.replace("_N", f"_{versions}"), "samples": len(values),
                      "median_ms": round(statistics.median(values) * 1000, 1),
                      "min_ms": round(min(values) * 1000, 1), "max_ms": round(max(values) * 1000, 1)})
    ratios = []
    for label, top, bottom, target in RATIOS:
        per_round = [statistics.median(samples[top]) / statistics.median(samples[bottom]) for samples in rounds]
        ratio = statistics.median(per_round)
        ratios.append({"case": label.replace("_N", f"_{versions}"), "ratio": round(ratio, 3), "target": target,
                       "met": None if target is None else ratio <= target,
                       "round_min": round(min(per_round), 3), "round_max": round(max(per_round), 3)})
    return cases, ratios


def write_outputs(cases: list[dict], ratios: list[dict], samples: dict[str, list[float]], versions: int,
                  results: Path) -> None:
    results.mkdir(parents=True, exist_ok=True)
    with open(results / f"{NAME}.csv", "w", newline="") as stream:
        writer = csv.DictWriter(stream, fieldnames=["case", "samples", "median_ms", "min_ms", "max_ms",
                                                    "ratio_of", "ratio", "round_min", "round_max", "target",
                                                    "met"])
        writer.writeheader()
        for row in cases:
            writer.writerow(row)
        for row in ratios:
            writer.writerow({"ratio_of": row["case"], "ratio": row["ratio"], "round_min": row["round_min"],
                             "round_max": row["round_max"], "target": row["target"] or "",
                             "met": "" if row["met"] is None else row["met"]})
    (results / f"{NAME}.json").write_text(json.dumps(
        [{"case": r["case"], "ratio": r["ratio"], "target": r["target"]} for r in ratios], indent=1) + "\n")
    plot(samples, ratios, versions, results / f"{NAME}.png")


def plot(samples: dict[str, list[float]], ratios: list[dict], versions: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = list(samples)
    left.boxplot([[v * 1000 for v in samples[n]] for n in names], showfliers=True)
    left.set_xticks(range(1, len(names) + 1), [n.replace("_N", f"_{versions}") for n in names], rotation=20)
    left.set_ylabel("task wall time (ms)")
    left.set_yscale("log")
    left.set_title("ansible-playbook per-task time on localhost")
    labels = [r["case"] for r in ratios]
    colours = ["grey" if r["met"] is None else ("tab:green" if r["met"] else "tab:red") for r in ratios]
    right.barh(labels, [r["ratio"] for r in ratios], color=colours)
    for i, r in enumerate(ratios):
        if r["target"] is not None:
            right.plot([r["target"]] * 2, [i - 0.4, i + 0.4], color="black", linestyle="--")
    right.invert_yaxis()
    right.set_xscale("log")
    right.set_xlabel("median over rounds of the ratio within a round (dashed: target)")
    right.set_title("ratios")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def print_table(cases: list[dict], ratios: list[dict], command: str) -> None:
    print(f"\n{command}\n")
    print(f"{'case':<22}{'samples':>8}{'median ms':>11}{'min ms':>9}{'max ms':>9}")
    for row in cases:
        print(f"{row['case']:<22}{row['samples']:>8}{row['median_ms']:>11.1f}{row['min_ms']:>9.1f}{row['max_ms']:>9.1f}")
    print(f"\n{'ratio (median of rounds)':<26}{'value':>6}{'rounds':>14}{'target':>8}  met")
    for row in ratios:
        target = "-" if row["target"] is None else f"<={row['target']:g}"
        met = "-" if row["met"] is None else ("yes" if row["met"] else "NO")
        spread = f"{row['round_min']:.2f}-{row['round_max']:.2f}"
        print(f"{row['case']:<26}{row['ratio']:>6.2f}{spread:>14}{target:>8}  {met}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one round, 10 versions: proves the script works")
    parser.add_argument("--rounds", type=int, help="playbook runs (default 6, quick 1)")
    parser.add_argument("--pairs", type=int, help="ping/remove_1 pairs per round (default 3, quick 2)")
    parser.add_argument("--lists", type=int, help="remove_N tasks per round (default 2, quick 1)")
    parser.add_argument("--versions", type=int, help="N, the versions of the list and loop cases (default 50)")
    parser.add_argument("--results", type=Path, default=RESULTS, help="where the CSV, JSON and PNG go")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 6)
    pairs = args.pairs or (2 if args.quick else 3)
    lists = min(pairs, args.lists or (1 if args.quick else 2))
    versions = args.versions or (10 if args.quick else 50)
    if pairs > versions:
        parser.error("--pairs cannot exceed --versions")
    command = " ".join([".venv/bin/python benchmarks/bench_ansible.py", *(argv if argv is not None else sys.argv[1:])])

    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="piw-ab-", dir="/tmp"))  # short: ipc paths are limited
    cluster = chase = dsn = None
    try:
        cluster = Cluster(workdir / "pg")
        dsn = create_database(cluster)
        output = workdir / "www"
        spec = RepositorySpec(packages=(5 + lists) * rounds, versions=versions, builds=1, files=FILES_PER_VERSION,
                              downloads=DOWNLOADS_PER_FILE, names=(), yank_one=False)
        manifest = build_repository(dsn, output, spec)
        repo = Repo(dsn, output, versions, list(manifest.packages))
        chase_dir = workdir / "chase"
        chase_dir.mkdir()
        config = make_config(repo, chase_dir, log_level="info", log_file=str(chase_dir / "mr-chase.log"))
        chase = MrChase(config, chase_dir).start()
        print(f"set up in {time.monotonic() - started:.1f} s: {len(repo.packages)} packages x {versions} versions, "
              f"{FILES_PER_VERSION} wheels each; {rounds} rounds", flush=True)

        per_round: list[dict[str, list[float]]] = []
        for round_no in range(rounds):
            if round_no % 2 == 0:
                direct = client_samples(repo, chase.address, pairs)
            records = run_round(round_tasks(repo, chase.address, round_no, pairs, lists), workdir, round_no)
            if round_no % 2 == 1:
                direct = client_samples(repo, chase.address, pairs)
            samples: dict[str, list[float]] = {case: [] for case in CASES}
            for case, values in direct.items():
                samples[case].extend(values)
            for record in records:
                case = record["name"].split(":")[0]
                if case in samples:
                    samples[case].append(record["seconds"])
            per_round.append(samples)
            print(f"round {round_no + 1}/{rounds} done at {time.monotonic() - started:.0f} s", flush=True)
    finally:
        if chase is not None:
            chase.stop()
        if cluster is not None:
            if dsn is not None:
                drop_database(cluster, dsn)
            cluster.close()
        shutil.rmtree(workdir, ignore_errors=True)

    cases, ratios = summarise(per_round, versions)
    samples = {case: [value for each in per_round for value in each[case]] for case in CASES}
    write_outputs(cases, ratios, samples, versions, args.results)
    print_table(cases, ratios, command)
    print(f"\nwritten {args.results / NAME}.csv, .json, .png in {time.monotonic() - started:.0f} s")
    return 0 if all(row["met"] is not False for row in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
