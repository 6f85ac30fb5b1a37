# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The closest_match filter names the declared archive location a misspelt one most likely meant."""

from __future__ import annotations

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.piwheels.ops.plugins.filter.closest_match import FilterModule

CLOSEST = FilterModule().filters()["closest_match"]
DECLARED = ["https://archive1.piwheels.example/simple", "https://archive2.piwheels.example/simple"]


def test_a_typo_in_the_host_gives_the_location_meant():
    assert CLOSEST("https://archive2.piwheels.exmaple/simple", DECLARED) == DECLARED[1]


def test_a_wrong_port_gives_the_location_meant():
    declared = ["http://127.0.0.1:40001/simple", "http://127.0.0.1:52997/simple"]
    assert CLOSEST("http://127.0.0.1:52997/simplex", declared) == declared[1]


def test_no_candidate_gives_an_empty_string():
    assert CLOSEST("https://archive1.piwheels.example/simple", []) == ""


@pytest.mark.parametrize(("name", "candidates", "words"), [
    (["a"], DECLARED, "compares a string"),
    ("a", "https://archive1.piwheels.example/simple", "list of strings"),
    ("a", [1], "list of strings"),
])
def test_anything_else_is_refused(name, candidates, words):
    with pytest.raises(AnsibleFilterError, match=words):
        CLOSEST(name, candidates)
