"""A repair killed at every step of its journal, then recovered by a real Mr Chase: whole or never happened.

A process of its own (repair_runner.py) runs Service.repair with the
MR_CHASE_CRASH_AT hook, which ends it abruptly (exit 70) at the named step;
then a real Mr Chase starts on the same tree and configuration and settles
the journal before it serves anything.  Each repair must then be

* untouched: every row and every file byte-identical to before it, nothing
  audited, nothing queued for piw-master; or
* repaired: the site whole (every page link has its file and its row, no
  wheel without a row, every alias linked, the root index right), every
  path the findings named gone, audited once and notified once.

Anything else is half done, and half done must be zero.  Before COMMIT the
outcome must be "untouched", after it "repaired"; while COMMIT is in flight
("committing") either, as the database decided.  A kill during recovery
itself (after its audit record) must not audit or notify the repair twice.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import repair_helpers as damage
from chase_helpers import MrChase, journal_pending, make_config, snapshot_db, snapshot_tree
from repair_helpers import MIN_AGE, age_site, site_problems

RUNNER = Path(__file__).resolve().parent / "repair_runner.py"
BEFORE_COMMIT = ["journal_written", "moving", "moved"]
AFTER_COMMIT = ["committed", "page_replaced", "linked", "cleaning", "files_deleted"]
STEPS = BEFORE_COMMIT + ["committing"] + AFTER_COMMIT


def package_damage(site) -> tuple[str, list]:
    """Every kind a package's repair moves, deletes or writes, in one package."""
    findings = (damage.orphan_wheel(site, "beta-tools") + damage.missing_wheel(site, "beta-tools", "1.0")
                + damage.stale_page(site, "beta-tools") + damage.foreign_file(site, "beta-tools"))
    project = site.output_path / "project"
    (project / "Beta_Tools").unlink()
    (project / "Beta_Tools").symlink_to("gamma")
    damage.age(project / "Beta_Tools")
    (project / "beta_tools").unlink()
    findings += [damage.Finding("broken_alias", "beta-tools", "project/Beta_Tools", "points at gamma"),
                 damage.Finding("missing_alias", "beta-tools", "project/beta_tools", "no link")]
    return "beta-tools", findings


def site_damage(site) -> tuple[None, list]:
    return None, damage.stale_root_index(site) + damage.orphan_directories(site) + damage.leftover_staging(site)


SCENARIOS = {"package": package_damage, "site": site_damage}


def ran_before(site) -> None:
    """The state directory as a Mr Chase that served the site before leaves it (its staging directory and
    outbox: recovery runs before the notifier would make the outbox)."""
    for name in ("staging", "outbox"):
        (site.output_path / ".mr-chase" / name).mkdir(parents=True)


def run_repair(site, ipc_dir: Path, package, findings, env: dict) -> subprocess.CompletedProcess:
    asked = ipc_dir / "findings.json"
    asked.write_text(json.dumps({"package": package, "findings": [f.as_dict() for f in findings]}))
    return subprocess.run([sys.executable, str(RUNNER), str(ipc_dir / "mr-chase.yaml"), str(asked), str(MIN_AGE)],
                          env=dict(os.environ, **env), capture_output=True, text=True, timeout=120)


def repair_records(ipc_dir: Path) -> list[dict]:
    path = ipc_dir / "audit.jsonl"
    records = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return [record for record in records if record["request"][0] == "REPAIR"]


def outbox(site) -> list[str]:
    path = site.output_path / ".mr-chase" / "outbox"
    return sorted(os.listdir(path)) if path.exists() else []


def outcome(site, findings, db: dict, tree: dict) -> str:
    if snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree:
        return "untouched"
    problems = site_problems(site)
    left = [f.path for f in findings if f.kind not in ("stale_page", "stale_root_index", "missing_alias")
            and f.kind != "broken_alias" and os.path.lexists(site.output_path / f.path)]
    if not problems and not left:
        return "repaired"
    return f"HALF: {problems} {left}"


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_repair_killed_at_each_step_is_whole_or_never_happened(repository, ipc_dir, scenario, step):
    ran_before(repository)
    age_site(repository)
    package, findings = SCENARIOS[scenario](repository)
    chase = MrChase(make_config(repository, ipc_dir, master_queue=f"ipc://{ipc_dir}/no-master"), ipc_dir)
    staged_before = sorted(os.listdir(repository.output_path / ".mr-chase" / "staging"))
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    proc = run_repair(repository, ipc_dir, package, findings, {"MR_CHASE_CRASH_AT": step})
    assert proc.returncode == 70, proc.stdout + proc.stderr
    assert journal_pending(repository.output_path)
    chase.start()  # recovery settles the journal before the queue is served
    try:
        state = outcome(repository, findings, db, tree)
        expected = {"untouched"} if step in BEFORE_COMMIT else {"repaired"} if step in AFTER_COMMIT \
            else {"untouched", "repaired"}
        assert state in expected, f"{step}: {state}\n{chase.log()}"
        assert not journal_pending(repository.output_path)
        assert sorted(os.listdir(repository.output_path / ".mr-chase" / "staging")) == \
            (staged_before if state == "untouched" else [])
        assert not list(repository.simple.rglob("*.tmp"))
        records = repair_records(ipc_dir)
        if state == "untouched":
            assert records == [] and outbox(repository) == []
            return
        (record,) = records
        assert record["request"][:2] == ["REPAIR", package]
        assert sum(record["counts"].values()) == len(findings)
        if package is not None:  # the site's repair rewrote the root index: its notice is REBUILD SEARCH
            assert [name for name in outbox(repository) if name.endswith(f"-{record['token']}.json")]
        assert len(outbox(repository)) == 1
    finally:
        chase.stop()


def test_a_kill_during_recovery_audits_and_notifies_the_repair_once(repository, ipc_dir):
    ran_before(repository)
    age_site(repository)
    package, findings = package_damage(repository)
    chase = MrChase(make_config(repository, ipc_dir, master_queue=f"ipc://{ipc_dir}/no-master"), ipc_dir)
    assert run_repair(repository, ipc_dir, package, findings, {"MR_CHASE_CRASH_AT": "committed"}).returncode == 70
    chase.start(env={"MR_CHASE_CRASH_AT": "recovery_audited"}, wait=False)
    assert chase.wait_exit(30) == 70
    assert journal_pending(repository.output_path) and len(repair_records(ipc_dir)) == 1
    chase.start()
    try:
        assert not journal_pending(repository.output_path)
        assert site_problems(repository) == []
        (record,) = repair_records(ipc_dir)
        assert record["outcome"] == "done (settled by recovery)"
        assert [name for name in outbox(repository) if name.endswith(f"-{record['token']}.json")] == \
            outbox(repository) and len(outbox(repository)) == 1
        entry = json.loads((repository.output_path / ".mr-chase" / "outbox" / outbox(repository)[0]).read_text())
        assert entry == ["REBUILD", ["BOTH", package]]
    finally:
        chase.stop()
