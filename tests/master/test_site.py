"""The whole site after a removal: the master's page format, archived links, piw-master told what changed."""

from __future__ import annotations

import json
import time

import psycopg
import pytest
from chase_helpers import MrChase, make_config, page_links, scalar, wait_for

from piwheels_testbed.master import StandInMaster
from piwheels_testbed.scribe import simple_page

ARCHIVE = "https://archive1.piwheels.org/simple"


def without_timestamp(page: str) -> str:
    body, _sep, stamp = page.rpartition("\n<!--")
    assert stamp.endswith("-->") and "\n" not in stamp
    return body


def scribe_page(repository, package: str) -> str:
    """The page piw-master's page writer would write for the database as it is now."""
    with psycopg.connect(repository.dsn) as conn:
        rows = conn.execute("""SELECT b.version, f.filename, rtrim(f.filehash), f.requires_python, v.yanked,
                                      f.location
                               FROM builds b JOIN files f USING (build_id)
                               JOIN versions v ON v.package = b.package AND v.version = b.version
                               WHERE b.package = %s""", (package,)).fetchall()
    return simple_page(package, rows)


def archive(repository, package: str, version: str) -> list[str]:
    """Move a version's files to the archive server, as piwheels does with old wheels; return their names."""
    files = repository.manifest.files(package, version)
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE files SET location = %s WHERE filename = ANY(%s)", (ARCHIVE, files))
    for name in files:
        (repository.simple / package / name).unlink()
    return files


@pytest.fixture
def master(ipc_dir, repository):
    stand_in = StandInMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    yield stand_in
    stand_in.stop()


def test_the_page_after_a_removal_is_the_masters_page(service, repository):
    assert service("REMOVE", "alpha", "1.0", True) == ["DONE"]
    written = (repository.simple / "alpha" / "index.html").read_text()
    assert without_timestamp(written) == without_timestamp(scribe_page(repository, "alpha"))
    assert written.startswith("<!doctype html>\n<html>\n<head>\n<title>piwheels - Links for alpha</title>")


def test_archived_links_survive_and_archived_files_are_reported_not_missing(service, repository, ipc_dir):
    kept = archive(repository, "alpha", "1.2")
    gone = archive(repository, "alpha", "1.0")
    status = service("STATUS", "alpha", "1.0")[1]
    assert status["archived"] == sorted(gone) and status["files"] == sorted(gone)
    assert service("REMOVE", "alpha", "1.0", False) == ["DONE"]
    links = page_links(repository, "alpha")
    assert not set(gone) & set(links)
    assert [links[name]["href"].split("#")[0] for name in kept] == [f"{ARCHIVE}/alpha/{name}" for name in kept]
    record = json.loads((ipc_dir / "audit.jsonl").read_text().splitlines()[-1])
    assert record["archived"] == gone and record["missing_on_disk"] == []
    assert scalar(repository.dsn, "SELECT count(*) FROM files WHERE filename = ANY(%s)", gone) == 0


def test_status_says_whether_the_site_is_refreshed(service):
    assert service("STATUS", "alpha", None)[1]["site_refresh"] is False
    assert service("STATUS", "alpha", "1.0")[1]["site_refresh"] is False


def test_the_master_is_told_and_no_page_of_the_site_lists_a_removed_file(repository, ipc_dir, master):
    files = repository.manifest.files("gamma", "1.1")
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    try:
        assert chase.client("STATUS", "gamma", None)[1]["site_refresh"] is True
        assert chase.client("REMOVE", "gamma", "1.1", "broken, see issue 7") == ["DONE"]
        wait_for(lambda: master.accepted)
        assert chase.client("SKIP", "gamma", "maintainer asked") == ["DONE"]
        wait_for(lambda: len(master.accepted) == 2)
        assert master.accepted == [["REMVER", ["gamma", "1.1", True, "broken, see issue 7", False]],
                                   ["REBUILD", ["BOTH", "gamma"]]]
        assert master.rejected == []
    finally:
        assert chase.stop() == 0
    site = repository.output_path
    project = json.loads((site / "project/gamma/json/index.json").read_text())
    assert project["releases"]["1.1"]["files"] == {} and project["releases"]["1.0"]["files"]
    for page in ("simple/gamma/index.html", "project/gamma/index.html", "project/gamma/json/index.json"):
        assert not any(name in (site / page).read_text() for name in files), page
    assert not any((site / "simple/gamma" / name).exists() for name in files)
    audit = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in audit if r["request"][0] == "NOTIFY"] == ["delivered", "delivered"]


