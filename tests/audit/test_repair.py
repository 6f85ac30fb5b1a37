"""The site audit's repair (issue 22): each kind of damage made for real, repaired, and the site whole again.

Service.repair runs in-process (no request reaches it yet: the audit job of
helper scan hands it findings) against a real PostgreSQL, as Mr Chase's own
least-privilege role, and a real tree.  Each test breaks the testbed by
hand (repair_helpers.py), builds the findings the audit contract says the
scanner reports, repairs them and checks the site directly: every page link
has its file and its row, no wheel is without a row.
"""

from __future__ import annotations

import json
import os
import threading
import time

import pytest
import repair_helpers as damage
from chase_helpers import make_config, scalar, snapshot_db, snapshot_tree, wait_for
from mr_chase.config import parse_config
from mr_chase.findings import Finding
from mr_chase.service import Service
from mr_chase.site_repair import GONE, NO_MASTER
from repair_helpers import MIN_AGE, age_site, package_files, site_problems

from piwheels_testbed import RepositorySpec
from piwheels_testbed.master import StandInMaster


@pytest.fixture
def repository_spec():
    return RepositorySpec(builds=2)  # a missing wheel's build goes, never the version's other build


@pytest.fixture
def site(repository):
    age_site(repository)
    assert site_problems(repository) == []
    return repository


def make_service(repository, ipc_dir, **config) -> Service:
    svc = Service(parse_config(make_config(repository, ipc_dir, **config)))
    svc.recover()
    return svc


@pytest.fixture
def service(site, ipc_dir):
    svc = make_service(site, ipc_dir)
    yield svc
    svc.db.close()


def audit_records(ipc_dir) -> list[dict]:
    path = ipc_dir / "audit.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


PACKAGE_KINDS = {
    "orphan_wheel": damage.orphan_wheel,
    "missing_wheel": damage.missing_wheel,
    "hash_mismatch": damage.hash_mismatch,
    "stale_page": damage.stale_page,
    "missing_page": damage.missing_page,
    "foreign_file": damage.foreign_file,
    "broken_alias": damage.broken_aliases,
    "missing_alias": damage.missing_alias,
}


@pytest.mark.parametrize("kind", sorted(PACKAGE_KINDS))
def test_each_kind_of_a_package_is_repaired_and_the_site_is_whole(site, service, ipc_dir, kind):
    findings = PACKAGE_KINDS[kind](site)
    package = findings[0].package
    assert site_problems(site) != [] or kind == "foreign_file"
    repaired = service.repair(package, findings, MIN_AGE)
    assert [finding.repaired for finding in repaired] == [True] * len(findings), repaired
    assert site_problems(site) == []
    for finding in findings:
        if kind in ("orphan_wheel", "foreign_file", "hash_mismatch", "missing_wheel"):
            assert not os.path.lexists(site.output_path / finding.path)
    assert not any((site.output_path / ".mr-chase" / "staging").iterdir())
    assert (site.output_path / ".mr-chase" / "journal.json").stat().st_size == 0
    records = [r for r in audit_records(ipc_dir) if r["request"][0] == "REPAIR"]
    assert [r["request"] for r in records] == [["REPAIR", package, [kind]]]
    assert records[0]["counts"] == {kind: len(findings)} and records[0]["repaired"] == len(findings)
    assert records[0]["token"]
    # a second repair of the same findings finds nothing to do and changes nothing
    db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
    again = service.repair(package, findings, MIN_AGE)
    assert [(f.repaired, f.detail) for f in again] == [(False, GONE)] * len(findings)
    assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree


def test_upstreams_plain_piw_remove_leaves_orphans_the_repair_takes_away(site, service):
    findings = damage.plain_piw_remove(site, "alpha", "1.2")
    repaired = service.repair("alpha", findings, MIN_AGE)
    assert all(finding.repaired for finding in repaired)
    assert site_problems(site) == []
    assert not [name for name in site.manifest.files("alpha", "1.2") if (site.simple / "alpha" / name).exists()]


