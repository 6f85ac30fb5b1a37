# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""The client against a real ZeroMQ peer in the same process: replies, errors, timeouts, missing sockets."""

from __future__ import annotations

import json
import os
import pwd
import time

import pytest

from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase import client as client_module
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.client import MrChaseClient
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.codec import describe_frame
from ansible_collections.piwheels.ops.plugins.module_utils._mr_chase.errors import (
    MrChaseError,
    MrChaseProtocolError,
    MrChaseRequestError,
    MrChaseTimeout,
    MrChaseUnavailable,
)


def answer(frame):
    """A handler that answers every request with the same frame."""
    return lambda request: frame


HEALTHY = {"degraded": [], "warnings": [], "stale_pages": 0, "parked_notices": 0, "archive_pending": 0}


def call_for(client, vector):
    """Make the request a reply vector answers, so the reply is checked as the right one."""
    if vector["for"] == "PING":
        return client.pong()
    if vector["for"] == "REMOVE":
        return client.remove("gamma", "1.0", False)
    if vector["for"] == "SKIP":
        return client.skip("gamma", "maintainer asked")
    if vector["for"] == "YANK":
        return client.yank("alpha", "1.0", True)
    if vector["for"] == "FORGET":
        return client.forget("alpha", "9.9")
    if vector["for"] == "DELETE":
        return client.delete("nosuchpackage")
    if vector["for"] == "UNSKIP":
        return client.unskip("gamma")
    if vector["for"] == "MATCH":
        return client.match("gamma", vector["reply"][1]["version"])
    if vector["for"] == "PENDING":
        return client.pending("https://archive1.piwheels.example/simple")
    if vector["for"] == "ARCHIVED":
        files = [["alpha", "alpha-1.1-cp37-cp37m-linux_armv7l.whl"]]
        return client.archived("https://archive1.piwheels.example/simple", files)
    if vector["for"] == "AUDIT":
        return client.audit({"packages": None, "repair": [], "verify_hashes": False, "min_age": 3600, "archives": []})
    if vector["for"] == "JOB":
        return client.job(vector["reply"][1]["id"] if vector["reply"][0] == "JOB" else "x", 0)
    if vector.get("site"):
        return client.site_status()
    status = vector["reply"][1] if vector["reply"][0] == "STATUS" else {}
    return client.status("alpha", status.get("version"))


def test_every_valid_reply_vector(vectors, peer):
    for number, vector in enumerate(vectors["valid_replies"]):
        server = peer(answer(json.dumps(vector["reply"]).encode("utf-8")), name=f"valid{number}")
        with MrChaseClient(server.address, 5) as client:
            if vector["reply"][0] == "ERROR" and vector["reply"][1].startswith("committed, but "):
                call_for(client, vector)  # the change happened: no failure, a warning for the module
                assert client.unwritten_pages == [vector["reply"][1]]
                continue
            if vector["reply"][0] == "ERROR":
                with pytest.raises(MrChaseRequestError) as raised:
                    call_for(client, vector)
                assert raised.value.message == vector["reply"][1]
                continue
            result = call_for(client, vector)
        if vector["reply"][0] in ("AUDIT", "JOB"):
            assert result == vector["reply"][1], vector
            continue
        if vector["reply"][0] == "STATUS":
            # what a 0.1 Mr Chase leaves out is filled in; what it said is kept as it was
            assert result.items() >= vector["reply"][1].items(), vector
            continue
        expected = {"DONE": None, "PONG": tuple(vector["reply"][1:]), "MATCH": (vector["reply"][1:] or [None])[0],
                    "PENDING": (vector["reply"][1:] or [None])[0]}
        assert result == expected[vector["reply"][0]], vector


def test_every_invalid_reply_vector_names_what_came_back(vectors, peer):
    for number, vector in enumerate(vectors["invalid_replies"]):
        server = peer(answer(vector["frame"].encode("utf-8")), name=f"invalid{number}")
        with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseProtocolError) as raised:
            if vector.get("status"):  # the STATUS object breaks a field's type: ask for the STATUS it answers
                client.status("alpha", json.loads(vector["frame"])[1].get("version"))
            elif vector["frame"].startswith(('["AUDIT"', '["JOB"')):  # a broken job: ask what it answers
                ask_for_job(client, json.loads(vector["frame"]))
            else:
                client.ping()
        message = str(raised.value)
        assert message.startswith(f"unexpected reply from Mr Chase at {server.address}: "), vector
        assert describe_frame(vector["frame"].encode("utf-8")) in message, vector