def test_a_master_that_is_down_never_fails_a_removal_and_hears_of_it_later(repository, ipc_dir):
    queue = f"ipc://{ipc_dir}/master"
    chase = MrChase(make_config(repository, ipc_dir, master_queue=queue, master_timeout=0.5), ipc_dir).start()
    try:
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        outbox = repository.output_path / ".mr-chase" / "outbox"
        wait_for(lambda: "undelivered" in (ipc_dir / "audit.jsonl").read_text())
        assert len(list(outbox.iterdir())) == 1
        assert "no socket at" in chase.log() and "is piw-master running?" in chase.log()
        master = StandInMaster(queue, repository.dsn, repository.output_path).start()
        try:
            wait_for(lambda: master.accepted, timeout=40)
            assert master.accepted == [["REMVER", ["gamma", "1.0", True, "", False]]]
            wait_for(lambda: not list(outbox.iterdir()))
        finally:
            master.stop()
    finally:
        assert chase.stop() == 0


def test_an_undelivered_notice_waits_on_disk_across_a_restart(repository, ipc_dir):
    queue = f"ipc://{ipc_dir}/master"
    config = make_config(repository, ipc_dir, master_queue=queue, master_timeout=0.3)
    chase = MrChase(config, ipc_dir).start()
    assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
    wait_for(lambda: "undelivered" in (ipc_dir / "audit.jsonl").read_text())
    assert chase.stop() == 0
    master = StandInMaster(queue, repository.dsn, repository.output_path).start()
    try:
        chase.start()
        wait_for(lambda: master.accepted)
        assert master.accepted == [["REMVER", ["gamma", "1.0", True, "", False]]]
    finally:
        master.stop()
        chase.stop()


def test_nothing_changed_means_nothing_sent(repository, ipc_dir, master):
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    try:
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        wait_for(lambda: master.accepted)
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        assert chase.client("UNSKIP", "gamma", None) == ["DONE"]
        assert chase.client("YANK", "gamma", "1.1", False) == ["DONE"]
        time.sleep(0.5)
        assert len(master.accepted) == 1
    finally:
        chase.stop()


def test_each_change_tells_the_master_what_gets_its_pages_rewritten(repository, ipc_dir, master):
    """YANK, UNSKIP and FORGET: REBUILD BOTH (the master rewrites the simple page, project page and JSON);
    DELETE: REBUILD SEARCH.  Never REMPKG, and never REMVER after FORGET (the master would answer NOVER)."""
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue), ipc_dir).start()
    try:
        requests = [("YANK", "alpha", "1.0", True), ("SKIP", "beta-tools", "maintainer asked"),
                    ("UNSKIP", "beta-tools", None), ("FORGET", "gamma", "1.0"), ("DELETE", "beta-tools")]
        for count, request in enumerate(requests, 1):
            assert chase.client(*request) == ["DONE"]
            # one at a time: a rewrite of beta-tools delivered after its deletion would be refused
            wait_for(lambda count=count: len(master.accepted) == count)
        assert master.accepted == [["REBUILD", ["BOTH", "alpha"]], ["REBUILD", ["BOTH", "beta-tools"]],
                                   ["REBUILD", ["BOTH", "beta-tools"]], ["REBUILD", ["BOTH", "gamma"]],
                                   ["REBUILD", ["SEARCH"]]]
        assert master.rejected == []
        # the master's pages followed: alpha 1.0 is yanked in its JSON, gamma 1.0 is gone from it
        wait_for(lambda: "1.0" not in json.loads((repository.output_path / "project" / "gamma" / "json"
                                                  / "index.json").read_text())["releases"])
        audit = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
        assert [line["outcome"] for line in audit if line["request"][0] == "NOTIFY"] == ["delivered"] * 5
    finally:
        chase.stop()
