"""What the site audit reports: one Finding per difference between the database and what is served.

The kinds are the contract (the module's results, the runbook's reports,
the metrics and the docs use these names); the scanner (site_scan.py) finds
them, the repair (site_repair.py) acts on them, and the job (audit_job.py)
carries them to the module.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: every kind of finding, in the order reports list them
KINDS = (
    "orphan_wheel",        # a .whl in simple/<pkg>/ with no files row
    "missing_wheel",       # a local files row whose wheel is not on disk (a dead link)
    "hash_mismatch",       # verify_hashes: the file's sha256 differs from files.filehash
    "stale_page",          # simple/<pkg>/index.html links differ from what the database says
    "missing_page",        # a package of the database without simple/<pkg>/index.html
    "orphan_directory",    # a directory under simple/ or project/ that is no package and no alias
    "broken_alias",        # a project/ alias link that dangles or points at the wrong package
    "missing_alias",       # an alias of package_names without its project/ link
    "stale_root_index",    # simple/index.html differs from the database's packages
    "stale_project_page",  # project/<pkg>/ page or JSON lists a version or file the database no longer has
    "foreign_file",        # anything else in a package directory (repaired only when named)
    "leftover_staging",    # Mr Chase's own staging or set-aside entries with no journal
    "orphan_archived_wheel",   # a wheel an archive host serves under simple/<pkg>/ with no files row at all
    "missing_archived_wheel",  # a files row of an archive location whose wheel that archive host lacks (a dead link)
)
#: the kinds found by comparing an archive host's listing (AUDIT's ``archives``) with its location's rows
ARCHIVE_KINDS = frozenset({"orphan_archived_wheel", "missing_archived_wheel"})
#: what ``repair: all`` means: every kind but foreign_file, which is repaired only when named
REPAIRED_BY_ALL = tuple(kind for kind in KINDS if kind != "foreign_file")


@dataclass
class Finding:
    """One difference.  ``package``: the canonical package it concerns (the directory's name for an
    orphan directory, None for a site-wide finding); ``path``: relative to the output tree."""

    kind: str
    package: str | None
    path: str
    detail: str
    repaired: bool = False

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def repair_kinds(asked: list[str] | str) -> frozenset[str]:
    """The kinds a ``repair`` option names (a list of kinds, or "all"); ValueError naming an unknown kind."""
    if asked == "all" or asked == ["all"]:
        return frozenset(REPAIRED_BY_ALL)
    unknown = [kind for kind in asked if kind not in KINDS]
    if unknown:
        raise ValueError(f"unknown finding kind(s) {', '.join(unknown)}; the kinds are {', '.join(KINDS)}, or all")
    return frozenset(asked)
