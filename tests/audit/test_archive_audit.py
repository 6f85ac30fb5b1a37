"""The audit covers the archives (issue 23): a listing of an archive host, as piw_archive ``state: listed`` writes
it (one ``package/filename`` per line, in the file system's order), compared with the ``files`` rows of its
location: orphan_archived_wheel and missing_archived_wheel found exactly, repaired (queued for the archive hosts;
the build removed), found no more by a second audit; a listing that cannot be read fails the job naming it."""

from __future__ import annotations

from pathlib import Path

import psycopg
from audit_helpers import audit, options, rewrite_pages, scan, shown, wheel
from chase_helpers import MrChase, make_config, wait_for

ARCHIVE1 = "https://archive1.piwheels.example/simple"
ARCHIVE2 = "https://archive2.piwheels.example/simple"
ORPHAN = "gamma-0.0.1-cp311-cp311-linux_armv7l.whl"


def move_to_archive(repository, package: str, version: str, index: int, location: str) -> str:
    """The ``index``-th file of a version now lives at ``location``: its row says so, its wheel left this host."""
    filename = wheel(repository, package, version, index)
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE files SET location = %s WHERE filename = %s", (location, filename))
    (repository.simple / package / filename).unlink()
    rewrite_pages(repository, package)
    return filename


def archived_site(repository, tmp_path: Path) -> dict:
    """alpha 0.1's two files at ARCHIVE1, the first missing from its host (a dead link); beta-tools 0.1's second
    file at ARCHIVE2 (listed by the ARCHIVE1 host too: a row elsewhere is no orphan); an orphan wheel and a
    file that is no wheel on the ARCHIVE1 host.  Returns the names and the listing's path."""
    alpha, beta = list(repository.manifest.packages["alpha"])[0], list(repository.manifest.packages["beta-tools"])[0]
    dead = move_to_archive(repository, "alpha", alpha, 0, ARCHIVE1)
    kept = move_to_archive(repository, "alpha", alpha, 1, ARCHIVE1 + "/")
    elsewhere = move_to_archive(repository, "beta-tools", beta, 1, ARCHIVE2)
    listing = tmp_path / "archive1.txt"
    listing.write_text(f"gamma/{ORPHAN}\nalpha/{kept}\ngamma/README.txt\nbeta-tools/{elsewhere}\n")
    return {"dead": dead, "kept": kept, "elsewhere": elsewhere, "beta": beta, "listing": str(listing)}


def archives(site: dict) -> list[dict]:
    return [{"location": ARCHIVE1 + "/", "listing": site["listing"]}]


def expected(site: dict) -> list[tuple]:
    return [("missing_archived_wheel", "alpha", f"{ARCHIVE1}/alpha/{site['dead']}",
             f"the database links it at {ARCHIVE1}; its archive host's listing lacks it (a dead link)"),
            ("orphan_archived_wheel", "gamma", f"{ARCHIVE1}/gamma/{ORPHAN}",
             f"{ARCHIVE1}'s archive host serves it; the database has no files row for it")]


def test_the_scan_finds_each_archive_kind_exactly_and_nothing_else(repository, tmp_path):
    site = archived_site(repository, tmp_path)
    assert scan(repository) == []  # no archives asked for: the archived rows are no finding
    assert shown(scan(repository, archives=archives(site))) == expected(site)
    assert shown(scan(repository, archives=archives(site), packages=["gamma"])) == expected(site)[1:]


def test_archive_findings_are_repaired_and_a_second_audit_finds_nothing(repository, mr_chase, tmp_path):
    site = archived_site(repository, tmp_path)
    repair = ["orphan_archived_wheel", "missing_archived_wheel"]
    job, found = audit(mr_chase.client, repair=repair, archives=archives(site))
    assert [(f["kind"], f["repaired"]) for f in sorted(found, key=lambda f: f["kind"])] == [
        ("missing_archived_wheel", True), ("orphan_archived_wheel", True)]
    orphan = next(f for f in found if f["kind"] == "orphan_archived_wheel")
    assert "queued for its archive hosts" in orphan["detail"]
    # the dead link's build went with its rows; its files (the dead one too: a mirror may still serve it) and the
    # orphan wait for the archive hosts
    pending = mr_chase.client("PENDING", ARCHIVE1)[1]
    assert sorted(pending["files"]) == sorted([["alpha", site["dead"]], ["alpha", site["kept"]], ["gamma", ORPHAN]])
    with psycopg.connect(repository.dsn) as conn:
        assert conn.execute("SELECT count(*) FROM files WHERE filename = ANY(%s)",
                            ([site["dead"], site["kept"]],)).fetchone()[0] == 0
    # the host deleted what was pending (as piw_archive would): the next listing has neither
    Path(site["listing"]).write_text(f"beta-tools/{site['elsewhere']}\n")
    again, found = audit(mr_chase.client, repair=repair, archives=archives(site))
    # (the project page still lists the removed build until piw-master, told by the repair, rewrites it)
    assert {(f["kind"], f["package"]) for f in found} == {("stale_project_page", "alpha")}  # page and JSON
    assert again["counts"]["orphan_archived_wheel"] == again["counts"]["missing_archived_wheel"] == 0


