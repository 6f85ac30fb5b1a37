"""A site of more than one batch, checked by worker processes: the same findings, in the same order, as one
process finds; a real Mr Chase starts them (``audit_workers``) and stays up when one dies."""

from __future__ import annotations

import json

import pytest
from audit_helpers import audit, execute, options, scan, scan_of, shown, wheel
from chase_helpers import MrChase, make_config, wait_for
from mr_chase.site_scan import BATCH

from piwheels_testbed import RepositorySpec


@pytest.fixture
def repository_spec() -> RepositorySpec:
    """Two batches of the service's size (the second one of 7 packages); two wheels a version."""
    return RepositorySpec(packages=BATCH + 7, versions=1, files=2, downloads=0)


def damage(repository) -> set[str]:
    """Damage in the first package, in the middle and in the last (the second batch), and a directory of no
    package (found by the site-wide checks, in a worker of their own): the kinds made."""
    names = sorted(repository.manifest.packages)
    first, middle, last = names[0], names[len(names) // 2], names[-1]
    (repository.simple / first / wheel(repository, first, "1.0")).unlink()
    (repository.simple / middle / "notes.txt").write_text("x")
    (repository.simple / last / "index.html").unlink()
    (repository.simple / last / f"{last}-0.1-py3-none-any.whl").write_bytes(b"an orphan")
    execute(repository, "UPDATE versions SET yanked = true WHERE package = %s", middle)
    (repository.simple / "no-such-package").mkdir()
    return {"missing_wheel", "foreign_file", "missing_page", "orphan_wheel", "stale_page", "orphan_directory"}


def test_worker_processes_find_what_one_process_finds_in_the_same_order(repository):
    kinds = damage(repository)
    one, alone = scan_of(repository)
    many, in_workers = scan_of(repository, workers=2, batch=50)  # 11 batches over 2 processes
    assert in_workers == alone
    assert {finding.kind for finding in alone} == kinds
    assert many.scanned == one.scanned and one.scanned.packages == BATCH + 7
    assert many.packages_total == BATCH + 7


def test_a_real_mr_chase_checks_the_batches_in_its_workers(repository, ipc_dir):
    damage(repository)
    chase = MrChase(make_config(repository, ipc_dir, audit_workers=2), ipc_dir).start()
    try:
        job, found = audit(chase.client)
        assert shown(found) == shown(scan(repository))
        assert job["scanned"]["packages"] == job["progress"]["packages_done"] == BATCH + 7
        assert "2 batches in 2 worker processes" in chase.log()
        assert chase.client("PING")[0] == "PONG"
    finally:
        chase.stop()


def test_a_worker_that_dies_fails_the_audit_and_mr_chase_serves_on(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir, audit_workers=2), ipc_dir)
    chase.start(env={"MR_CHASE_CRASH_AT": "audit_walk"})  # the workers' step: Mr Chase itself never takes it
    try:
        client = chase.client
        job = client("AUDIT", options())[1]
        wait_for(lambda: client("JOB", job["id"], 0)[1]["state"] != "scanning")
        ended = client("JOB", job["id"], 0)[1]
        assert ended["state"] == "failed"
        assert "an audit worker process ended without its result" in ended["error"]
        assert "set audit_workers: 1" in ended["error"]
        assert client("PING")[0] == "PONG"
        assert client("STATUS", None, None)[1]["audit"]["running"] is None
        package = sorted(repository.manifest.packages)[0]
        assert client("REMOVE", package, "1.0", False) == ["DONE"]
    finally:
        assert chase.stop() == 0, chase.log()


def test_worker_processes_read_what_a_named_audit_names(repository):
    """A named audit of more than one batch goes to the workers too, and only its packages are checked."""
    damage(repository)
    names = sorted(repository.manifest.packages)
    chosen = [names[0], names[-1], names[len(names) // 2]]
    found = scan(repository, workers=2, batch=1, packages=chosen)
    assert shown(found) == shown(scan(repository, packages=chosen))
    assert {finding.package for finding in found} == set(chosen)
    assert json.dumps([finding.as_dict() for finding in found])  # the workers' findings travel as plain data
