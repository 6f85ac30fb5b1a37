# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The ``closest_match`` filter: which of some names a misspelt one most likely meant.

The archive runbooks name, for a location with files pending that no archive
host of the inventory serves, the declared ``piw_archive_location`` closest to
it: the usual cause is a typo in that variable, and a message that says which
one saves the operator from comparing URLs by eye.  Jinja has no similarity
measure, so the standard library's ``difflib`` does it on the controller.
"""

from __future__ import annotations

import difflib

from ansible.errors import AnsibleFilterError


def closest_match(name, candidates):
    """The candidate most similar to ``name`` (difflib's ratio; the first of equals), or '' when there is none."""
    if not isinstance(name, str):
        raise AnsibleFilterError(f"closest_match compares a string, not {name!r}")
    if not isinstance(candidates, list) or not all(isinstance(candidate, str) for candidate in candidates):
        raise AnsibleFilterError(f"closest_match chooses among a list of strings, not {candidates!r}")
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.0)
    return matches[0] if matches else ""


class FilterModule:
    """Jinja2 filters of piwheels.ops."""

    def filters(self):
        return {"closest_match": closest_match}
