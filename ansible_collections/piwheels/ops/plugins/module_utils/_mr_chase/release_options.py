# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""What piw_remove's options ask for, checked before Mr Chase is asked anything.

The module promises to refuse bad input before it changes anything, and
Mr Chase would refuse a bad name or skip reason only at the request that
carries it, perhaps after other versions were removed.  Each check raises
ValueError with the message the task fails with; the module only reports it.
"""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import text_problem

__all__ = ("ALL", "STATES", "skip_asked", "versions_asked")

#: ``version: all``: every version of the package
ALL = "all"
#: the states piw_remove can bring versions to
STATES = ("removed", "forgotten", "yanked", "unyanked", "unskipped")


def versions_asked(package: str, value) -> list[str] | None:
    """The versions asked for as a list without repeats, or None for ``all``.

    ``version`` is raw so that one string and a list both work; that leaves
    the module to refuse numbers, which YAML makes of unquoted versions
    (``1.10`` would silently become ``1.1``).
    """
    values = value if isinstance(value, list) else [value]
    if not values:
        raise ValueError("version must name at least one version")
    for item in values:
        if not isinstance(item, str) or not item:
            raise ValueError(f"version must be a non-empty string or a list of them, got {item!r}; "
                             "quote versions in YAML so that they are not read as numbers")
    for field, name in [("package", package), *(("version", value) for value in values)]:
        problem = text_problem(field, name)
        if problem:
            raise ValueError(f"{problem} ({name!r}); Mr Chase refuses it")
    versions = list(dict.fromkeys(values))
    if ALL in versions:
        if len(versions) > 1:
            raise ValueError("version: 'all' cannot be combined with other versions")
        return None
    return versions


def skip_asked(state: str, skip: bool, reason: str | None, whole_package: bool) -> bool | str:
    """The skip argument of the requests: False (leave it), True (the default reason) or a reason.

    Only a removal can skip a version; forgetting leaves no version row to
    hold a reason, so there a skip is the package's, and only with
    ``version: all``; yanking and un-skipping never skip.
    """
    asked = reason is not None or skip
    if asked and state in ("yanked", "unyanked", "unskipped"):
        raise ValueError(f"skip and skip_reason cannot be used with state={state}: it never skips anything")
    if asked and state == "forgotten" and not whole_package:
        raise ValueError(
            "skip and skip_reason with state=forgotten need version: all (the package is then skipped, so "
            "its new releases are never built); a forgotten version has no row left to hold a skip reason: "
            "use state=removed with skip to keep one version from being built again"
        )
    if reason is None:
        return skip
    if not reason:
        raise ValueError("skip_reason must not be empty; use skip: true for the default reason")
    problem = text_problem("skip", reason)
    if problem:
        raise ValueError(f"skip_reason refused: {problem}; Mr Chase refuses it")
    return reason
