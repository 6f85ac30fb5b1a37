# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The module's side of the site audit: the options it sends, the job it follows, the result it reports.

(Not the audit log, Mr Chase's record of the changes it made: this is the
audit of the whole site that finds, and repairs, what the database, the
wheels and the pages disagree on.)

A whole-site audit may take much longer than one answer from Mr Chase may:
AUDIT starts a job (or joins the running one) and is answered at once, and
``follow`` asks JOB again and again, each round trip bounded by the client's
timeout, until the job is done, collecting its findings page by page.
"""

from __future__ import annotations

import time
from datetime import datetime

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import (
    FINDING_KINDS,
    MAX_AUDIT_PACKAGES,
    REPAIRED_BY_ALL,
    text_problem,
)
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import MrChaseProtocolError

__all__ = (
    "ALL",
    "REFRESHED_BY_MASTER",
    "AuditFailed",
    "AuditOutcome",
    "audit_options",
    "follow",
    "kinds_to_repair",
    "package_problem",
    "repairable",
)

#: the word of ``repair`` that names every kind but foreign_file
ALL = "all"
#: the kind only piw-master repairs (Mr Chase asks it to rewrite the project pages): without one to tell, none
REFRESHED_BY_MASTER = "stale_project_page"
#: the first and the longest wait between two JOBs of a job still running: a small audit ends within a few
#: round trips, a long one is asked about once a second
FIRST_POLL = 0.05
LONGEST_POLL = 1.0
_ENDED = ("done", "failed")


class AuditFailed(Exception):
    """The job ended in state ``failed``; ``outcome`` holds what it had found until then."""

    def __init__(self, outcome):
        super().__init__(outcome.last["error"] or "the audit failed (Mr Chase gave no reason)")
        self.outcome = outcome


def kinds_to_repair(asked: list[str]) -> list[str]:
    """The finding kinds ``repair`` names, in report order: ``all`` is every kind but foreign_file, which is
    repaired only when named (``[all, foreign_file]`` is every kind).  ValueError naming the unknown kinds and
    the known ones."""
    unknown = [kind for kind in asked if kind != ALL and kind not in FINDING_KINDS]
    if unknown:
        raise ValueError(
            f"repair: unknown finding kind(s) {', '.join(unknown)}; the kinds are {', '.join(FINDING_KINDS)}, "
            f"or {ALL} (every kind but foreign_file)")
    named = set(REPAIRED_BY_ALL if ALL in asked else ()) | set(asked)
    return [kind for kind in FINDING_KINDS if kind in named]


def repairable(kinds: list[str], site_refresh: bool) -> list[str]:
    """The kinds Mr Chase can repair: all of ``kinds``, but project pages only when it has a piw-master to tell
    (the whole site's STATUS ``site_refresh``); otherwise asking would report them "not refreshed" every run."""
    return [kind for kind in kinds if site_refresh or kind != REFRESHED_BY_MASTER]


def package_problem(packages: list[str] | None) -> str | None:
    """Why Mr Chase would refuse ``packages`` (None: every package), in words for the operator; None if not."""
    if packages is None:
        return None
    if not packages:
        return "packages is an empty list: leave it out to audit every package"
    if len(packages) > MAX_AUDIT_PACKAGES:
        return (f"packages names {len(packages)} packages, at most {MAX_AUDIT_PACKAGES} are allowed: audit them in "
                "several tasks, or leave packages out to audit every package")
    for name in packages:
        if not name:
            return "packages holds an empty name"
        problem = text_problem("package", name)
        if problem:
            return f"packages: {name!r}: {problem}"
    return None


def audit_options(packages: list[str] | None, repair: list[str], verify_hashes: bool, min_age: int,
                  archives: list[dict] | None = None) -> dict:
    """AUDIT's options object (codec.AUDIT_OPTIONS), packages without repeats in the order given; ``archives``
    the {location, listing} of each archive whose listing is compared (none: the archives are not audited)."""
    return {
        "packages": None if packages is None else list(dict.fromkeys(packages)),
        "repair": list(repair),
        "verify_hashes": bool(verify_hashes),
        "min_age": int(min_age),
        "archives": [{"location": archive["location"], "listing": archive["listing"]} for archive in archives or ()],
    }


class AuditOutcome:
    """What following one job gave: the first reply (AUDIT's, which says whether it joined), the last (JOB's,
    with the final counts), and every finding in order."""

    def __init__(self, first: dict):
        self.first = first
        self.last = first
        self.findings: list[dict] = []

    def add(self, job: dict, offset: int, address: str) -> int:
        """Take one page of ``job`` (asked from ``offset``) and return the offset to ask next."""
        self.last = job
        self.findings.extend(job["findings"])
        expected = offset + len(job["findings"])
        if job["next"] is not None and job["next"] != expected:
            raise MrChaseProtocolError(
                address, f"job {job['id']} page from {offset}",
                f"{len(job['findings'])} finding(s) from offset {offset}, but next is {job['next']}, not {expected}")
        return expected

    @property
    def complete(self) -> bool:
        """Whether the job has ended and every finding has been read."""
        return self.last["state"] in _ENDED and self.last["next"] is None

    def job_summary(self) -> dict:
        """The ``job`` return value: id, state, the options it runs with, started, finished, joined, and the duration
        and end as numbers (for the runbook's metrics)."""
        started, finished = self.last["started"], self.last["finished"]
        return {
            "id": self.first["id"],
            "state": self.last["state"],
            "options": self.last["options"],
            "started": started,
            "finished": finished,
            "joined": self.first["joined"],
            "duration": _seconds_between(started, finished),
            "finished_epoch": _epoch(finished),
        }


def follow(client, options: dict, sleep=time.sleep) -> AuditOutcome:
    """Start (or join) the audit and follow its job to the end, each request bounded by the client's timeout,
    never the whole; raise AuditFailed if the job fails."""
    outcome = AuditOutcome(client.audit(options))
    offset = outcome.add(outcome.first, 0, client.address)
    wait = FIRST_POLL
    while not outcome.complete:
        if outcome.last["findings"] or outcome.last["state"] in _ENDED:
            wait = FIRST_POLL  # more is ready: ask at once
        else:
            sleep(wait)
            wait = min(wait * 2, LONGEST_POLL)
        offset = outcome.add(client.job(outcome.first["id"], offset), offset, client.address)
    if outcome.last["state"] == "failed":
        raise AuditFailed(outcome)
    return outcome


def _parse_time(text):
    """An ISO-8601 time as Mr Chase writes it (UTC, with Z or +00:00), or None."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


def _seconds_between(started, finished):
    begin, end = _parse_time(started), _parse_time(finished)
    return None if begin is None or end is None else round((end - begin).total_seconds(), 3)


def _epoch(text):
    moment = _parse_time(text)
    return None if moment is None else round(moment.timestamp(), 3)
