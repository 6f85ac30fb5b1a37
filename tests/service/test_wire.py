"""Every protocol vector, and every kind of garbage, against a real Mr Chase over ZeroMQ.

One Mr Chase subprocess serves the whole module (the valid vectors run in
file order, as the vector file intends); after each request it must still
answer PING, because no request may stop the loop.
"""

from __future__ import annotations

import json

import pytest
import zmq
from chase_helpers import HEALTHY, MrChase, load_vectors, make_config
from mr_chase import __version__

from piwheels_testbed import SERVICE_ROLE, build_repository, create_database, drop_database, role_dsn

VECTORS = load_vectors()


class _Repo:
    def __init__(self, dsn, output_path):
        self.dsn, self.output_path = dsn, output_path
        self.service_dsn = role_dsn(dsn, SERVICE_ROLE)


@pytest.fixture(scope="module")
def live(pg_cluster, tmp_path_factory):
    import shutil
    import tempfile
    from pathlib import Path

    dsn = create_database(pg_cluster)
    output = tmp_path_factory.mktemp("wire") / "www"
    build_repository(dsn, output)
    ipc_dir = Path(tempfile.mkdtemp(prefix="mc-", dir="/tmp"))
    chase = MrChase(make_config(_Repo(dsn, output), ipc_dir), ipc_dir).start()
    yield chase
    chase.stop()
    shutil.rmtree(ipc_dir, ignore_errors=True)
    drop_database(pg_cluster, dsn)


def frame_of(vector: dict) -> bytes:
    if "frame_hex" in vector:
        return bytes.fromhex(vector["frame_hex"].replace(" ", ""))
    text = vector["frame"]
    for placeholder, (char, count) in vector.get("expand", {}).items():
        text = text.replace(placeholder, char * count)
    return text.encode("utf-8")


def assert_reply_shape(reply: list) -> None:
    assert isinstance(reply, list) and reply and reply[0] in VECTORS["replies"]
    assert len(reply) == len(VECTORS["replies"][reply[0]]) + 1


#: (package null, version null) -> what that STATUS must hold at least
STATUS_KEYS = {(True, True): {"stale_pages", "parked_notices", "site_refresh", "settling", "archives"},
               (False, True): {"package", "skip", "versions"},
               (False, False): {"package", "version", "skip", "yanked", "builds", "files", "downloads"}}


@pytest.mark.parametrize("vector", VECTORS["valid_requests"], ids=lambda v: json.dumps(v["request"]))
def test_valid_request(live, vector):
    reply = live.client(*vector["request"])
    assert_reply_shape(reply)
    assert reply[0] == vector["reply_type"], reply
    if "error" in vector:
        assert reply == ["ERROR", vector["error"]]
    if reply[0] == "PONG":
        assert reply == ["PONG", __version__, HEALTHY]
    if reply[0] == "STATUS":
        assert STATUS_KEYS[vector["request"][1] is None, vector["request"][2] is None] <= set(reply[1])


@pytest.mark.parametrize("vector", VECTORS["invalid_requests"], ids=lambda v: v["why"])
def test_invalid_request_gets_error_and_service_keeps_serving(live, vector):
    reply = live.client.raw(frame_of(vector))
    assert reply is not None
    assert reply[0] == "ERROR" and len(reply) == 2
    assert reply[1].startswith("invalid message: "), reply
    if "error" in vector:
        assert reply[1] == vector["error"]
    assert live.client("PING") == ["PONG", __version__, HEALTHY]


def test_vectors_use_the_service_limits():
    from mr_chase import protocol

    assert VECTORS["max_frame_bytes"] == protocol.MAX_FRAME_BYTES
    assert VECTORS["limits"] == protocol.LIMITS
    assert VECTORS["archive_limits"] == {**protocol.ARCHIVE_LIMITS, "files": protocol.MAX_ARCHIVE_FILES}
    assert VECTORS["default_skip_reason"] == protocol.DEFAULT_SKIP_REASON
    assert set(protocol.REQUESTS) == set(VECTORS["requests"])
    assert set(protocol.REPLIES) == set(VECTORS["replies"])


def test_oversized_frame_gets_error(live):
    frame = json.dumps(["STATUS", "a" * 70000, None]).encode()
    reply = live.client.raw(frame)
    assert reply == ["ERROR", f"invalid message: frame of {len(frame)} bytes exceeds 65536"]


def test_frame_over_the_hard_cap_is_dropped_and_service_survives(live):
    reply = live.client.raw(b"x" * (2 << 20), timeout=1.0)
    assert reply is None  # ZeroMQ's MAXMSGSIZE disconnects the peer: no reply, no memory blow-up
    assert live.client("PING") == ["PONG", __version__, HEALTHY]


def test_multi_frame_message_gets_error(live):
    reply = live.client.send_frames([b'["PING"]', b'["PING"]'])
    assert json.loads(reply) == ["ERROR", "invalid message: a message is one frame, not 2"]


def test_binary_garbage_and_pickle_are_refused(live):
    import pickle

    for frame in (b"\x80\x04\x95", pickle.dumps(["PING"]), b"\x00" * 10):
        reply = live.client.raw(frame)
        assert reply[0] == "ERROR" and reply[1].startswith("invalid message: ")


def test_router_dealer_peer_is_answered_too(live):
    """A DEALER (not REQ) client that sends the REQ envelope gets its reply as well."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(live.address)
    try:
        sock.send_multipart([b"", b'["PING"]'])
        assert sock.poll(5000)
        empty, reply = sock.recv_multipart()
        assert empty == b"" and json.loads(reply) == ["PONG", __version__, HEALTHY]
    finally:
        sock.close()


def test_pipelined_requests_on_one_connection_are_answered_in_order(live):
    """A DEALER (as the modules use) sends STATUS, PING, STATUS at once: a PING never overtakes."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(live.address)
    try:
        for message in (["STATUS", "alpha", None], ["PING"], ["STATUS", "gamma", None]):
            sock.send_multipart([b"", json.dumps(message).encode()])
        replies = []
        for _ in range(3):
            assert sock.poll(10_000)
            empty, frame = sock.recv_multipart()
            replies.append(json.loads(frame))
        assert [r[0] for r in replies] == ["STATUS", "PONG", "STATUS"]
        assert replies[0][1]["package"] == "alpha" and replies[2][1]["package"] == "gamma"
    finally:
        sock.close()
