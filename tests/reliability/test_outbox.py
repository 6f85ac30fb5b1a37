"""One bad outbox entry never stops the notices behind it (issue 21, item 5).

The outbox (``.mr-chase/outbox/``) is a directory anyone with the service's
rights can write to, and a crash or a full disk can leave anything there.
Each entry is read without following a symbolic link, up to a size cap, and
checked against the messages Mr Chase may send (upstream's own schema for
them) before it goes to piw-master; anything else is parked in
``.mr-chase/parked/`` with a log line and an audit record, counted in PONG,
and the notices behind it are delivered.  So is an entry piw-master never
answers, once it went unanswered in a few rounds in which the master
answered others.  The master here is the stand-in (tests/master), which
checks every message against exactly upstream's schema and records it.
"""

from __future__ import annotations

import json
import os

import cbor2
import pytest
from chase_helpers import MrChase, make_config, wait_for
from figures import report
from reliability_helpers import scaled

from piwheels_testbed.master import StandInMaster, check, load_schema

#: how many entries of each bad kind are put in the outbox
COPIES = scaled(1, 25)
SECRET = ["REBUILD", ["BOTH", "secret-outside-the-tree"]]


def outbox(repository):
    return repository.output_path / ".mr-chase" / "outbox"


def parked(repository):
    path = repository.output_path / ".mr-chase" / "parked"
    return sorted(p.name for p in path.iterdir()) if path.exists() else []


def plant_bad_entries(repository, elsewhere) -> list[str]:
    """Entries older than any notice Mr Chase writes: JSON but no [msg, data], a message upstream takes but
    Mr Chase never sends, a symlink to a valid notice outside the tree, a 20 MB entry, a FIFO."""
    box = outbox(repository)
    box.mkdir(parents=True, exist_ok=True)
    secret = elsewhere / "secret.json"
    secret.write_text(json.dumps(SECRET))
    names = []
    for copy in range(COPIES):
        contents = {"int": "42", "empty": "[]", "object": "{}", "rempkg": json.dumps(["REMPKG", ["gamma", True, ""]]),
                    "huge": json.dumps(["REBUILD", ["BOTH", "x" * (20 << 20)]]) if copy == 0 else None}
        for kind, text in contents.items():
            if text is None:
                continue
            name = f"{len(names):020d}-{kind}{copy}.json"
            (box / name).write_text(text)
            names.append(name)
        link = f"{len(names):020d}-symlink{copy}.json"
        (box / link).symlink_to(secret)
        names.append(link)
        fifo = f"{len(names):020d}-fifo{copy}.json"
        os.mkfifo(box / fifo)
        names.append(fifo)
    return names


@pytest.fixture
def master(ipc_dir, repository):
    stand_in = StandInMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    yield stand_in
    stand_in.stop()


def test_bad_entries_are_parked_and_the_notices_behind_them_delivered(repository, ipc_dir, master, tmp_path):
    bad = plant_bad_entries(repository, tmp_path)
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue, master_timeout=1), ipc_dir).start()
    try:
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        wait_for(lambda: master.accepted, timeout=20)
        wait_for(lambda: len(parked(repository)) == len(bad), timeout=20)
        assert chase.client("SKIP", "gamma", "after the bad ones") == ["DONE"]
        wait_for(lambda: len(master.accepted) == 2, timeout=20)
        assert master.accepted == [["REMVER", ["gamma", "1.0", True, "", False]], ["REBUILD", ["BOTH", "gamma"]]]
        # the stand-in records a notice before it replies: wait for Mr Chase to have the reply and drop the entry
        wait_for(lambda: list(outbox(repository).iterdir()) == [], timeout=20)
        assert master.rejected == []  # nothing off-schema reached it: the 20 MB entry was never sent
        assert SECRET not in master.accepted
        assert chase.client("PING")[2]["parked_notices"] == len(bad)
        assert chase.proc.poll() is None
    finally:
        assert chase.stop() == 0
    assert parked(repository) == sorted(bad)
    assert [p.name for p in outbox(repository).iterdir()] == []
    assert (repository.output_path / ".mr-chase" / "parked" / bad[5]).is_symlink()  # the link moved, not its target
    assert json.loads((tmp_path / "secret.json").read_text()) == SECRET
    audit = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    reasons = [r["outcome"] for r in audit if r["outcome"].startswith("parked: ")]
    assert len(reasons) == len(bad)
    for why in ("a symbolic link, never followed", "larger than 4096 bytes", "not a regular file",
                "not a notification Mr Chase sends: '42'", "not a notification Mr Chase sends: '[\"REMPKG\""):
        assert any(why in reason for reason in reasons), why
    assert chase.log().count("parked in") >= len(bad)
    report("outbox_bad_entries", parked=len(bad), delivered=len(master.accepted), sent_off_schema=0)


class DeafMaster(StandInMaster):
    """piw-master as a stand-in that never answers one message (as upstream drops what it cannot handle)."""

    never = ["REBUILD", ["BOTH", "never-answered"]]

    def handle(self, frame: bytes):
        if cbor2.loads(frame) == self.never:
            self.rejected.append(frame)
            return None
        return super().handle(frame)