def test_a_missing_wheels_build_goes_as_remove_takes_it_and_the_version_is_built_again(site, service):
    version_files = site.manifest.files("alpha", "1.0")
    (finding,) = damage.missing_wheel(site)
    build = scalar(site.dsn, "SELECT build_id FROM files WHERE filename = %s", finding.path.rsplit("/")[-1])
    built = [r[0] for r in damage.rows(site.dsn, "SELECT filename FROM files WHERE build_id = %s", build)]
    other = sorted(set(version_files) - set(built))
    assert len(built) == 2 and len(other) == 2
    (repaired,) = service.repair("alpha", [finding], MIN_AGE)
    assert repaired.repaired and "piwheels will build 1.0 again" in repaired.detail
    assert f"removed build {build} of 1.0" in repaired.detail
    assert scalar(site.dsn, "SELECT count(*) FROM builds WHERE build_id = %s", build) == 0
    assert scalar(site.dsn, "SELECT count(*) FROM downloads WHERE filename = ANY(%s)", built) == 0
    assert sorted(set(package_files(site.dsn, "alpha")) & set(version_files)) == other  # the other build stays
    assert all((site.simple / "alpha" / name).exists() for name in other)
    assert not any((site.simple / "alpha" / name).exists() for name in built)
    assert scalar(site.dsn, "SELECT count(*) FROM versions WHERE package = 'alpha' AND version = '1.0'") == 1
    assert site_problems(site) == []


@pytest.mark.parametrize("skipped", ["version", "package"])
def test_a_skipped_version_is_said_not_to_be_built_again(site, service, skipped):
    statement = {"version": "UPDATE versions SET skip = 'broken' WHERE package = 'alpha' AND version = '1.0'",
                 "package": "UPDATE packages SET skip = 'broken' WHERE package = 'alpha'"}[skipped]
    scalar(site.dsn, statement + " RETURNING 1")
    (repaired,) = service.repair("alpha", damage.hash_mismatch(site), MIN_AGE)
    assert repaired.repaired
    assert "piwheels will not build it again" in repaired.detail and "(broken)" in repaired.detail


def test_the_sites_own_findings_are_repaired_in_one_change(site, service, ipc_dir):
    findings = damage.stale_root_index(site) + damage.orphan_directories(site) + damage.leftover_staging(site)
    repaired = service.repair(None, findings, MIN_AGE)
    assert all(finding.repaired for finding in repaired), repaired
    for finding in findings[1:]:
        assert not os.path.lexists(site.output_path / finding.path)
    assert site_problems(site) == []
    assert (site.output_path / "project" / "gamma").is_dir()  # the orphan link went, not what it pointed at
    (record,) = [r for r in audit_records(ipc_dir) if r["request"][0] == "REPAIR"]
    assert record["request"] == ["REPAIR", None, ["leftover_staging", "orphan_directory", "stale_root_index"]]
    assert record["counts"] == {"stale_root_index": 1, "orphan_directory": 3, "leftover_staging": 2}


def test_a_foreign_file_is_left_alone_unless_named(site, service):
    foreign = damage.foreign_file(site)
    orphans = damage.orphan_wheel(site)
    assert [f.repaired for f in service.repair("alpha", orphans, MIN_AGE)] == [True]
    assert (site.simple / "alpha" / "notes.txt").read_text() == "left here by hand"
    assert [f.repaired for f in service.repair("alpha", foreign, MIN_AGE)] == [True]
    assert not (site.simple / "alpha" / "notes.txt").exists()


def test_damage_younger_than_min_age_is_left_alone(site, service):
    findings = damage.orphan_wheel(site) + damage.stale_page(site, "alpha") + damage.foreign_file(site)
    damage.age(*(site.output_path / finding.path for finding in findings), seconds=5)
    db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
    repaired = service.repair("alpha", findings, MIN_AGE)
    assert [(f.repaired, f.detail) for f in repaired] == [(False, GONE)] * 3
    assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree


def test_a_build_imported_after_min_age_began_is_no_missing_wheel(site, service):
    (finding,) = damage.missing_wheel(site)
    scalar(site.dsn, "UPDATE builds SET built_at = now() AT TIME ZONE 'UTC' WHERE build_id = "
                     "(SELECT build_id FROM files WHERE filename = %s) RETURNING 1", finding.path.rsplit("/")[-1])
    db = snapshot_db(site.dsn)
    (repaired,) = service.repair("alpha", [finding], MIN_AGE)
    assert (repaired.repaired, repaired.detail) == (False, GONE)
    assert snapshot_db(site.dsn) == db


