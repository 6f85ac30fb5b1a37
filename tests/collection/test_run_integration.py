"""`make integration`'s shards (tools/run_integration.py): every target in exactly one shard, the shards of about
equal time, each shard's copy of the collection fresh but for ansible-test's own output."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools/run_integration.py"
_spec = importlib.util.spec_from_file_location("run_integration", TOOL)
run_integration = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(run_integration)


def test_every_target_but_the_hidden_setup_is_run():
    targets = run_integration.all_targets()
    assert "setup_mr_chase" not in targets
    assert {"piw_remove", "piw_audit", "mr_chase", "archive_runbook"} <= set(targets)
    assert targets == sorted(targets)


def test_the_targets_are_dealt_once_each_into_shards_of_about_equal_time():
    targets = run_integration.all_targets()
    groups = run_integration.deal(targets, 2)
    assert len(groups) == 2
    assert sorted(target for group in groups for target in group) == targets
    seconds = [sum(run_integration.SECONDS.get(t, run_integration.DEFAULT_SECONDS) for t in g) for g in groups]
    longest = max(run_integration.SECONDS.values())
    assert abs(seconds[0] - seconds[1]) <= longest


def test_fewer_targets_than_shards_make_fewer_shards_and_a_new_target_counts_as_the_default():
    assert run_integration.deal(["piw_remove"], 2) == [["piw_remove"]]
    assert run_integration.deal(["brand_new", "piw_remove"], 3) == [["brand_new"], ["piw_remove"]]


def test_no_shard_is_refused_by_name():
    result = subprocess.run([sys.executable, TOOL, "--state", "/nonexistent", "--shards", "0"], capture_output=True,
                            text=True)
    assert result.returncode == 2
    assert "--shards must be 1 or more" in result.stderr


def test_a_shard_copies_the_collection_and_keeps_only_ansible_tests_output(tmp_path):
    shard = run_integration.Shard(tmp_path, 1)
    output = shard.collection / "tests/output/.tmp/kept"
    output.mkdir(parents=True)
    stale = shard.collection / "plugins/modules/removed_since.py"
    stale.parent.mkdir(parents=True)
    stale.write_text("# a module the checkout no longer has\n")
    shard.prepare()
    assert output.is_dir()
    assert not stale.exists()
    assert (shard.collection / "galaxy.yml").read_bytes() == (run_integration.COLLECTION / "galaxy.yml").read_bytes()
    config = (shard.collection / "tests/integration/integration_config.yml").read_text()
    assert f"piw_state_dir: {shard.state}\n" in config and f"piw_repo_root: {ROOT}\n" in config
    assert not (shard.collection / ".ansible").exists()
    assert (shard.home / ".ansible/test/cache").is_dir()
