"""The stand-in master accepts exactly what upstream's import queue declares, and answers nothing else."""

from __future__ import annotations

import datetime as dt

import cbor2
import pytest

from piwheels_testbed.master import StandInMaster


@pytest.fixture
def stand_in():
    return StandInMaster("ipc:///unused")


@pytest.mark.parametrize("message, reply", [
    (["REMVER", ["foo", "1.0", True, "", False]], ["DONE", "DELVERBLD"]),
    (["REMPKG", ["foo", False, ""]], ["DONE", "REMPKG"]),
    (["REBUILD", ["BOTH", "foo"]], ["DONE", "REBUILD"]),
    (["REBUILD", ["HOME"]], ["DONE", "REBUILD"]),
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
