"""A removal is all or nothing: injected failures and kills at every step.

A failure before COMMIT must leave the database rows and the files
byte-identical; a kill at any step, followed by a restart, must leave the
removal either complete or as if it never happened.
"""

from __future__ import annotations

import pytest
from chase_helpers import MrChase, journal_pending, make_config, page_links, scalar, snapshot_db, snapshot_tree
from mr_chase.config import parse_config
from mr_chase.service import Service

BEFORE_COMMIT = ["journal_written", "moving", "moved"]
AFTER_COMMIT = ["committed", "page_replaced", "files_deleted"]


def failing_at(step: str):
    def checkpoint(name: str) -> None:
        if name == step:
            raise RuntimeError(f"injected failure at {name}")

    return checkpoint


@pytest.mark.parametrize("step", BEFORE_COMMIT)
def test_failure_before_commit_leaves_everything_as_it_was(repository, ipc_dir, step):
    svc = Service(parse_config(make_config(repository, ipc_dir)), checkpoint=failing_at(step))
    svc.recover()
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    reply = svc.handle([b'["REMOVE", "alpha", "1.0", true]'])
    assert reply.decode() == f'["ERROR","internal error: injected failure at {step}"]'
    assert snapshot_db(repository.dsn) == db
    assert snapshot_tree(repository.output_path) == tree
    assert not (ipc_dir / "audit.jsonl").exists()
    # and the service still works afterwards, once the fault is gone
    svc.remover.checkpoint = lambda name: None
    assert svc.handle([b'["REMOVE", "alpha", "1.0", true]']) == b'["DONE"]'
    svc.db.close()


def state_of(repository, files: list[str]) -> str:
    """'removed', 'intact', or a description of a mixed state (which must never happen)."""
    rows = scalar(repository.dsn, "SELECT count(*) FROM files WHERE filename = ANY(%s)", files)
    on_disk = [f for f in files if (repository.simple / "alpha" / f).exists()]
    linked = [f for f in files if f in page_links(repository, "alpha")]
    skip = scalar(repository.dsn, "SELECT skip FROM versions WHERE package = 'alpha' AND version = '1.0'")
    if rows == 0 and not on_disk and not linked and skip == "crash test":
        return "removed"
    if rows == len(files) and len(on_disk) == len(files) and len(linked) == len(files) and skip == "":
        return "intact"
    return f"mixed: rows={rows} on_disk={on_disk} linked={linked} skip={skip!r}"


@pytest.mark.parametrize("step", BEFORE_COMMIT + AFTER_COMMIT)
def test_kill_at_each_step_then_restart_recovers(repository, ipc_dir, step):
    files = repository.manifest.files("alpha", "1.0")
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": step})
    assert chase.send_expecting_exit(b'["REMOVE", "alpha", "1.0", "crash test"]') == 70
    chase.start()  # no crash hook: recovery runs before the queue is served
    try:
        expected = "intact" if step in BEFORE_COMMIT else "removed"
        assert state_of(repository, files) == expected
        assert not journal_pending(repository.output_path)
        assert not any((repository.output_path / ".mr-chase" / "staging").iterdir())
        assert not list(repository.simple.rglob("*.tmp"))
        if expected == "intact":
            assert snapshot_db(repository.dsn) == db
            assert snapshot_tree(repository.output_path) == tree
        assert "recovered the removal of alpha 1.0" in chase.log()
        # the removal can be (re)done and reports DONE either way
        assert chase.client("REMOVE", "alpha", "1.0", "crash test") == ["DONE"]
        assert state_of(repository, files) == "removed"
    finally:
        chase.stop()


CHANGES = {  # request -> the steps it passes before COMMIT
    "FORGET": (b'["FORGET", "alpha", "1.0"]', BEFORE_COMMIT),
    "DELETE": (b'["DELETE", "alpha"]', BEFORE_COMMIT),
    "YANK": (b'["YANK", "alpha", "1.0", true]', ["journal_written"]),
}


@pytest.mark.parametrize(("request_type", "step"), [(kind, step) for kind, (_frame, steps) in CHANGES.items()
                                                    for step in steps])
def test_failure_before_commit_of_every_change_leaves_everything_as_it_was(repository, ipc_dir, request_type, step):
    frame = CHANGES[request_type][0]
    svc = Service(parse_config(make_config(repository, ipc_dir)), checkpoint=failing_at(step))
    svc.recover()
    db, tree = snapshot_db(repository.dsn), snapshot_tree(repository.output_path)
    assert svc.handle([frame]).decode() == f'["ERROR","internal error: injected failure at {step}"]'
    assert snapshot_db(repository.dsn) == db
    assert snapshot_tree(repository.output_path) == tree
    assert not (ipc_dir / "audit.jsonl").exists()
    svc.remover.checkpoint = svc.package_remover.checkpoint = svc.yanker.checkpoint = lambda name: None
    assert svc.handle([frame]) == b'["DONE"]'
    svc.after_reply()
    assert snapshot_db(repository.dsn) != db
    svc.db.close()


@pytest.mark.parametrize("step", ["journal_written", "committing", "committed", "page_replaced", "cleaning"])
def test_kill_during_a_yank_then_restart_leaves_the_page_as_the_database_says(repository, ipc_dir, step):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": step})
    assert chase.send_expecting_exit(b'["YANK", "alpha", "1.0", true]') == 70
    chase.start()
    try:
        yanked = scalar(repository.dsn, "SELECT yanked FROM versions WHERE package = 'alpha' AND version = '1.0'")
        assert yanked is (step != "journal_written")
        marked = {name for name, attrs in page_links(repository, "alpha").items() if "data-yanked" in attrs}
        expected = set(repository.manifest.files("alpha", "1.1"))
        assert marked == (expected | set(repository.manifest.files("alpha", "1.0")) if yanked else expected)
        assert not journal_pending(repository.output_path)
        assert not list(repository.simple.rglob("*.tmp"))
        assert "recovered the page of alpha" in chase.log()
    finally:
        chase.stop()
