"""The audit as a job of a real Mr Chase subprocess: AUDIT and JOB over the wire, every kind of damage at once,
check mode changing nothing, a REMOVE answered during an audit, joining and refusing, paging, ``last`` kept
across a restart."""

from __future__ import annotations

import json

import pytest
from audit_helpers import (
    audit,
    changed,
    counts,
    execute,
    fingerprint,
    options,
    rewrite_pages,
    scan,
    shown,
    site_state,
    wheel,
)
from chase_helpers import MrChase, make_config, wait_for
from mr_chase.findings import ARCHIVE_KINDS, KINDS

from piwheels_testbed.scribe import simple_index


def damage_everything(repository) -> None:
    """One of every kind the scan finds on a site (hash_mismatch needs verify_hashes)."""
    site, simple = repository.output_path, repository.simple
    execute(repository, "DELETE FROM versions WHERE package = 'gamma' AND version = '1.1'")  # upstream piw-remove
    rewrite_pages(repository, "gamma")
    (simple / "alpha" / wheel(repository, "alpha", "1.2")).unlink()
    (simple / "alpha" / wheel(repository, "alpha", "1.0", 1)).write_bytes(b"corrupt")
    execute(repository, "UPDATE versions SET yanked = true WHERE package = 'beta-tools' AND version = '1.2'")
    (simple / "gamma" / "index.html").unlink()
    (simple / "ghost" / "sub").mkdir(parents=True)
    (site / "project" / "Beta_Tools").unlink()
    (site / "project" / "Beta_Tools").symlink_to("gamma")
    (site / "project" / "beta_tools").unlink()
    (simple / "index.html").write_text(simple_index(["alpha", "beta-tools", "gamma", "zeta"]))
    data = site / "project" / "alpha" / "json" / "index.json"
    data.write_text(json.dumps({"releases": {"0.1": {"files": {}}, **json.loads(data.read_text())["releases"]}}))
    (simple / "alpha" / "notes.txt").write_text("x")
    (site / ".mr-chase" / "staging" / ("c" * 32)).mkdir(parents=True)


def test_every_kind_at_once_over_the_wire_and_check_mode_changes_nothing(repository, mr_chase):
    damage_everything(repository)
    before = site_state(repository)
    job, found = audit(mr_chase.client, verify_hashes=True)
    after = site_state(repository)
    assert fingerprint(after) == fingerprint(before), changed(before, after)
    assert counts(found) == job["counts"]
    # the archive kinds need listings of archive hosts: tests/audit/test_archive_audit.py
    assert {kind for kind, number in job["counts"].items() if number} == set(KINDS) - ARCHIVE_KINDS
    assert shown(found) == shown(scan(repository, verify_hashes=True))  # the wire carries what the scan finds
    assert not any(finding["repaired"] for finding in found)
    assert job["scanned"]["packages"] == job["progress"]["packages_done"] == job["progress"]["packages_total"] == 3
    assert job["scanned"]["files"] == 17  # the 18 wheels made, less the one deleted (orphans are on disk)
    assert job["scanned"]["bytes_hashed"] > 0


def test_a_clean_site_audited_over_the_wire_has_no_finding_and_status_reports_it(repository, mr_chase):
    job, found = audit(mr_chase.client, verify_hashes=True)
    assert found == [] and set(job["counts"].values()) == {0}
    assert job["scanned"] == {"packages": 3, "files": 18,
                              "bytes_hashed": sum(f.filesize for v in repository.manifest.packages.values()
                                                  for files in v.values() for f in files)}
    site = mr_chase.client("STATUS", None, None)[1]["audit"]
    assert site["running"] is None
    assert site["last"] == {"id": job["id"], "started": job["started"], "finished": job["finished"],
                            "options": options(verify_hashes=True), "counts": job["counts"],
                            "scanned": job["scanned"], "repaired": 0}


@pytest.fixture
def slow_chase(repository, ipc_dir):
    """Mr Chase whose scan waits 3 s between each batch's snapshot and its look at the disk."""
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_DELAY_AT": "audit_walk:3"})
    yield chase
    chase.stop()


def test_a_remove_during_a_whole_site_audit_is_answered(repository, slow_chase):
    client = slow_chase.client
    job = client("AUDIT", options())[1]
    assert client("REMOVE", "gamma", "1.0", False) == ["DONE"]
    # the scan waits 3 s in its only batch: a REMOVE that waited for the scan would come back after it ended
    assert client("JOB", job["id"], 0)[1]["state"] == "scanning"
    running = client("STATUS", None, None)[1]["audit"]["running"]
    assert running["id"] == job["id"] and running["state"] == "scanning" and running["options"] == options()


def test_a_second_audit_joins_with_the_same_options_and_is_refused_with_others(repository, slow_chase):
    client = slow_chase.client
    first = client("AUDIT", options())[1]
    assert first["joined"] is False and first["state"] == "scanning" and first["finished"] is None
    again = client("AUDIT", options())[1]
    assert again["id"] == first["id"] and again["joined"] is True
    refused = client("AUDIT", options(verify_hashes=True))
    assert refused == ["ERROR", f"an audit is already running (job {first['id']}, started {first['started']}, "
                                'options {"packages":null,"repair":[],"verify_hashes":false,"min_age":0,'
                                '"archives":[]}): wait for it, or run with the same options to join it']
    wait_for(lambda: client("JOB", first["id"], 0)[1]["state"] == "done")
    second = client("AUDIT", options(verify_hashes=True))[1]
    assert second["id"] != first["id"] and second["joined"] is False
    assert client("JOB", first["id"], 0) == ["ERROR", f"unknown audit job {first['id']} (jobs are kept until the "
                                                      "next audit starts or Mr Chase restarts)"]


def test_job_pages_findings_500_at_a_time(repository, mr_chase):
    for number in range(620):
        (repository.simple / "alpha" / f"alpha-0.{number}-py3-none-any.whl").write_bytes(b"x")
    job, found = audit(mr_chase.client)
    assert len(found) == 620 and job["counts"]["orphan_wheel"] == 620
    first = mr_chase.client("JOB", job["id"], 0)[1]
    assert len(first["findings"]) == 500 and first["next"] == 500
    last = mr_chase.client("JOB", job["id"], 500)[1]
    assert len(last["findings"]) == 120 and last["next"] is None
    assert mr_chase.client("JOB", job["id"], 10_000)[1]["findings"] == []
    assert first["findings"] + last["findings"] == found


def test_a_restart_keeps_the_last_audit(repository, ipc_dir):
    (repository.simple / "gamma" / "index.html").unlink()
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    try:
        job, _found = audit(chase.client)
    finally:
        assert chase.stop() == 0
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    try:
        site = chase.client("STATUS", None, None)[1]["audit"]
        assert site["running"] is None
        assert site["last"]["id"] == job["id"] and site["last"]["counts"]["missing_page"] == 1
        assert chase.client("JOB", job["id"], 0)[0] == "ERROR"  # the job itself is gone with the process
    finally:
        chase.stop()
    saved = json.loads((repository.output_path / ".mr-chase" / "last-audit.json").read_text())
    assert saved == site["last"]
