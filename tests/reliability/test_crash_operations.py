"""Kill Mr Chase at random points during FORGET and DELETE; after every restart each is whole or never happened.

The same method as test_crash_consistency.py (REMOVE), for the two changes
of issue 14 that take rows and files together: each cycle fires a DELETE of
one package and a FORGET of a version of another at a real Mr Chase, then
SIGKILLs it after a random delay (sometimes killing the restart as well) or
lets the MR_CHASE_CRASH_AT hook end it at a random step.  After the restart
that is allowed to finish, each request must be

* complete: for DELETE no row of the package (package, aliases, versions,
  builds, files, dependencies, downloads), neither of its directories nor
  its alias link, and the root index without it; for FORGET no row of the
  version, none of its wheels, and the package page listing exactly the
  files left in the database; or
* untouched: its rows and files byte-identical to the snapshot before the cycle.

Anything else is counted as lost, and lost must be zero.
"""

from __future__ import annotations

import hashlib
import os
import random
import time
from pathlib import Path

import psycopg
import pytest
from chase_helpers import MrChase, journal_pending, make_config, page_links
from figures import report
from reliability_helpers import crash_during, scaled

from piwheels_testbed import RepositorySpec

#: the steps both operations pass (yank-only steps are covered in tests/service/test_atomicity.py)
STEPS = ["journal_written", "moving", "moved", "committing", "committed", "page_replaced", "cleaning", "files_deleted"]
SIGKILLS = scaled(16, 160)
HOOK_EXITS = scaled(8, 48)


@pytest.fixture
def repository_spec():
    return RepositorySpec(packages=(SIGKILLS + HOOK_EXITS) * 2 + 4, versions=4, builds=1, files=3, downloads=2)


def alias_of(package: str) -> str:
    return f"{package.upper()}_Old"


def add_aliases(repository) -> None:
    """An alias row and its project/<alias> symlink per package, as piw-master's page writer leaves them."""
    with psycopg.connect(repository.dsn) as conn:
        for package in repository.manifest.packages:
            conn.execute("INSERT INTO package_names (name, package, seen) VALUES (%s, %s, now()) "
                         "ON CONFLICT DO NOTHING", (alias_of(package), package))
            (repository.output_path / "project" / package).mkdir(parents=True, exist_ok=True)
            (repository.output_path / "project" / alias_of(package)).symlink_to(package)


def tree_digest(path: Path) -> dict:
    if path.is_symlink():
        return {"link": os.readlink(path)}
    if not path.is_dir():
        return {}
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(path.rglob("*")) if p.is_file()}


def rows(conn, query: str, *args) -> list:
    return conn.execute(query, args).fetchall()


def package_snapshot(conn, repository, package: str) -> dict:
    files = [f for v in repository.manifest.packages[package] for f in repository.manifest.files(package, v)]
    return {
        "package": rows(conn, "SELECT * FROM packages WHERE package = %s", package),
        "names": rows(conn, "SELECT name FROM package_names WHERE package = %s ORDER BY 1", package),
        "versions": rows(conn, "SELECT * FROM versions WHERE package = %s ORDER BY version", package),
        "builds": rows(conn, "SELECT * FROM builds WHERE package = %s ORDER BY build_id", package),
        "files": rows(conn, "SELECT * FROM files WHERE filename = ANY(%s) ORDER BY 1", files),
        "downloads": rows(conn, "SELECT * FROM downloads WHERE filename = ANY(%s) ORDER BY 1, 2, 3", files),
        "simple": tree_digest(repository.simple / package),
        "project": tree_digest(repository.output_path / "project" / package),
        "alias": tree_digest(repository.output_path / "project" / alias_of(package)),
        "listed": f'<a href="{package}">' in (repository.simple / "index.html").read_text(),
    }


def deleted_state(snapshot: dict) -> str:
    if all(not value for value in snapshot.values()):
        return "complete"
    return "HALF: " + ", ".join(key for key, value in snapshot.items() if value)


