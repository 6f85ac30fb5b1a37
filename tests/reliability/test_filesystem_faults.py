"""The file system refuses: the removal fails with ERROR, and neither the database nor any file changed.

Mr Chase runs as the service account (root would ignore the permission bits).
Each case breaks one thing the removal of alpha 1.0 needs, sends the REMOVE,
and then checks that every row of every piwheels table and every file under
output_path is byte-identical, that no journal, staged wheel or temporary
page is left, and that the same removal succeeds once the fault is gone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from chase_helpers import journal_pending, page_links, snapshot_db, snapshot_tree
from figures import report


def read_only(*paths: Path) -> list[tuple[Path, int]]:
    saved = []
    for path in paths:
        saved.append((path, path.stat().st_mode))
        path.chmod(0o555)
    return saved


def break_package_dir(tree: Path, files: list[str]):
    """The package directory is read-only: no temporary page, no wheel can leave."""
    saved = read_only(tree / "simple" / "alpha")
    return lambda: [path.chmod(mode) for path, mode in saved]


def break_staging(tree: Path, files: list[str]):
    """The staging directory is read-only: the new page is written, then the first move fails."""
    saved = read_only(tree / ".mr-chase" / "staging")
    return lambda: [path.chmod(mode) for path, mode in saved]


def break_whole_tree(tree: Path, files: list[str]):
    """Every directory of output_path read-only, Mr Chase's state directory included: not even a journal."""
    saved = read_only(*[p for p in [tree, *tree.rglob("*")] if p.is_dir()])
    return lambda: [path.chmod(mode) for path, mode in reversed(saved)]


def break_last_wheel(tree: Path, files: list[str]):
    """The last wheel is immutable (chattr +i): the first wheels are moved, then one cannot be."""
    if shutil.which("chattr") is None:
        pytest.skip("chattr is not installed")
    wheel = tree / "simple" / "alpha" / files[-1]
    proc = subprocess.run(["chattr", "+i", str(wheel)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {proc.stderr.strip()}")
    return lambda: subprocess.run(["chattr", "-i", str(wheel)], check=True)


FAULTS = [break_package_dir, break_staging, break_whole_tree, break_last_wheel]


@pytest.mark.parametrize("fault", FAULTS, ids=[f.__name__ for f in FAULTS])
def test_removal_the_file_system_refuses_changes_nothing(user_repository, chase_as_service, fault):
    repository = user_repository
    tree = repository.output_path
    chase = chase_as_service()
    files = repository.manifest.files("alpha", "1.0")
    db, before = snapshot_db(repository.dsn), snapshot_tree(tree)
    restore = fault(tree, files)
    try:
        reply = chase.client("REMOVE", "alpha", "1.0", True)
    finally:
        restore()
    assert reply[0] == "ERROR" and reply[1].startswith("file system error: "), reply
    assert snapshot_db(repository.dsn) == db
    assert snapshot_tree(tree) == before
    assert not journal_pending(tree)
    assert not list((tree / ".mr-chase" / "staging").iterdir())
    assert not list(tree.rglob("*.tmp"))
    assert chase.proc.poll() is None
    # the fault is gone: the same removal goes through, whole
    assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
    assert not any((tree / "simple" / "alpha" / f).exists() for f in files)
    assert not set(files) & set(page_links(repository, "alpha"))
    assert os.stat(tree / "simple" / "alpha" / "index.html").st_uid == os.stat(tree).st_uid
    report(f"filesystem_{fault.__name__}", reply=reply[1][:90], db_unchanged=True, files_unchanged=True)
