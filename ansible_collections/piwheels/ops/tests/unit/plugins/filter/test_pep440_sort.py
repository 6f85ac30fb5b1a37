# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pep440_sort filter sorts as Mr Chase's STATUS and piw-master's pages do (one implementation)."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.piwheels.ops.plugins.filter.pep440_sort import FilterModule

SORT = FilterModule().filters()["pep440_sort"]


def test_the_filter_sorts_by_pep_440():
    assert SORT(["1.10", "1.9", "1.10rc1"]) == ["1.9", "1.10rc1", "1.10"]


def test_versions_pep440_rejects_come_first_as_on_piw_masters_pages():
    """Issue 24: 0.3.0's filter gave 1.0, 2.0, 1.0.x, latest; STATUS and the pages latest, 1.0.x, 1.0, 2.0."""
    assert SORT(["2.0", "latest", "1.0", "1.0.x"]) == ["latest", "1.0.x", "1.0", "2.0"]


def test_the_filter_is_the_service_order():
    from ansible_collections.piwheels.ops.roles.mr_chase.files.mr_chase.versions import version_key

    versions = ["1.0-SNAPSHOT", "1!0.1", "1.0.post1", "dev", "1.0a1", "1.0"]
    assert SORT(versions) == sorted(versions, key=version_key)


def test_anything_but_a_list_of_strings_is_refused():
    with pytest.raises(AnsibleFilterError, match="list of version strings"):
        SORT("1.0")