def test_an_entry_the_master_never_answers_is_parked_and_the_queue_moves_on(repository, ipc_dir):
    master = DeafMaster(f"ipc://{ipc_dir}/master", repository.dsn, repository.output_path).start()
    outbox(repository).mkdir(parents=True)
    (outbox(repository) / f"{0:020d}-never.json").write_text(json.dumps(DeafMaster.never))
    changes = scaled(4, 20)
    chase = MrChase(make_config(repository, ipc_dir, master_queue=master.queue, master_timeout=0.3), ipc_dir).start()
    try:
        for n in range(changes):
            assert chase.client("SKIP", "gamma", f"change {n}") == ["DONE"]
            wait_for(lambda n=n: len(master.accepted) == n + 1, timeout=20)
        wait_for(lambda: parked(repository) == [f"{0:020d}-never.json"], timeout=20)
        assert chase.client("PING")[2]["parked_notices"] == 1
        assert master.accepted == [["REBUILD", ["BOTH", "gamma"]]] * changes
        attempts = len(master.rejected)
    finally:
        assert chase.stop() == 0
        master.stop()
    audit = [json.loads(line) for line in (ipc_dir / "audit.jsonl").read_text().splitlines()]
    [record] = [r for r in audit if r["outcome"].startswith("parked: ")]
    assert record["request"] == ["NOTIFY", *DeafMaster.never]
    assert "did not answer it in 3 rounds while it answered others" in record["outcome"]
    report("outbox_unanswered", changes_delivered=changes, attempts_on_the_deaf_entry=attempts)


def test_a_master_that_is_down_parks_nothing(repository, ipc_dir):
    """Unanswered because nobody listens: every notice waits, none is parked (none counts against itself)."""
    queue = f"ipc://{ipc_dir}/master"
    chase = MrChase(make_config(repository, ipc_dir, master_queue=queue, master_timeout=0.2), ipc_dir).start()
    try:
        for n in range(4):
            assert chase.client("SKIP", "gamma", f"change {n}") == ["DONE"]
        wait_for(lambda: chase.log().count("did not take") >= 4, timeout=20)
        assert parked(repository) == []
        master = StandInMaster(queue, repository.dsn, repository.output_path).start()
        try:
            wait_for(lambda: len(master.accepted) == 4, timeout=40)
        finally:
            master.stop()
        assert chase.client("PING")[2]["parked_notices"] == 0
    finally:
        assert chase.stop() == 0


def test_every_message_the_notifier_may_send_is_one_upstream_declares():
    from mr_chase.notifier import SENDABLE, rebuild_search, remove_version, rewrite_pages, sendable

    schema = load_schema()
    for msg, shapes in SENDABLE.items():
        for shape in shapes:
            sample = [{str: "x", bool: True}.get(spec, spec) for spec in shape]
            assert check([msg, sample], schema) == (msg, sample), (msg, shape)
    for message in (remove_version("a", "1.0", ""), rewrite_pages("a"), rebuild_search()):
        assert sendable(message), message
    for message in (42, [], {}, ["REMPKG", ["a", True, ""]], ["REMVER", ["a", "1.0", 1, "", False]],
                    ["REBUILD", ["BOTH", None]], ["REBUILD", ["HOME"]], ["REMVER", ["a", "1.0", True, ""]]):
        assert not sendable(message), message


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the deaths injected here
def test_a_delivery_thread_that_dies_is_started_again_and_at_last_the_service_exits(repository, ipc_dir, master):
    """The thread is killed by what no ``except Exception`` catches; revive() (the service's watch calls it
    after every request) starts it again, MAX_RESTARTS times, then raises ThreadDied (exit 4: systemd)."""
    from mr_chase.audit_log import AuditLog
    from mr_chase.loop import ThreadDied
    from mr_chase.notifier import MAX_RESTARTS, MasterNotifier, rewrite_pages
    from mr_chase.tree import Tree

    notifier = MasterNotifier(master.queue, Tree(repository.output_path), AuditLog(ipc_dir / "audit.jsonl"), 1.0)
    deliver = notifier._deliver_all

    def die(_context):
        raise SystemExit("injected: the delivery thread dies")

    try:
        for restart in range(MAX_RESTARTS + 1):
            notifier._deliver_all = die
            if restart == 0:
                notifier.start()
            else:
                notifier._wake.set()  # a round, which now dies
            wait_for(lambda: not notifier._thread.is_alive(), timeout=10)
            notifier._deliver_all = deliver
            if restart == MAX_RESTARTS:
                with pytest.raises(ThreadDied, match="died 4 times"):
                    notifier.revive()
                break
            notifier.revive()
            notifier.submit(rewrite_pages(f"gamma{restart}"))
            wait_for(lambda restart=restart: len(master.accepted) == restart + 1, timeout=10)
    finally:
        notifier.stop()
    assert master.accepted == [["REBUILD", ["BOTH", f"gamma{n}"]] for n in range(MAX_RESTARTS)]
