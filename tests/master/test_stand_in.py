"""The stand-in master accepts exactly what upstream's import queue declares, answers nothing else, acts as upstream.

What it does with an accepted message is checked on a real repository, read
with piw-master's own SELECT-only account, as on a real master.
"""

from __future__ import annotations

import datetime as dt
import json

import cbor2
import psycopg
import pytest

from piwheels_testbed import MASTER_ROLE, role_dsn
from piwheels_testbed.master import StandInMaster


@pytest.fixture
def stand_in():
    return StandInMaster("ipc:///unused")


@pytest.mark.parametrize("message, reply", [
    (["REMVER", ["foo", "1.0", True, "", False]], ["DONE", "DELVERBLD"]),
    (["REMPKG", ["foo", False, ""]], ["DONE", "DELPKG"]),
    (["REMPKG", ["foo", True, ""]], ["DONE", "DELPKGBLD"]),
    (["REMPKG", ["foo", False, "broken"]], ["DONE", "SKIPPKG"]),
    (["REBUILD", ["BOTH", "foo"]], ["DONE", "REBUILD"]),
    (["REBUILD", ["HOME"]], ["DONE", "REBUILD"]),
    (["REBUILD", ["SEARCH"]], ["DONE", "REBUILD"]),
    (["ADDVER", ["foo", "1.0", "", False, dt.datetime(2024, 1, 1, tzinfo=dt.UTC), False, False, []]],
     ["DONE", "ADDVER"]),
])
def test_messages_upstream_declares_are_answered(stand_in, message, reply):
    assert stand_in.handle(cbor2.dumps(message)) == reply
    assert stand_in.accepted == [message]


@pytest.mark.parametrize("message", [
    ["REMVER", ["foo", "1.0", True, ""]],                 # arity
    ["REMVER", ["foo", "1.0", True, "", False, 1]],       # arity
    ["REMVER", ["foo", "1.0", "yes", "", False]],         # builds not a bool
    ["REMVER", ["foo", "1.0", True, None, False]],        # skip not a str
    ["REMVER", ["foo", "1.0", 1, "", False]],             # an int is no bool
    ["REBUILD", ["BOTH"]],
    ["REBUILD", ["EVERYTHING", "foo"]],
    ["REMOVE", ["foo", "1.0", True]],                     # our own protocol's verb: not upstream's
    "REMVER",
])
def test_anything_else_gets_no_reply(stand_in, message):
    assert stand_in.handle(cbor2.dumps(message)) is None
    assert stand_in.accepted == [] and len(stand_in.rejected) == 1


def test_json_is_not_cbor(stand_in):
    assert stand_in.handle(b'["REMVER", ["foo", "1.0", true, "", false]]') is None


@pytest.fixture
def master(repository):
    """The stand-in on the test's repository, reading it as piw-master's SELECT-only account ``piwheels``."""
    return StandInMaster("ipc:///unused", role_dsn(repository.dsn, MASTER_ROLE), repository.output_path)


def send(master: StandInMaster, *message) -> list | None:
    return master.handle(cbor2.dumps(list(message)))


def root_index(repository) -> list[str]:
    page = (repository.simple / "index.html").read_text()
    return [line.split('"')[1] for line in page.splitlines() if line.startswith("<a href=")]


@pytest.mark.parametrize("part", ["SEARCH", "HOME"])
def test_search_and_home_rebuild_the_search_index_from_the_database(repository, master, part):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("DELETE FROM packages WHERE package = 'gamma'")
    assert send(master, "REBUILD", [part]) == ["DONE", "REBUILD"]
    text = (repository.output_path / "packages.json").read_text()
    assert json.loads(text) == [["alpha", 0, 18], ["beta-tools", 0, 18]] and " " not in text


def test_rempkg_of_an_unknown_package_is_nopkg_and_touches_nothing(repository, master):
    before = sorted(p.relative_to(repository.output_path) for p in repository.output_path.rglob("*"))
    assert send(master, "REMPKG", ["nosuch", False, ""]) == ["ERROR", "NOPKG"]
    assert sorted(p.relative_to(repository.output_path) for p in repository.output_path.rglob("*")) == before
    assert master.sent("REMPKG") == [["REMPKG", ["nosuch", False, ""]]]


@pytest.mark.parametrize("builds, skip, action", [(False, "", "DELPKG"), (False, "broken", "SKIPPKG"),
                                                  (True, "", "DELPKGBLD")])
def test_rempkg_deletes_the_whole_package_directory_whatever_the_flags(repository, master, builds, skip, action):
    """Upstream's page writer gets DELPKG for every REMPKG: a mere skip loses the wheels and pages too."""
    assert send(master, "REMPKG", ["beta-tools", builds, skip]) == ["DONE", action]
    assert not (repository.simple / "beta-tools").exists()
    assert not (repository.output_path / "project" / "beta-tools").exists()
    for alias in ("Beta_Tools", "beta_tools"):
        assert not (repository.output_path / "project" / alias).is_symlink()
    assert root_index(repository) == ["alpha", "gamma"]
    assert (repository.simple / "alpha" / "index.html").is_file()


def test_both_for_a_package_new_to_the_cache_writes_the_root_index_from_the_cache(repository, master):
    """the_scribe's cache forgets a package only on REMPKG: one deleted behind its back comes back.

    This is upstream's behaviour that a whole-package deletion without REMPKG
    (Mr Chase's DELETE) meets: piw-master lists the deleted package in the
    root index again when a new package first appears, until it restarts.
    """
    master._load_cache()  # piw-master was running before the deletion
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("DELETE FROM packages WHERE package = 'gamma'")
        conn.execute("INSERT INTO packages (package) VALUES ('delta')")
    assert send(master, "REBUILD", ["BOTH", "gamma"]) == ["ERROR", "unknown package gamma"]
    assert send(master, "REBUILD", ["BOTH", "delta"]) == ["DONE", "REBUILD"]
    assert root_index(repository) == ["alpha", "beta-tools", "delta", "gamma"]
    fresh = StandInMaster("ipc:///unused", master.dsn, repository.output_path)  # a restarted piw-master
    assert send(fresh, "REBUILD", ["BOTH", "delta"]) == ["DONE", "REBUILD"]
    assert "gamma" in root_index(repository)  # the cache of the restart knows delta: it writes no root index
    assert fresh.package_cache == {"alpha", "beta-tools", "delta"}


def test_every_accepted_message_is_recorded_in_order(master):
    send(master, "REBUILD", ["BOTH", "alpha"])
    send(master, "REMVER", ["alpha", "1.0", True, "", False])
    send(master, "REBUILD", ["SEARCH"])
    assert [m[0] for m in master.accepted] == ["REBUILD", "REMVER", "REBUILD"]
    assert master.sent("REMPKG") == [] and master.sent("REMVER") == [["REMVER", ["alpha", "1.0", True, "", False]]]
