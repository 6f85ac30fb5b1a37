# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pep440_sort filter the runbooks use is the module_utils order."""

from __future__ import annotations

from ansible_collections.piwheels.ops.plugins.filter.pep440_sort import FilterModule


def test_the_filter_sorts_by_pep_440():
    assert FilterModule().filters()["pep440_sort"](["1.10", "1.9", "1.10rc1"]) == ["1.9", "1.10rc1", "1.10"]
