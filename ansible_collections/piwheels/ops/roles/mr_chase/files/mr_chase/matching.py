"""MATCH: which stored package or version a requested spelling names, and if none, whether one was removed.

The modules send the database's own spelling of a version in every change,
so a version asked as "1.1.0" or "v1.1" must first be matched to the stored
"1.1" by PEP 440 equality.  A name that matches nothing is "already gone"
only when the audit log records a FORGET or DELETE of it (and says when);
otherwise it is unknown, and the answer says what was probably meant: close
package names, or the PEP 440-equal or nearest versions.
"""

from __future__ import annotations

import difflib
from typing import Any

from .audit_log import AuditLog
from .database import Database
from .versions import close_versions, equal_version

#: how many suggestions an answer carries, and how alike a package name must be to be one
CLOSE_NAMES, NAME_CUTOFF = 3, 0.75


def match(db: Database, audit: AuditLog, package: str, version: str | None) -> dict[str, Any]:
    """The MATCH object for a canonical package name and, optionally, a version as asked (README: The protocol)."""
    answer: dict[str, Any] = {"package": package, "version": version, "exists": False, "matched": None,
                              "removed": None, "close": []}
    stored = db.versions_of(package)
    if stored is None:
        answer["removed"] = _last(audit, package, lambda record: record["request"][0] == "DELETE")
        answer["close"] = close_names(db, package)
        return answer
    answer["exists"] = True
    if version is None:
        return answer
    answer["matched"] = equal_version(version, stored)
    if answer["matched"] is None:
        answer["removed"] = _last(audit, package, lambda record: _removed_version(record, version))
        answer["close"] = close_versions(version, stored)
    return answer


def close_names(db: Database, package: str) -> list[str]:
    """Package names like ``package`` (a typo: gamam for gamma), most alike first."""
    spread = max(2, len(package) // 4)
    return difflib.get_close_matches(package, db.names_near(package, spread), n=CLOSE_NAMES, cutoff=NAME_CUTOFF)


def _removed_version(record: dict[str, Any], version: str) -> bool:
    """Whether a FORGET or DELETE record took ``version`` (a DELETE settled by recovery lists none: all went)."""
    request = record["request"]
    if request[0] == "FORGET":
        return len(request) > 2 and isinstance(request[2], str) and equal_version(version, [request[2]]) is not None
    versions = record.get("versions")
    return not isinstance(versions, list) or equal_version(version, versions) is not None


def _last(audit: AuditLog, package: str, took) -> dict[str, Any] | None:
    """The newest record of ``package`` that ``took`` accepts, as MATCH's ``removed``: request, version, time."""
    found = [record for record in audit.removals(package) if took(record)]
    if not found:
        return None
    record = found[-1]
    request = record["request"]
    return {"request": request[0], "version": request[2] if request[0] == "FORGET" else None,
            "time": str(record.get("time", ""))}
