"""A fuzzer on the import queue: every malformed request gets ERROR, and nothing changes.

One REQ socket is reused (REQ alternates send and receive, so a missing reply
would stop the run at once).  The generator is seeded and the seed printed;
``PIW_SEED`` replays a run.  After every batch a valid STATUS must still
answer exactly as before the run, and a hash of every row of the piwheels
tables plus every file under output_path must not have changed.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import time
from collections import Counter

import psycopg
import zmq
from chase_helpers import snapshot_tree
from figures import report
from mr_chase.protocol import LIMITS, MAX_FRAME_BYTES
from mr_chase.service import HARD_CAP_BYTES
from reliability_helpers import scaled

TOTAL = scaled(12_000, 150_000)
BATCH = scaled(500, 2_000)
TYPES = ["REMOVE", "STATUS", "SKIP", "PING"]
ARITY = {"REMOVE": 3, "STATUS": 2, "SKIP": 2, "PING": 0}
SQL = ["alpha'; DROP TABLE packages; --", "alpha\" OR 1=1 --", "'; DELETE FROM files; --", "1.0' OR '1'='1",
       "%s", "%(package)s", "$1", "alpha; TRUNCATE builds", "{}", "\\'", "alpha' UNION SELECT * FROM files --"]
ESCAPES = ["../../etc/passwd", "..", "a/b", "/abs", "alpha/../beta-tools", "a\\b", "a\x00b", "a\nb", "\t", "\x7f",
           "a\x1bb", "", "x" * (LIMITS["package"] + 1), ".." + "x" * 10]
UNICODE = ["\ud800", "alpha\udfff", "\ufeffalpha", "al\u202epha", "\uffff", "\U0010ffff", "ALPHA\u0301", "ａｌｐｈａ"]


def dump(value) -> bytes:
    return json.dumps(value).encode()


def any_value(rng: random.Random, depth: int = 0):
    kind = rng.randrange(9 if depth < 3 else 6)
    if kind == 0:
        return None
    if kind == 1:
        return rng.choice([True, False])
    if kind == 2:
        return rng.choice([0, -1, 2**63, 1.5, 1e308, -0.0])
    if kind == 3:
        return rng.choice(SQL + ESCAPES + UNICODE)
    if kind == 4:
        return "".join(chr(rng.randrange(1, 0x3000)) for _ in range(rng.randrange(0, 30)))
    if kind == 5:
        return rng.choice(["REMOVE", "STATUS", "SKIP", "PING", "DONE", "ERROR", "PONG", "remove", " PING"])
    if kind == 6:
        return [any_value(rng, depth + 1) for _ in range(rng.randrange(0, 4))]
    return {str(any_value(rng, depth + 1))[:10]: any_value(rng, depth + 1) for _ in range(rng.randrange(0, 3))}


def bad_name(rng: random.Random) -> str:
    """A name no package has and none canonicalises to: hostile, unsafe or just unknown."""
    return rng.choice(SQL + ESCAPES + UNICODE + [f"nosuch-{rng.randrange(10**6)}"])


# -- the generators: each returns (category, frames) --------------------------------------------------------------


def random_bytes(rng):
    return [rng.randbytes(rng.randrange(0, 300))]


def invalid_utf8(rng):
    junk = rng.choice([b"\xff", b"\xfe\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\x80"])
    return [b'["STATUS", "alpha' + junk + b'", null]']


def not_an_array(rng):
    return [dump(rng.choice([{"type": "PING"}, "PING", 42, None, True, {"0": "STATUS"}, 1.5, "[\"PING\"]"]))]


def wrong_arity(rng):
    mtype = rng.choice(TYPES)
    n = rng.choice([k for k in range(0, 7) if k != ARITY[mtype]])
    return [dump([mtype] + [any_value(rng) for _ in range(n)])]


def wrong_types(rng):
    mtype = rng.choice(["REMOVE", "STATUS", "SKIP"])
    args = [rng.choice(["alpha", "1.0"]) for _ in range(ARITY[mtype])]
    slot = rng.randrange(len(args))
    wrong = {"REMOVE": [0, 1.5, [], {}, None], "STATUS": [0, True, [], {}], "SKIP": [0, None, [], True]}[mtype]
    if mtype == "REMOVE" and slot == 2:
        wrong = [None, 0, 1, [], {}]  # skip must be a bool or a string
    if mtype == "STATUS" and slot == 1:
        wrong = [0, True, [], {}, 1.0]  # version may be null, nothing else
    args[slot] = rng.choice(wrong)
    if mtype == "SKIP" and slot == 1:
        args[0] = bad_name(rng)  # never a valid SKIP of a real package
    return [dump([mtype, *args])]


def bad_type(rng):
    return [dump([rng.choice([None, 1, [], {}, "", "remove", "Ping", "DONE", "PONG", "ERROR", "STATUS\x00"])])]


def huge_string(rng):
    size = rng.choice([LIMITS["package"] + 1, 1000, MAX_FRAME_BYTES - 40, MAX_FRAME_BYTES + 1, 200_000])
    return [dump(["STATUS", "a" * size, None])]


def deep_nesting(rng):
    depth = rng.choice([100, 1000, 20_000, MAX_FRAME_BYTES // 2 - 20])
    inner = "[" * depth + "]" * depth
    return [rng.choice([inner, f'["STATUS", {inner}, null]', '["REMOVE", "alpha", "1.0", ' + inner + "]"]).encode()]


def unsafe_name(rng):
    mtype = rng.choice(["REMOVE", "STATUS", "SKIP"])
    name = rng.choice(ESCAPES)
    if mtype == "REMOVE":
        message = rng.choice([["REMOVE", name, "1.0", True], ["REMOVE", "alpha", name, False]])
    elif mtype == "STATUS":
        message = rng.choice([["STATUS", name, None], ["STATUS", "alpha", name]])
    else:
        message = rng.choice([["SKIP", name, ""], ["SKIP", bad_name(rng), "a\x00b"], ["SKIP", "x", "r" * 101]])
    return [dump(message)]


def sql_metacharacters(rng):
    name, other = rng.choice(SQL), rng.choice(SQL)
    return [dump(rng.choice([["STATUS", name, None], ["STATUS", "alpha", other], ["REMOVE", name, "1.0", True],
                             ["REMOVE", "alpha", other, name[:100]], ["SKIP", name, other[:100]],
                             ["REMOVE", "gamma", other, True]]))]


def odd_unicode(rng):
    name = rng.choice(UNICODE)
    return [dump(rng.choice([["STATUS", name, None], ["REMOVE", name, "1.0", True], ["SKIP", name, "x"],
                             ["STATUS", "alpha", name], ["REMOVE", "alpha", name, name]]))]


def multi_frame(rng):
    return [rng.choice([b'["PING"]', b'["STATUS", "alpha", null]', b"", rng.randbytes(8)])
            for _ in range(rng.randrange(2, 6))]


def odd_json(rng):
    return [rng.choice([b'\xef\xbb\xbf["PING"]', b'["PING"] x', b'["PING"]\x00', b'["PING",]', b"[NaN]",
                        b'["STATUS", "alpha", 1e400]', b'["REMOVE", "alpha", "1.0", Infinity]',
                        b"[" + b"9" * 5000 + b"]",
                        b'["STATUS", "alpha", "1.0"', b"[]", b" ", b'{"PING": []}', b'["PING"]["PING"]',
                        b"['PING']", b'["STATUS", "al\\u0000pha", null]', b'["SKIP", "alpha", "\\u0007"]'])]


GENERATORS = [random_bytes, invalid_utf8, not_an_array, wrong_arity, wrong_types, bad_type, huge_string,
              deep_nesting, unsafe_name, sql_metacharacters, odd_unicode, multi_frame, odd_json]


def fingerprint(dsn: str, root) -> str:
    """sha256 of every row of every piwheels table and every file under output_path."""
    digest = hashlib.sha256()
    with psycopg.connect(dsn) as conn:
        for table in ("packages", "versions", "builds", "files", "dependencies", "downloads"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3"):
                digest.update(repr(row).encode())
    digest.update(repr(sorted(snapshot_tree(root).items())).encode())
    return digest.hexdigest()


def request(sock: zmq.Socket, frames: list[bytes], timeout_ms: int = 10_000) -> list:
    sock.send_multipart(frames)
    assert sock.poll(timeout_ms), f"no reply to {frames[0][:120]!r} ({len(frames)} frame(s))"
    return json.loads(sock.recv())


def test_every_malformed_request_gets_error_and_changes_nothing(repository, mr_chase):
    seed = int(os.environ.get("PIW_SEED", time.time_ns() % 2**32))
    rng = random.Random(seed)
    print(f"seed={seed} (rerun with PIW_SEED={seed})")
    sock = zmq.Context.instance().socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(mr_chase.address)
    status = request(sock, [b'["STATUS", "alpha", "1.0"]'])
    package_status = request(sock, [b'["STATUS", "beta_Tools", null]'])
    assert status[0] == package_status[0] == "STATUS"
    before = fingerprint(repository.dsn, repository.output_path)
    tried, replies, internal = Counter(), Counter(), []
    started = time.monotonic()
    try:
        for sent in range(1, TOTAL + 1):
            generator = rng.choice(GENERATORS)
            frames = generator(rng)
            reply = request(sock, frames)
            tried[generator.__name__] += 1
            assert reply[0] == "ERROR" and len(reply) == 2, f"{generator.__name__}: {frames!r:.300} -> {reply}"
            replies[reply[1].split(":")[0] if ":" in reply[1] else reply[1].split(" ")[0] + " ..."] += 1
            if reply[1].startswith("internal error"):
                internal.append((frames, reply))
            if sent % BATCH == 0:
                assert request(sock, [b'["STATUS", "alpha", "1.0"]']) == status
                assert request(sock, [b'["STATUS", "beta-tools", null]']) == package_status
                assert fingerprint(repository.dsn, repository.output_path) == before, f"changed by batch ending {sent}"
    finally:
        sock.close()
    elapsed = time.monotonic() - started
    assert mr_chase.proc.poll() is None
    report("fuzz", seed=seed, malformed=sum(tried.values()), errors=sum(replies.values()),
           per_second=round(sum(tried.values()) / elapsed), batches_checked=TOTAL // BATCH)
    print("by generator:", dict(sorted(tried.items())))
    print("by reply:", dict(replies.most_common()))
    assert not internal, f"{len(internal)} requests reached an internal error, e.g. {internal[0]!r:.400}"


def test_frame_over_the_hard_cap_drops_the_peer_and_the_service_keeps_serving(repository, mr_chase):
    """Above ZeroMQ's MAXMSGSIZE the peer is disconnected without a reply (by design); others are served."""
    context = zmq.Context.instance()
    dropped = 0
    for size in (HARD_CAP_BYTES + 1, 4 * HARD_CAP_BYTES):
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(mr_chase.address)
        sock.send(b"[" + b" " * (size - 2) + b"]")
        dropped += not sock.poll(2000)
        sock.close()
        assert mr_chase.client("PING")[0] == "PONG"
    # just under the cap: an ordinary ERROR
    reply = mr_chase.client.raw(b'["PING"' + b" " * (HARD_CAP_BYTES - 9) + b"]")
    assert reply[0] == "ERROR" and "exceeds" in reply[1]
    report("fuzz_hard_cap", oversize_frames_dropped_without_reply=dropped)
    assert dropped == 2
    assert mr_chase.proc.poll() is None


def test_lone_surrogate_is_refused_before_the_database(repository, mr_chase):
    """A JSON ``\\ud800`` escape decodes to a string PostgreSQL cannot store: refuse it as invalid, not internal."""
    for frame in (b'["STATUS", "alpha\\ud800", null]', b'["REMOVE", "alpha", "1.0", "\\udfff"]',
                  b'["SKIP", "\\udc00", "x"]'):
        reply = mr_chase.client.raw(frame)
        assert reply[0] == "ERROR" and reply[1].startswith("invalid message:") and "surrogate" in reply[1], reply