def test_a_wheel_one_mirror_lacks_is_repaired_and_queued_for_the_mirror_that_serves_it(repository, mr_chase,
                                                                                         tmp_path):
    """Two hosts serve ARCHIVE1, each listing compared on its own: the wheel only the second lacks is a dead link
    for its users; the repair removes its build and queues the wheel, so the first host deletes its copy and a
    second audit finds no orphan there."""
    site = archived_site(repository, tmp_path)
    mirror = tmp_path / "mirror.txt"
    mirror.write_text(f"alpha/{site['dead']}\nalpha/{site['kept']}\n")  # this mirror still serves the dead one
    both = [{"location": ARCHIVE1, "listing": str(mirror)}, *archives(site)]
    job, found = audit(mr_chase.client, repair=["missing_archived_wheel"], archives=both)
    assert [(f["kind"], f["path"], f["repaired"]) for f in found if f["kind"] == "missing_archived_wheel"] == [
        ("missing_archived_wheel", f"{ARCHIVE1}/alpha/{site['dead']}", True)]
    assert ["alpha", site["dead"]] in mr_chase.client("PENDING", ARCHIVE1)[1]["files"]


def test_a_missing_wheel_repair_leaves_the_builds_archived_files_pending(repository, mr_chase, tmp_path):
    site = archived_site(repository, tmp_path)
    local = wheel(repository, "beta-tools", site["beta"], 0)
    (repository.simple / "beta-tools" / local).unlink()
    job, found = audit(mr_chase.client, repair=["missing_wheel"], packages=["beta-tools"])
    assert [(f["kind"], f["repaired"]) for f in found] == [("missing_wheel", True)]
    assert mr_chase.client("PENDING", ARCHIVE2)[1]["files"] == [["beta-tools", site["elsewhere"]]]


def test_a_listing_that_cannot_be_read_fails_the_job_naming_it(repository, mr_chase, tmp_path):
    missing = str(tmp_path / "nowhere" / "archive1.txt")
    reply = mr_chase.client("AUDIT", options(archives=[{"location": ARCHIVE1, "listing": missing}]))
    assert reply[0] == "AUDIT", reply
    wait_for(lambda: mr_chase.client("JOB", reply[1]["id"], 0)[1]["state"] in ("done", "failed"))
    job = mr_chase.client("JOB", reply[1]["id"], 0)[1]
    assert job["state"] == "failed"
    assert job["error"] == (f"ListingError: cannot read the archive listing {missing}: No such file or directory "
                            "(copy the listing piw_archive state listed wrote to the master, readable by Mr Chase's "
                            "user)")


def test_a_repair_moves_a_mounted_archive_s_files_inside_its_change(repository, ipc_dir, tmp_path):
    """An archive mounted on the master (config ``archives``): a build the repair deletes takes its file there
    inside the change, as REMOVE does, and leaves nothing pending."""
    root = tmp_path / "mounted"
    version = list(repository.manifest.packages["gamma"])[0]
    filename = move_to_archive(repository, "gamma", version, 1, ARCHIVE1)
    mounted = root / "simple" / "gamma" / filename
    mounted.parent.mkdir(parents=True)
    mounted.write_bytes(b"archived")
    (repository.simple / "gamma" / wheel(repository, "gamma", version, 0)).unlink()
    chase = MrChase(make_config(repository, ipc_dir, archives=[{"location": ARCHIVE1, "path": str(root)}]), ipc_dir)
    chase.start()
    try:
        job, found = audit(chase.client, repair=["missing_wheel"], packages=["gamma"])
        assert [(f["kind"], f["repaired"]) for f in found] == [("missing_wheel", True)]
        assert not mounted.exists() and mounted.parent.is_dir()
        assert chase.client("PENDING", ARCHIVE1)[1]["total"] == 0
        assert not any((root / ".mr-chase-staging").glob("*/*"))
    finally:
        chase.stop()