def test_an_import_between_finding_and_repair_is_not_undone(site, service):
    """piw-master imported the orphan's build (its row now exists) and wrote the missing wheel again:
    both findings are stale by the time of the repair, and nothing the import made is touched."""
    (orphan,) = damage.orphan_wheel(site)
    (missing,) = damage.missing_wheel(site)
    (stale,) = damage.stale_page(site, "alpha")
    name = orphan.path.rsplit("/")[-1]
    with damage.psycopg.connect(site.dsn) as conn:  # the import: a build of a new version, its file row
        conn.execute("INSERT INTO versions (package, version, released) VALUES ('alpha', '9.9', now())")
        build = conn.execute("INSERT INTO builds (package, version, built_by, duration, status, abi_tag) "
                             "VALUES ('alpha', '9.9', 1, '1 minute', true, 'none') RETURNING build_id").fetchone()[0]
        conn.execute("INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                     "py_version_tag, abi_tag, platform_tag) VALUES (%s, %s, 1, %s, 'alpha', '9.9', 'py3', "
                     "'none', 'any')", (name, build, "0" * 64))
    wheel = site.output_path / missing.path
    wheel.write_bytes(b"imported again")
    db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
    repaired = service.repair("alpha", [orphan, missing], MIN_AGE)
    assert [(f.repaired, f.detail) for f in repaired] == [(False, GONE)] * 2
    assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree
    # the page is stale and young (the import's own page write is due): left alone too
    (left,) = service.repair("alpha", [stale], MIN_AGE)
    assert (left.repaired, left.detail) == (False, GONE)


def test_a_removal_between_finding_and_repair_is_not_undone(site, service):
    (missing,) = damage.missing_wheel(site, "alpha", "1.0")
    orphans = damage.plain_piw_remove(site, "gamma", "1.1")
    reply = service.handle([b'["REMOVE", "alpha", "1.0", true]'])
    service.after_reply()
    assert reply == b'["DONE"]'
    for name in site.manifest.files("gamma", "1.1"):  # an operator already cleaned up gamma by hand
        (site.simple / "gamma" / name).unlink()
    db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
    assert [f.repaired for f in service.repair("alpha", [missing], MIN_AGE)] == [False]
    assert [f.repaired for f in service.repair("gamma", orphans[:-1], MIN_AGE)] == [False, False, False, False]
    assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree


def test_a_deleted_package_has_no_findings_left(site, service):
    findings = damage.orphan_wheel(site, "gamma") + damage.stale_page(site, "gamma")
    reply = service.handle([b'["DELETE", "gamma"]'])
    service.after_reply()
    assert reply == b'["DONE"]'
    assert [f.repaired for f in service.repair("gamma", findings, MIN_AGE)] == [False, False]


def test_a_stale_project_page_without_a_master_is_not_refreshed(site, service):
    (finding,) = damage.stale_project_page(site)
    (result,) = service.repair("gamma", [finding], MIN_AGE)
    assert (result.repaired, result.detail) == (False, NO_MASTER)


def test_the_master_is_told_once_and_rewrites_the_project_page(site, ipc_dir):
    master = StandInMaster(f"ipc://{ipc_dir}/master", site.dsn, site.output_path).start()
    svc = make_service(site, ipc_dir, master_queue=master.queue)
    svc.notifier.start()
    try:
        findings = damage.stale_project_page(site) + damage.orphan_wheel(site, "gamma")
        repaired = svc.repair("gamma", findings, MIN_AGE)
        assert [f.repaired for f in repaired] == [True, True]
        project_json = site.output_path / "project" / "gamma" / "json" / "index.json"
        wait_for(lambda: "9.9" not in json.loads(project_json.read_text())["releases"])  # the master rewrote it
        assert master.sent("REBUILD") == [["REBUILD", ["BOTH", "gamma"]]]
        site_findings = damage.stale_root_index(site)
        assert [f.repaired for f in svc.repair(None, site_findings, MIN_AGE)] == [True]
        wait_for(lambda: len(master.sent("REBUILD")) == 2)
        assert master.sent("REBUILD")[1] == ["REBUILD", ["SEARCH"]]
    finally:
        svc.notifier.stop()
        svc.db.close()
        master.stop()


def test_a_finding_of_another_package_or_path_is_never_acted_on(site, service):
    db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
    wrong = [Finding("orphan_wheel", "gamma", "simple/alpha/" + site.manifest.files("alpha", "1.0")[0], "x"),
             Finding("orphan_wheel", "alpha", "simple/alpha/../gamma/index.html", "x"),
             Finding("foreign_file", "alpha", "simple/alpha/index.html", "x"),
             Finding("orphan_directory", "alpha", "simple/alpha", "x"),
             Finding("leftover_staging", None, ".mr-chase/journal.json", "x")]
    repaired = service.repair("alpha", wrong, MIN_AGE)
    assert [f.repaired for f in repaired] == [False] * len(wrong)
    assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree


