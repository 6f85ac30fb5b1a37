"""What the audit tests share: running a scan or an audit, and damaging a testbed site as it is damaged for real."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import psycopg
from chase_helpers import snapshot_db, snapshot_tree
from mr_chase.findings import KINDS, Finding
from mr_chase.site_scan import BATCH, SiteScan
from mr_chase.tree import Tree

from piwheels_testbed.scribe import write_pages


def options(**chosen) -> dict:
    """AUDIT options; min_age 0 by default, as the testbed's files and builds are all seconds old."""
    return {"packages": None, "repair": [], "verify_hashes": False, "min_age": 0, "archives": [], **chosen}


def scan(repository, checkpoint=lambda step: None, workers: int = 1, batch: int = BATCH, **chosen) -> list[Finding]:
    """Every finding of a scan, in the order the scan yields them (as the service role); ``workers`` above 1
    checks its batches of ``batch`` packages in that many worker processes."""
    return scan_of(repository, checkpoint, workers, batch, **chosen)[1]


def scan_of(repository, checkpoint=lambda step: None, workers: int = 1, batch: int = BATCH,
            **chosen) -> tuple[SiteScan, list[Finding]]:
    """The scan itself (its ``scanned`` counts) and every finding it yielded."""
    site_scan = SiteScan(repository.service_dsn, Tree(repository.output_path), options(**chosen), lambda: False,
                         checkpoint, workers=workers, batch=batch)
    return site_scan, [finding for _package, findings in site_scan.run() for finding in findings]


def shown(findings) -> list[tuple]:
    """Findings as comparable tuples (kind, package, path, detail), sorted."""
    return sorted((f.kind, f.package, f.path, f.detail) if isinstance(f, Finding) else
                  (f["kind"], f["package"], f["path"], f["detail"]) for f in findings)


def audit(client, **chosen) -> tuple[dict, list[dict]]:
    """Run an audit through Mr Chase (AUDIT, then JOB until it has ended): the last job object and every
    finding, paged as the module pages them."""
    reply = client("AUDIT", options(**chosen))
    assert reply[0] == "AUDIT", reply
    job, found, offset = reply[1], list(reply[1]["findings"]), len(reply[1]["findings"])
    deadline = time.monotonic() + 60
    while job["next"] is not None:
        assert time.monotonic() < deadline, job
        reply = client("JOB", job["id"], offset)
        assert reply[0] == "JOB", reply
        job = reply[1]
        found += job["findings"]
        offset = job["next"] if job["next"] is not None else offset
        if job["state"] in ("scanning", "repairing") and not job["findings"]:
            time.sleep(0.02)
    assert job["state"] == "done", job
    return job, found


def counts(findings) -> dict[str, int]:
    every = dict.fromkeys(KINDS, 0)
    for finding in findings:
        every[finding["kind"] if isinstance(finding, dict) else finding.kind] += 1
    return every


def site_state(repository) -> dict:
    """Every row and every file of the site; the audit's own record of the last audit
    (.mr-chase/last-audit.json, STATUS' ``last``) is the one file an audit writes."""
    tree = snapshot_tree(repository.output_path)
    tree.pop(".mr-chase/last-audit.json", None)
    return {"db": snapshot_db(repository.dsn), "tree": tree}


def fingerprint(state: dict) -> str:
    """One hash of a site_state (tree and database byte-identical or not)."""
    return hashlib.sha256(json.dumps(state, default=str, sort_keys=True).encode()).hexdigest()


def changed(before: dict, after: dict) -> list[str]:
    """What differs between two site states, for the message of a failed comparison."""
    return [f"{part} {key}" for part in ("db", "tree") for key in sorted(set(before[part]) | set(after[part]))
            if before[part].get(key) != after[part].get(key)]


def wheel(repository, package: str, version: str, index: int = 0) -> str:
    return repository.manifest.packages[package][version][index].filename


def execute(repository, statement: str, *args) -> None:
    with psycopg.connect(repository.dsn) as conn:
        conn.execute(statement, args)


def rewrite_pages(repository, package: str) -> None:
    """piw-master's BOTH: the simple page, project page and JSON of ``package`` written from the database."""
    with psycopg.connect(repository.dsn) as conn:
        write_pages(conn, repository.output_path, package)


def age(path: Path, seconds: float = 7200) -> None:
    """Make ``path`` (a link itself, not its target) look modified ``seconds`` ago."""
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def age_site(repository, seconds: float = 7200) -> None:
    """Every file, directory and link of the site, and every build and alias, ``seconds`` old."""
    for path in repository.output_path.rglob("*"):
        age(path, seconds)
    execute(repository, "UPDATE builds SET built_at = built_at - %s * interval '1 second'", seconds)
    execute(repository, "UPDATE package_names SET seen = now() - %s * interval '1 second'", seconds)