def version_snapshot(conn, repository, package: str, version: str) -> dict:
    files = repository.manifest.files(package, version)
    return {
        "version": rows(conn, "SELECT * FROM versions WHERE package = %s AND version = %s", package, version),
        "files": rows(conn, "SELECT * FROM files WHERE filename = ANY(%s) ORDER BY 1", files),
        "downloads": rows(conn, "SELECT * FROM downloads WHERE filename = ANY(%s) ORDER BY 1, 2, 3", files),
        "wheels": [f for f in files if (repository.simple / package / f).exists()],
        "page": hashlib.sha256((repository.simple / package / "index.html").read_bytes()).hexdigest(),
    }


def forgotten_state(conn, repository, package: str, now: dict) -> str:
    db_files = {r[0] for r in rows(conn, "SELECT f.filename FROM files f JOIN builds b USING (build_id) "
                                         "WHERE b.package = %s", package)}
    page_matches = set(page_links(repository, package)) == db_files
    if not now["version"] and not now["files"] and not now["downloads"] and not now["wheels"] and page_matches:
        return "complete"
    return f"HALF: version={now['version']} files={len(now['files'])} wheels={now['wheels']} page={page_matches}"


def test_sigkill_during_forget_and_delete_loses_nothing(repository, ipc_dir):
    seed = int(os.environ.get("PIW_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"seed={seed} (rerun with PIW_SEED={seed})")
    add_aliases(repository)
    chase = MrChase(make_config(repository, ipc_dir, log_level="info"), ipc_dir)
    packages = sorted(repository.manifest.packages)
    rng.shuffle(packages)
    forgettable = {p: list(repository.manifest.packages[p]) for p in packages}
    counts = {"sigkills": 0, "hook_exits": 0, "kills_during_recovery": 0, "complete": 0, "untouched": 0, "lost": 0}
    chase.start()
    started = time.monotonic()
    assert chase.client("DELETE", packages.pop()) == ["DONE"]
    change_s = max(time.monotonic() - started, 0.005)
    modes = ["kill"] * SIGKILLS + ["hook"] * HOOK_EXITS
    rng.shuffle(modes)
    try:
        with psycopg.connect(repository.dsn, autocommit=True) as conn:
            for mode in modes:
                doomed = packages.pop()
                other = next(p for p in packages if forgettable[p])
                version = rng.choice(forgettable[other])
                before_pkg = package_snapshot(conn, repository, doomed)
                before_ver = version_snapshot(conn, repository, other, version)
                messages = [["DELETE", doomed], ["FORGET", other, version]]
                rng.shuffle(messages)
                replied = crash_during(chase, messages, mode, rng, change_s * 2.5, STEPS, counts)
                replies = dict(zip((m[0] for m in messages), replied, strict=True))
                chase.start()
                assert not journal_pending(repository.output_path), "a journal survived the restart"
                assert not list((repository.output_path / ".mr-chase" / "staging").iterdir())
                assert not list(repository.simple.rglob(".*.tmp")), "a temporary page survived the restart"
                after_pkg = package_snapshot(conn, repository, doomed)
                outcome = "untouched" if after_pkg == before_pkg else deleted_state(after_pkg)
                counts = tally(counts, "DELETE", doomed, outcome, replies["DELETE"])
                if outcome == "untouched":
                    packages.insert(0, doomed)
                after_ver = version_snapshot(conn, repository, other, version)
                outcome = ("untouched" if after_ver == before_ver
                           else forgotten_state(conn, repository, other, after_ver))
                counts = tally(counts, "FORGET", (other, version), outcome, replies["FORGET"])
                if outcome == "complete":
                    forgettable[other].remove(version)
    finally:
        chase.stop()
    report("crash_operations", seed=seed, cycles=len(modes), **counts,
           journals_recovered=chase.log().count("recovered the"))
    assert counts["lost"] == 0
    assert counts["sigkills"] + counts["hook_exits"] == len(modes)


def tally(counts: dict, request: str, target, outcome: str, reply: list | None) -> dict:
    if outcome in ("complete", "untouched"):
        if outcome == "untouched":
            assert reply is None, f"{request} {target} answered {reply} but nothing happened"
        counts[outcome] += 1
    else:
        counts["lost"] += 1
        print(f"LOST {request} {target}: {outcome}")
    return counts
