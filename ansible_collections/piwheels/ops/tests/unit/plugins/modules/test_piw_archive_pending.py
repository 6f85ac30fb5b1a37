# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_archive_pending against a fake Mr Chase that keeps pending lists: it reads them, and acknowledges only
outside check mode, only what is pending, in requests of at most 1,000 files."""

from __future__ import annotations

import json

import pytest

from ansible_collections.piwheels.ops.plugins.modules import piw_archive_pending
from ansible_collections.piwheels.ops.tests.unit.plugins.conftest import site_status

LOCATION = "https://archive1.piwheels.example/simple"
MAX = 1000


class PendingLists:
    """Mr Chase's pending lists, as PENDING, ARCHIVED and the site STATUS show them (oldest first)."""

    def __init__(self):
        self.lists = {LOCATION: [["foo", f"foo-1.{n}-py3-none-any.whl"] for n in range(3)]}

    def __call__(self, frame):
        request = json.loads(frame.decode("utf-8"))
        kind, args = request[0], request[1:]
        if kind == "PENDING":
            files = self.lists.get(args[0].rstrip("/"), [])
            reply = ["PENDING", {"location": args[0].rstrip("/"), "files": files[:MAX], "total": len(files)}]
        elif kind == "ARCHIVED":
            gone = {tuple(pair) for pair in args[1]}
            location = args[0].rstrip("/")
            self.lists[location] = [pair for pair in self.lists.get(location, []) if tuple(pair) not in gone]
            reply = ["DONE"]
        else:
            reply = site_status(archives={location: len(files) for location, files in self.lists.items()})
        return json.dumps(reply).encode("utf-8")


@pytest.fixture
def lists(peer):
    state = PendingLists()
    state.peer = peer(state)
    return state


@pytest.fixture
def pending(runner, lists):
    return runner(piw_archive_pending, lists.peer, timeout=5)


def wheel(n):
    return {"package": "foo", "filename": f"foo-1.{n}-py3-none-any.whl"}


def test_without_a_location_it_lists_every_location_with_something_pending(pending, lists):
    lists.lists["https://archive2.piwheels.example/simple"] = [["bar", "bar-1.0-py3-none-any.whl"]]
    result = pending()
    assert result["locations"] == {LOCATION: 3, "https://archive2.piwheels.example/simple": 1}
    assert result["total"] == 4 and not result["changed"]


def test_a_location_with_a_trailing_slash_reads_the_same_list(pending):
    result = pending(location=LOCATION + "/")
    assert result["location"] == LOCATION
    assert result["files"] == [wheel(0), wheel(1), wheel(2)] and result["total"] == 3
    assert not result["changed"]


def test_check_real_check_real_acknowledging_changes_changed_changed_ok_ok(pending, lists):
    args = dict(location=LOCATION, acknowledge=[wheel(0), wheel(2)])
    results = [pending(check_mode=check, **args) for check in (True, False, True, False)]
    assert [result["changed"] for result in results] == [True, True, False, False]
    assert results[0]["acknowledged"] == results[1]["acknowledged"] == [wheel(0), wheel(2)]
    assert results[0]["files"] == results[1]["files"] == [wheel(1)]
    assert results[3]["acknowledged"] == [] and results[3]["total"] == 1
    assert lists.lists[LOCATION] == [["foo", "foo-1.1-py3-none-any.whl"]]
    assert len(lists.peer.sent("ARCHIVED")) == 1


def test_check_mode_never_acknowledges(pending, lists):
    result = pending(location=LOCATION, acknowledge=[wheel(0)], check_mode=True, diff=True)
    assert result["changed"] and result["total"] == 2
    assert result["diff"]["before"] == "foo/foo-1.0-py3-none-any.whl\n"
    assert lists.peer.sent("ARCHIVED") == [] and len(lists.lists[LOCATION]) == 3


def test_files_not_pending_are_not_sent(pending, lists):
    result = pending(location=LOCATION, acknowledge=[wheel(7)])
    assert not result["changed"] and result["acknowledged"] == []
    assert lists.peer.sent("ARCHIVED") == []


def test_more_than_a_thousand_are_acknowledged_in_requests_of_a_thousand(pending, lists):
    lists.lists[LOCATION] = [["foo", f"foo-{n}.0-py3-none-any.whl"] for n in range(1500)]
    listed = pending(location=LOCATION)
    assert len(listed["files"]) == MAX and listed["total"] == 1500
    result = pending(location=LOCATION, acknowledge=listed["files"])
    assert result["changed"] and len(result["acknowledged"]) == MAX
    assert result["total"] == 500 and len(result["files"]) == 500
    assert [len(request[2]) for request in lists.peer.sent("ARCHIVED")] == [MAX]


@pytest.mark.parametrize("args, words", [
    (dict(acknowledge=[wheel(0)]), "acknowledge needs location"),
    (dict(location=LOCATION, acknowledge=[{"package": "foo", "filename": "../../etc/passwd.whl"}]),
     "could escape the archive tree"),
    (dict(location=LOCATION, acknowledge=[{"package": "foo", "filename": "foo-1.0.tar.gz"}]), "is not a wheel"),
    (dict(location="x" * 301), "longer than 300 characters"),
    (dict(location="https://archive\n.example/simple"), "control"),
])
def test_bad_input_fails_before_anything_is_sent(pending, lists, args, words):
    result = pending(**args)
    assert result["failed"] and words in result["msg"]
    assert lists.peer.requests == []


def test_mr_chase_down_fails_cleanly_and_names_the_queue(run_module, ipc_dir):
    result = run_module(piw_archive_pending, dict(location=LOCATION, import_queue=f"ipc://{ipc_dir}/none"))
    assert result["failed"] and not result["changed"]
    assert "no Mr Chase socket" in result["msg"] and result["import_queue"] == f"ipc://{ipc_dir}/none"