def test_a_failed_repair_changes_nothing_and_says_why(site, ipc_dir):
    def fail(step):
        if step == "moved":
            raise RuntimeError("injected failure at moved")

    svc = Service(parse_config(make_config(site, ipc_dir)), checkpoint=fail)
    svc.recover()
    try:
        findings = damage.orphan_wheel(site) + damage.missing_wheel(site) + damage.foreign_file(site)
        db, tree = snapshot_db(site.dsn), snapshot_tree(site.output_path)
        repaired = svc.repair("alpha", findings, MIN_AGE)
        assert [f.repaired for f in repaired] == [False] * 3
        assert all(f.detail.endswith("(not repaired: injected failure at moved)") for f in repaired)
        assert snapshot_db(site.dsn) == db and snapshot_tree(site.output_path) == tree
    finally:
        svc.db.close()


def write_journal(site, record: dict) -> None:
    state = site.output_path / ".mr-chase"
    state.mkdir(exist_ok=True)
    (state / "journal.json").write_text(json.dumps(record))


def test_a_repair_without_evidence_is_undone_never_finished_on_a_guess(site, ipc_dir):
    """A repair journal whose xid is unknown and that deleted no row: its moves go back (the next audit finds
    the orphan again), nothing is deleted."""
    (orphan,) = damage.orphan_wheel(site)
    token = "ab" * 16
    staged = site.output_path / ".mr-chase" / "staging" / token
    staged.mkdir(parents=True)
    os.rename(site.output_path / orphan.path, staged / "0")
    write_journal(site, {"package": "alpha", "version": "", "token": token, "kind": "repair",
                         "moves": [[orphan.path, f".mr-chase/staging/{token}/0"]], "counts": {"orphan_wheel": 1}})
    svc = make_service(site, ipc_dir)
    svc.db.close()
    assert (site.output_path / orphan.path).read_bytes() == b"not a row's wheel"
    assert not staged.exists()
    assert (site.output_path / ".mr-chase" / "journal.json").stat().st_size == 0
    assert [r for r in audit_records(ipc_dir) if r["request"][0] == "REPAIR"] == []


def test_a_repair_journal_whose_moves_leave_its_staging_directory_is_set_aside(site, ipc_dir):
    """Recovery deletes (or moves back) what a repair journal lists: a tampered one naming a page of the site
    as a staged path is set aside, and the page stays where it is."""
    page = site.simple / "gamma" / "index.html"
    before = page.read_bytes()
    write_journal(site, {"package": "alpha", "version": "", "token": "cd" * 16, "kind": "repair",
                         "moves": [["simple/alpha/new.whl", "simple/gamma/index.html"]]})
    svc = make_service(site, ipc_dir)
    svc.db.close()
    assert page.read_bytes() == before and not (site.simple / "alpha" / "new.whl").exists()
    assert (site.output_path / ".mr-chase" / "journal.json").stat().st_size == 0
    assert list((site.output_path / ".mr-chase" / "set-aside").glob("*-journal.json"))


def test_an_import_in_flight_holds_the_repair_until_it_commits_and_then_wins(site, service):
    """piw-master's import of a build into alpha 1.0 is open (its INSERT holds a KEY SHARE lock on the version
    row) when the repair of an orphan wheel of that very name begins: the repair waits for the package's lock,
    then sees the imported row and leaves the wheel alone."""
    (orphan,) = damage.orphan_wheel(site)
    name = orphan.path.rsplit("/")[-1]
    importer = damage.psycopg.connect(site.dsn)
    build = importer.execute("INSERT INTO builds (package, version, built_by, duration, status, abi_tag) VALUES "
                             "('alpha', '1.0', 1, '1 minute', true, 'none') RETURNING build_id").fetchone()[0]
    importer.execute("INSERT INTO files (filename, build_id, filesize, filehash, package_tag, package_version_tag, "
                     "py_version_tag, abi_tag, platform_tag) VALUES (%s, %s, 1, %s, 'alpha', '1.0', 'py3', 'none', "
                     "'any')", (name, build, "0" * 64))
    committer = threading.Timer(1.0, importer.commit)
    committer.start()
    try:
        started = time.monotonic()
        (result,) = service.repair("alpha", [orphan], MIN_AGE)
        waited = time.monotonic() - started
    finally:
        committer.join()
        importer.close()
    assert waited >= 0.9, f"the repair did not wait for the import's lock ({waited:.2f} s)"
    assert (result.repaired, result.detail) == (False, GONE)
    assert (site.output_path / orphan.path).read_bytes() == b"not a row's wheel"
    assert scalar(site.dsn, "SELECT count(*) FROM files WHERE filename = %s", name) == 1
