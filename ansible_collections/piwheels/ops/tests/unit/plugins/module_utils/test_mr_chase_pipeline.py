# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The pipelined STATUS of many versions (MrChaseClient.statuses) against real ZeroMQ peers in-process."""

from __future__ import annotations

import json
import threading

import pytest
import zmq

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import PIPELINE_DEPTH, MrChaseClient
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import (
    MrChaseProtocolError,
    MrChaseRequestError,
    MrChaseTimeout,
)


def status_of(request):
    """A handler that knows every version of every package."""
    _kind, package, version = json.loads(request)
    status = {"package": package, "version": version, "skip": "", "builds": 1, "files": [f"{version}.whl"],
              "downloads": 2}
    return json.dumps(["STATUS", status]).encode()


def test_statuses_come_back_keyed_by_version_in_the_order_asked(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client:
        statuses = client.statuses("gamma", ["1.2", "1.0", "1.1"])
    assert list(statuses) == ["1.2", "1.0", "1.1"]
    assert [status["version"] for status in statuses.values()] == ["1.2", "1.0", "1.1"]
    assert mr_chase.peer.sent("STATUS") == [["STATUS", "gamma", v] for v in ("1.2", "1.0", "1.1")]


def test_an_unknown_version_raises_mr_chases_message(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client, pytest.raises(MrChaseRequestError) as raised:
        client.statuses("gamma", ["1.0", "9.9", "1.1"])
    assert str(raised.value) == "unknown package version gamma 9.9"


def test_no_versions_sends_nothing(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client:
        assert client.statuses("gamma", []) == {}
    assert mr_chase.peer.requests == []


def test_more_versions_than_the_pipeline_depth_all_come_back(peer):
    server = peer(status_of)
    versions = [f"1.{i}" for i in range(PIPELINE_DEPTH * 3 + 1)]
    with MrChaseClient(server.address, 5) as client:
        statuses = client.statuses("foo", versions)
    assert [status["version"] for status in statuses.values()] == versions


def test_a_silent_peer_times_out(peer):
    server = peer(lambda request: None)
    with MrChaseClient(server.address, 0.2) as client, pytest.raises(MrChaseTimeout) as raised:
        client.statuses("foo", ["1.0", "1.1"])
    assert str(raised.value) == f"Mr Chase did not answer within 0.2 s at {server.address}"


def test_a_garbage_reply_names_what_came_back(peer):
    server = peer(lambda request: b"pickle?")
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseProtocolError) as raised:
        client.statuses("foo", ["1.0"])
    assert "'pickle?'" in str(raised.value)


def test_the_requests_are_in_flight_together(ipc_dir):
    """A peer that answers nothing until it holds three requests: a one-at-a-time client would time out."""
    address = f"ipc://{ipc_dir}/batch"
    context = zmq.Context.instance()
    sock = context.socket(zmq.ROUTER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.bind(address)

    def serve():
        held = [sock.recv_multipart() for _request in range(3)]
        for identity, empty, frame in held:
            sock.send_multipart([identity, empty, status_of(frame)])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with MrChaseClient(address, 5) as client:
            statuses = client.statuses("foo", ["1.0", "1.1", "1.2"])
        assert list(statuses) == ["1.0", "1.1", "1.2"]
    finally:
        thread.join(5)
        sock.close(linger=0)


def test_a_status_answered_out_of_place_is_refused(peer):
    server = peer(lambda request: status_of(json.dumps(["STATUS", "foo", "2.0"]).encode()))
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseProtocolError) as raised:
        client.statuses("foo", ["1.0"])
    assert "answer for version '2.0' in the place of '1.0'" in str(raised.value)


def removal_peer(peer, answer_for):
    """A peer answering REMOVE of each version with ``answer_for(version)`` (bytes, or None for no answer)."""
    return peer(lambda request: answer_for(json.loads(request)[2]))


VERSIONS = ["1.0", "1.1", "1.2", "1.3", "1.4"]


def test_remove_all_yields_each_version_as_it_is_done(peer):
    server = removal_peer(peer, lambda version: b'["DONE"]')
    with MrChaseClient(server.address, 5) as client:
        assert list(client.remove_all("foo", VERSIONS, True)) == VERSIONS
    assert server.sent("REMOVE") == [["REMOVE", "foo", version, True] for version in VERSIONS]


def test_remove_all_of_nothing_sends_nothing(peer):
    server = removal_peer(peer, lambda version: b'["DONE"]')
    with MrChaseClient(server.address, 5) as client:
        assert list(client.remove_all("foo", [], True)) == []
    assert server.requests == []


def test_remove_all_stops_sending_at_an_error_and_says_what_was_on_its_way(peer):
    server = removal_peer(peer, lambda version: b'["ERROR", "disk full"]' if version == "1.1" else b'["DONE"]')
    done = []
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseRequestError) as raised:
        for version in client.remove_all("foo", VERSIONS, False):
            done.append(version)
    assert done == ["1.0"]
    assert str(raised.value) == "disk full"
    assert raised.value.done_after == ["1.2"]
    assert [request[2] for request in server.sent("REMOVE")] == ["1.0", "1.1", "1.2"]


def test_remove_all_names_what_was_sent_but_not_answered(peer):
    server = removal_peer(peer, lambda version: b'["DONE"]' if version == "1.0" else None)
    done = []
    with MrChaseClient(server.address, 0.2) as client, pytest.raises(MrChaseTimeout) as raised:
        for version in client.remove_all("foo", VERSIONS, False):
            done.append(version)
    assert done == ["1.0"]
    assert raised.value.unanswered == ["1.1", "1.2"]
    assert [request[2] for request in server.sent("REMOVE")] == ["1.0", "1.1", "1.2"]
