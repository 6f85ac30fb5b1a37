"""Kill Mr Chase at random points during removals; after every restart each removal is whole or never happened.

Each cycle starts a real Mr Chase, fires REMOVE requests for versions of
distinct packages (so each package page is touched by one removal at most),
and then either SIGKILLs the process after a random delay sized to land
inside the burst, or lets the MR_CHASE_CRASH_AT hook end it abruptly at a
random step.  Sometimes the restart is killed too, while it recovers.  After
the restart that is allowed to finish, every version of the cycle must be

* complete: no build, file, dependency or download row, no wheel on disk,
  and the package page lists exactly the files left in the database; or
* untouched: its rows, its wheels and the package page byte-identical to the
  snapshot taken before the cycle.

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

STEPS = ["journal_written", "moving", "moved", "committed", "page_replaced", "files_deleted"]
REASON = "crash test"
SIGKILLS = scaled(24, 240)
HOOK_EXITS = scaled(8, 60)
PER_CYCLE = 3


@pytest.fixture
def repository_spec():
    # enough versions that completed removals never exhaust a package
    return RepositorySpec(packages=6, versions=scaled(25, 140), builds=1, files=2, downloads=2)


def version_rows(conn: psycopg.Connection, package: str, version: str) -> dict:
    """Every row that belongs to one version, every column, in a stable order."""
    key = (package, version)
    files = "SELECT f.filename FROM files f JOIN builds b USING (build_id) WHERE b.package = %s AND b.version = %s"
    return {
        "version": conn.execute("SELECT * FROM versions WHERE package = %s AND version = %s", key).fetchall(),
        "builds": conn.execute("SELECT * FROM builds WHERE package = %s AND version = %s ORDER BY build_id",
                               key).fetchall(),
        "files": conn.execute(f"SELECT * FROM files WHERE filename IN ({files}) ORDER BY filename", key).fetchall(),
        "dependencies": conn.execute(f"SELECT * FROM dependencies WHERE filename IN ({files}) ORDER BY 1, 2, 3",
                                     key).fetchall(),
        "downloads": conn.execute(f"SELECT * FROM downloads WHERE filename IN ({files}) ORDER BY 1, 2, 3",
                                  key).fetchall(),
    }


def digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def snapshot(conn, repository, package: str, version: str) -> dict:
    files = repository.manifest.files(package, version)
    return {
        "rows": version_rows(conn, package, version),
        "wheels": {f: digest(repository.simple / package / f) for f in files},
        "page": digest(repository.simple / package / "index.html"),
    }


def state(conn, repository, package: str, version: str, before: dict) -> str:
    """'complete', 'untouched', or a description of a half-done removal."""
    now = snapshot(conn, repository, package, version)
    if now == before:
        return "untouched"
    rows = now["rows"]
    on_disk = [f for f, h in now["wheels"].items() if h is not None]
    db_files = dict(conn.execute("SELECT f.filename, trim(f.filehash) FROM files f JOIN builds b USING (build_id) "
                                 "WHERE b.package = %s", (package,)).fetchall())
    links = {name: attrs["href"].split("#sha256=", 1)[1] for name, attrs in page_links(repository, package).items()}
    gone = not rows["builds"] and not rows["files"] and not rows["dependencies"] and not rows["downloads"]
    skipped = rows["version"] and rows["version"][0][3] == REASON  # packages, version, released, skip, yanked
    if gone and skipped and not on_disk and links == db_files:
        return "complete"
    return (f"HALF: rows={ {k: len(v) for k, v in rows.items()} } skip={rows['version']} on_disk={on_disk} "
            f"page_matches_db={links == db_files}")


def assert_tree_settled(repository) -> None:
    state_dir = repository.output_path / ".mr-chase"
    assert not journal_pending(state_dir.parent), "a journal survived the restart"
    assert not list((state_dir / "staging").iterdir()), "staged wheels survived the restart"
    assert not list(repository.simple.rglob(".*.tmp")), "a temporary page survived the restart"


def test_sigkill_during_removals_loses_nothing(repository, ipc_dir):
    seed = int(os.environ.get("PIW_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"seed={seed} (rerun with PIW_SEED={seed})")
    chase = MrChase(make_config(repository, ipc_dir, log_level="info"), ipc_dir)
    intact = {p: list(vs) for p, vs in repository.manifest.packages.items()}
    counts = {"sigkills": 0, "hook_exits": 0, "kills_during_recovery": 0, "complete": 0, "untouched": 0, "lost": 0}
    done_seen = 0
    # how long one removal takes here, so random kills land inside the burst
    chase.start()
    started = time.monotonic()
    package = rng.choice(sorted(intact))
    assert chase.client("REMOVE", package, intact[package].pop(), REASON) == ["DONE"]
    removal_s = max(time.monotonic() - started, 0.005)
    modes = ["kill"] * SIGKILLS + ["hook"] * HOOK_EXITS
    rng.shuffle(modes)
    try:
        with psycopg.connect(repository.dsn, autocommit=True) as conn:
            for mode in modes:
                packages = rng.sample(sorted(p for p, vs in intact.items() if vs), PER_CYCLE)
                targets = [(p, rng.choice(intact[p])) for p in packages]
                before = {t: snapshot(conn, repository, *t) for t in targets}
                messages = [["REMOVE", *target, REASON] for target in targets]
                replies = crash_during(chase, messages, mode, rng, removal_s * (len(targets) + 0.5), STEPS, counts)
                chase.start()  # recovery runs before the queue is served
                assert_tree_settled(repository)
                for target, reply in zip(targets, replies, strict=True):
                    outcome = state(conn, repository, *target, before[target])
                    if outcome == "complete":
                        intact[target[0]].remove(target[1])
                    elif outcome == "untouched":
                        assert reply is None, f"{target} answered {reply} but nothing happened"
                    else:
                        counts["lost"] += 1
                        print(f"LOST {target}: {outcome}")
                        continue
                    done_seen += reply == ["DONE"]
                    counts[outcome] += 1
    finally:
        chase.stop()
    recovered = chase.log().count("recovered the removal of")
    report("crash_consistency", seed=seed, cycles=len(modes), kills=counts["sigkills"] + counts["hook_exits"]
           + counts["kills_during_recovery"], **counts, done_replies=done_seen, journals_recovered=recovered)
    assert counts["lost"] == 0
    assert counts["sigkills"] >= scaled(20, 200)
