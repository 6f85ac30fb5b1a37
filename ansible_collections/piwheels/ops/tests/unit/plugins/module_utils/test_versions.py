# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""PEP 440 order without the packaging library: the order PEP 440's own examples give."""

from __future__ import annotations

import random

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.versions import pep440_key, pep440_sorted

# PEP 440, "Summary of permitted suffixes and relative ordering", plus epochs and local versions
ORDERED = [
    "1.0.dev456",
    "1.0a1",
    "1.0a2.dev456",
    "1.0a12.dev456",
    "1.0a12",
    "1.0b1.dev456",
    "1.0b2",
    "1.0b2.post345.dev456",
    "1.0b2.post345",
    "1.0rc1.dev456",
    "1.0rc1",
    "1.0",
    "1.0+abc.5",
    "1.0+abc.7",
    "1.0+5",
    "1.0.post456.dev34",
    "1.0.post456",
    "1.0.15",
    "1.1.dev1",
    "1.9",
    "1.10",
    "2!0.1",
]


def test_pep440s_own_examples_sort_in_its_order():
    shuffled = ORDERED[:]
    random.Random(440).shuffle(shuffled)
    assert pep440_sorted(shuffled) == ORDERED


def test_ten_comes_after_nine():
    assert pep440_sorted(["1.10", "1.9", "1.2"]) == ["1.2", "1.9", "1.10"]


def test_trailing_zeros_and_spellings_are_equal():
    assert pep440_key("1.0") == pep440_key("1.0.0")
    assert pep440_key("1.0alpha1") == pep440_key("1.0a1")
    assert pep440_key("1.0-1") == pep440_key("1.0.post1")
    assert pep440_key("1.0c1") == pep440_key("1.0rc1")


def test_strings_that_are_no_version_come_last_by_text():
    assert pep440_sorted(["zzz", "1.0", "not a version", "0.1"]) == ["0.1", "1.0", "not a version", "zzz"]