def ask_for_job(client, reply):
    if reply[0] == "AUDIT":
        client.audit({"packages": None, "repair": [], "verify_hashes": False, "min_age": 3600, "archives": []})
    else:
        client.job(reply[1]["id"], 0)


def test_error_reply_carries_mr_chases_words(peer):
    server = peer(answer(b'["ERROR", "unknown package version gamma 9.9"]'))
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseRequestError) as raised:
        client.status("gamma", "9.9")
    assert str(raised.value) == "unknown package version gamma 9.9"
    assert raised.value.address == server.address


def test_a_reply_of_the_wrong_type_is_a_protocol_error(peer):
    server = peer(answer(b'["DONE"]'))
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseProtocolError, match="expected PONG"):
        client.ping()


def test_a_version_status_in_answer_to_a_package_status_is_refused(peer):
    version_status = {"package": "alpha", "version": "1.0", "skip": "", "builds": 1, "files": [], "downloads": 0}
    server = peer(answer(json.dumps(["STATUS", version_status]).encode("utf-8")))
    with MrChaseClient(server.address, 5) as client, pytest.raises(MrChaseProtocolError, match="versions"):
        client.status("alpha")


def test_requests_go_out_as_the_protocol_says(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client:
        client.ping()
        client.status("Gamma")
        client.status("gamma", "1.0")
        client.remove("gamma", "1.0", True)
        client.skip("gamma", "maintainer asked")
        client.unskip("gamma")
        client.unskip("gamma", "1.0")
        client.yank("gamma", "1.1", True)
        client.yank("gamma", "1.1", False)
        client.forget("gamma", "1.2")
        client.delete("beta-tools")
    assert mr_chase.peer.requests == [
        ["PING"],
        ["STATUS", "Gamma", None],
        ["STATUS", "gamma", "1.0"],
        ["REMOVE", "gamma", "1.0", True],
        ["SKIP", "gamma", "maintainer asked"],
        ["UNSKIP", "gamma", None],
        ["UNSKIP", "gamma", "1.0"],
        ["YANK", "gamma", "1.1", True],
        ["YANK", "gamma", "1.1", False],
        ["FORGET", "gamma", "1.2"],
        ["DELETE", "beta-tools"],
    ]


def test_an_empty_skip_reason_is_never_sent(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client, pytest.raises(ValueError):
        client.skip("gamma", "")
    assert mr_chase.peer.requests == []


def test_change_all_yields_each_confirmed_label_in_order(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client:
        requests = [("YANK", "gamma", "1.0", True), ("FORGET", "gamma", "1.1"), ("UNSKIP", "gamma", "1.2")]
        assert list(client.change_all(["a", "b", "c"], requests)) == ["a", "b", "c"]
    assert mr_chase.packages["gamma"]["versions"]["1.0"]["yanked"] is True
    assert "1.1" not in mr_chase.packages["gamma"]["versions"]


def test_change_all_stops_at_an_error_and_says_what_was_on_its_way(mr_chase):
    mr_chase.refuse("YANK", version="1.1")
    requests = [("YANK", "gamma", version, True) for version in ("1.0", "1.1", "1.2", "1.0")]
    confirmed = []
    with MrChaseClient(mr_chase.peer.address, 5) as client, pytest.raises(MrChaseRequestError) as raised:
        for label in client.change_all(["1.0", "1.1", "1.2", "again"], requests):
            confirmed.append(label)
    assert confirmed == ["1.0"]
    assert raised.value.done_after == ["1.2"]
    assert len(mr_chase.peer.sent("YANK")) == 3


def test_silent_peer_times_out_within_the_timeout(peer):
    server = peer(lambda request: None)
    with MrChaseClient(server.address, 0.3) as client:
        started = time.monotonic()
        with pytest.raises(MrChaseTimeout) as raised:
            client.ping()
        elapsed = time.monotonic() - started
    assert 0.25 <= elapsed < 0.3 + 0.5
    assert str(raised.value) == f"Mr Chase did not answer within 0.3 s at {server.address}"


def test_the_call_after_a_timeout_works(peer):
    """A REQ socket that missed its reply can never send again; the client must have replaced it."""
    asked = []

    def answer_all_but_the_first(request):
        asked.append(request)
        return None if len(asked) == 1 else json.dumps(["PONG", "0.1.0", HEALTHY]).encode()

    server = peer(answer_all_but_the_first)
    with MrChaseClient(server.address, 0.3) as client:
        with pytest.raises(MrChaseTimeout):
            client.ping()
        assert client.ping() == "0.1.0"
        assert client.ping() == "0.1.0"
    assert len(asked) == 3


def test_one_socket_serves_a_sequence_of_requests(mr_chase):
    with MrChaseClient(mr_chase.peer.address, 5) as client:
        client.ping()
        first = client._socket
        client.status("gamma")
        assert client._socket is first
    assert client._socket is None


def test_no_socket_file_says_the_service_is_not_running(ipc_dir):
    address = f"ipc://{ipc_dir}/nobody-here"
    started = time.monotonic()
    with MrChaseClient(address, 30) as client, pytest.raises(MrChaseUnavailable) as raised:
        client.ping()
    assert time.monotonic() - started < 1
    assert f"no Mr Chase socket at {ipc_dir}/nobody-here (is the service running?)" in str(raised.value)
    assert address in str(raised.value)


def test_a_socket_the_user_cannot_write_names_the_fix(mr_chase, monkeypatch):
    """os.access is replaced because the tests may run as root, for whom every file is writable."""
    path = mr_chase.peer.address[len("ipc://") :]
    monkeypatch.setattr(client_module.os, "access", lambda p, mode: not (p == path and mode == os.W_OK))
    with MrChaseClient(mr_chase.peer.address, 5) as client, pytest.raises(MrChaseUnavailable) as raised:
        client.ping()
    assert str(raised.value).startswith(
        f"permission denied on {path}: run the task as the service user or a member of its group (become), "
        "or widen mr_chase_socket_mode"
    )
    assert mr_chase.peer.requests == []


def test_a_regular_file_is_not_a_queue(ipc_dir):
    path = os.path.join(ipc_dir, "plain-file")
    with open(path, "w"):
        pass
    with MrChaseClient(f"ipc://{path}", 5) as client, pytest.raises(MrChaseUnavailable, match="is not a socket"):
        client.ping()


def test_an_invalid_address_is_a_clear_error():
    with MrChaseClient("nonsense://where", 5) as client, pytest.raises(MrChaseError, match="nonsense://where"):
        client.ping()


def _hand_socket_to_a_stranger(path):
    """Make ``path`` a socket neither root nor the returned service user owns; the name of its owner.

    As root the file is given to nobody and the service user is one the host
    lacks; as anyone else the file is theirs and the service user is nobody.
    """
    if os.geteuid() == 0:
        os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)
        return "piw-no-such-user", "nobody"
    return "nobody", pwd.getpwuid(os.geteuid()).pw_name


def test_a_socket_owned_by_a_stranger_is_refused_before_anything_is_sent(mr_chase):
    path = mr_chase.peer.address[len("ipc://") :]
    service_user, owner = _hand_socket_to_a_stranger(path)
    client = MrChaseClient(mr_chase.peer.address, 5, service_user=service_user)
    with client, pytest.raises(MrChaseUnavailable) as raised:
        client.status("gamma", "1.0")
    message = str(raised.value)
    assert message.startswith(f"refusing to talk to {path}: the socket is owned by {owner} (uid ")
    assert f"not by the service user {service_user} (" in message
    assert mr_chase.peer.requests == []


def test_a_socket_owned_by_the_service_user_is_accepted(mr_chase):
    path = mr_chase.peer.address[len("ipc://") :]
    if os.geteuid() == 0:
        os.chown(path, pwd.getpwnam("nobody").pw_uid, -1)
    owner = pwd.getpwuid(os.stat(path).st_uid).pw_name
    with MrChaseClient(mr_chase.peer.address, 5, service_user=owner) as client:
        assert client.ping() == "0.1.0"


def test_a_socket_owned_by_root_is_accepted_whoever_the_service_user_is(mr_chase):
    if os.geteuid() != 0:
        pytest.skip("only root can make a socket file owned by root")
    with MrChaseClient(mr_chase.peer.address, 5, service_user="piw-no-such-user") as client:
        assert client.ping() == "0.1.0"


def test_an_abstract_socket_is_refused_unasked():
    """No file mode or owner protects ipc://@name: anyone on the host could answer in Mr Chase's name."""
    with MrChaseClient("ipc://@mr-chase", 1) as client, pytest.raises(MrChaseUnavailable, match="abstract socket"):
        client.ping()
