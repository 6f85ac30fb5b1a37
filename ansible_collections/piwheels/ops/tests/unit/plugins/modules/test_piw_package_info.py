# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_package_info against an in-memory Mr Chase: it reads, never writes."""

from __future__ import annotations

import pytest

from ansible_collections.piwheels.ops.plugins.modules import piw_package_info


@pytest.fixture
def info(runner, mr_chase):
    return runner(piw_package_info, mr_chase.peer)


def test_package_only(info, mr_chase):
    result = info(package="Gamma")
    assert result == {
        "changed": False,
        "package": "gamma",
        "skip": "",
        "versions": ["1.0", "1.1", "1.2"],
        "details": {},
        "site_refresh": False,
        "stale_pages": [],
        "matched": {},
    }
    assert mr_chase.peer.requests == [["STATUS", "Gamma", None]]


@pytest.mark.parametrize("versions", [True, "all", "yes"])
def test_every_version(info, versions):
    result = info(package="gamma", versions=versions)
    assert sorted(result["details"]) == ["1.0", "1.1", "1.2"]
    assert result["details"]["1.0"] == {
        "skip": "",
        "yanked": False,
        "builds": 1,
        "files": ["gamma-1.0-cp37-cp37m-linux_armv7l.whl", "gamma-1.0-py3-none-any.whl"],
        "archived": [],
        "downloads": 6,
        "settling": False,
    }


@pytest.mark.parametrize("versions, expected", [("1.1", ["1.1"]), (["1.2", "1.0"], ["1.2", "1.0"])])
def test_chosen_versions(info, versions, expected):
    assert list(info(package="gamma", versions=versions)["details"]) == expected


def test_check_mode_reads_the_same_and_writes_nothing(info, mr_chase):
    assert info(package="gamma", versions=True, check_mode=True) == info(package="gamma", versions=True)
    assert {request[0] for request in mr_chase.peer.requests} == {"STATUS"}


def test_unknown_version_fails_saying_what_the_package_has(info):
    result = info(package="gamma", versions=["1.0", "9.9"])
    assert result["failed"] is True
    assert result["msg"] == "gamma has no version 9.9 and there is no record of forgetting it; gamma has 1.0, 1.1, 1.2"


def test_other_spellings_are_matched_and_a_typo_named(info, mr_chase):
    """Issue 24: the details are keyed by the stored version, and ``matched`` says which spelling named it."""
    result = info(package="gamma", versions=["v1.1", "1.2.0"])
    assert list(result["details"]) == ["1.1", "1.2"]
    assert result["matched"] == {"v1.1": "1.1", "1.2.0": "1.2"}
    assert info(package="gamam")["msg"] == (
        "piwheels has no package gamam and there is no record of deleting it; did you mean gamma?")


@pytest.mark.parametrize("versions", [1.1, ["1.0", None], ["all", "1.0"]])
def test_bad_versions_fail_before_any_request(info, mr_chase, versions):
    result = info(package="gamma", versions=versions)
    assert result["failed"] is True
    assert mr_chase.peer.requests == []


def test_versions_are_listed_in_pep_440_order(info, mr_chase):
    gamma = mr_chase.packages["gamma"]["versions"]
    gamma["1.10"] = gamma["1.9"] = dict(gamma["1.0"])
    assert info(package="gamma")["versions"] == ["1.0", "1.1", "1.2", "1.9", "1.10"]


def test_an_older_mr_chase_reads_as_no_archive_and_no_site_refresh(info, mr_chase):
    mr_chase.speaks_0_1 = True
    result = info(package="gamma", versions="1.0")
    assert result["site_refresh"] is False
    assert result["details"]["1.0"]["archived"] == []


def test_site_refresh_is_reported_when_mr_chase_has_a_master(info, mr_chase):
    mr_chase.site_refresh = True
    assert info(package="gamma")["site_refresh"] is True
