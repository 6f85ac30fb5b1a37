"""Mounted archives (issue 23): an archive root mounted on the master, configured as ``archives: [{location, path}]``.

Mr Chase removes such a location's files inside its own journal: moved into
``<root>/.mr-chase-staging/<token>/`` before COMMIT, deleted after it, put
back when the change does not commit (by recovery too), never left pending.
A real Mr Chase and PostgreSQL; killed at each step of REMOVE and DELETE.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from chase_helpers import SERVICE_PATH, MrChase, journal_pending, make_config, scalar
from mr_chase.config import ConfigError, parse_config

MOUNTED = "https://archive1.piwheels.example/simple"
REMOTE = "https://archive2.piwheels.example/simple"
#: every step a change passes from its journal to the journal's drop (the MR_CHASE_CRASH_AT hook)
BEFORE_COMMIT = ["journal_written", "moving", "moved", "mounted_moved"]
AFTER_COMMIT = ["committed", "page_replaced", "cleaning", "files_deleted"]


def put_in_archive(repository, root: Path, package: str, version: str, index: int, location: str) -> Path:
    """Move the ``index``-th file of a version to the archive at ``location``; when ``root`` is given, its wheel
    goes to ``root/simple/<package>/`` (the mounted archive) rather than nowhere."""
    filename = repository.manifest.files(package, version)[index]
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("UPDATE files SET location = %s WHERE filename = %s", (location, filename))
    target = root / "simple" / package / filename
    target.parent.mkdir(parents=True, exist_ok=True)
    (repository.simple / package / filename).rename(target)
    return target


def digest(root: Path) -> dict:
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture
def mounted_root(tmp_path) -> Path:
    root = tmp_path / "archive1"
    (root / "simple").mkdir(parents=True)
    return root


def chase_with_mount(repository, ipc_dir, root: Path) -> MrChase:
    return MrChase(make_config(repository, ipc_dir, archives=[{"location": MOUNTED + "/", "path": str(root)}]),
                   ipc_dir)


def test_a_mounted_archive_s_files_are_removed_inside_the_change_and_never_pending(repository, ipc_dir,
                                                                                   mounted_root):
    version = list(repository.manifest.packages["alpha"])[0]
    wheel = put_in_archive(repository, mounted_root, "alpha", version, 0, MOUNTED)
    elsewhere = put_in_archive(repository, mounted_root / "unmounted", "alpha", version, 1, REMOTE)
    chase = chase_with_mount(repository, ipc_dir, mounted_root).start()
    try:
        assert chase.client("REMOVE", "alpha", version, True) == ["DONE"]
        assert chase.client("PENDING", MOUNTED) == ["PENDING", {"location": MOUNTED, "files": [], "total": 0}]
        assert chase.client("PENDING", REMOTE)[1]["files"] == [["alpha", elsewhere.name]]
        assert not wheel.exists() and wheel.parent.is_dir()
        assert list((mounted_root / ".mr-chase-staging").iterdir()) == []  # its staging directory went too
        assert chase.client("PING")[2]["archive_pending"] == 1
    finally:
        chase.stop()


@pytest.mark.parametrize("request_type", ["REMOVE", "DELETE"])
@pytest.mark.parametrize("step", BEFORE_COMMIT + AFTER_COMMIT)
def test_a_mounted_archive_s_files_go_all_or_nothing_when_killed_at_each_step(repository, ipc_dir, mounted_root,
                                                                             step, request_type):
    versions = list(repository.manifest.packages["gamma"])
    wheels = [put_in_archive(repository, mounted_root, "gamma", versions[0], 0, MOUNTED),
              put_in_archive(repository, mounted_root, "gamma", versions[0], 1, MOUNTED)]
    before = digest(mounted_root)
    message = ["REMOVE", "gamma", versions[0], True] if request_type == "REMOVE" else ["DELETE", "gamma"]
    chase = chase_with_mount(repository, ipc_dir, mounted_root)
    chase.start(env={"MR_CHASE_CRASH_AT": step})
    chase.client.raw(json.dumps(message).encode(), timeout=5)
    assert chase.wait_exit(30) == 70, chase.log()[-2000:]
    assert journal_pending(repository.output_path) or step == "files_deleted"
    if step == "mounted_moved":  # the crash left them staged on the archive's file system: recovery decides
        assert not any(wheel.exists() for wheel in wheels)
        assert len(list((mounted_root / ".mr-chase-staging").glob("*/*.whl"))) == 2
    chase.start()
    try:
        assert not journal_pending(repository.output_path)
        rows = scalar(repository.dsn, "SELECT count(*) FROM files WHERE location <> '/simple'")
        if step in AFTER_COMMIT:
            assert rows == 0 and not any(wheel.exists() for wheel in wheels)
        else:
            assert rows == 2 and digest(mounted_root) == before  # put back, byte for byte
        assert not any((mounted_root / ".mr-chase-staging").glob("*/*"))  # nothing left staged
        assert chase.client("PING")[2]["archive_pending"] == 0  # a mounted archive's files are never pending
    finally:
        chase.stop()


@pytest.mark.parametrize("archives, key, words", [
    ("/srv/archive", "archives", "must be a list"),
    ([{"location": MOUNTED}], "archives[0]", "exactly location and path"),
    ([{"location": MOUNTED, "path": "/srv/a", "mode": 1}], "archives[0]", "exactly location and path"),
    ([{"location": "", "path": "/"}], "archives[0].location", "files.location"),
    ([{"location": "/simple/", "path": "/"}], "archives[0].location", "files.location"),
    ([{"location": MOUNTED, "path": "relative/archive"}], "archives[0].path", "must be an absolute path"),
    ([{"location": MOUNTED, "path": "/nonexistent/archive1"}], "archives[0].path", "is not an existing directory"),
    ([{"location": MOUNTED, "path": "/"}, {"location": MOUNTED + "/", "path": "/"}], "archives[1].location",
     "listed twice"),
])
def test_a_bad_archives_key_is_refused_naming_it(archives, key, words):
    with pytest.raises(ConfigError) as raised:
        parse_config({"dsn": "postgresql:///piwheels", "output_path": "/var/www/piwheels", "archives": archives})
    assert raised.value.key == key and words in str(raised.value)


def test_the_archives_key_is_read_normalised(tmp_path):
    config = parse_config({"dsn": "x", "output_path": "/var/www", "archives": [{"location": MOUNTED + "/",
                                                                               "path": str(tmp_path)}]})
    assert config.archives == {MOUNTED: tmp_path}


def test_mr_chase_refuses_to_start_with_a_bad_archives_key(tmp_path):
    config = tmp_path / "mr-chase.yaml"
    config.write_text(json.dumps({"dsn": "x", "output_path": str(tmp_path),
                                  "archives": [{"location": MOUNTED, "path": str(tmp_path / "missing")}]}))
    done = subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(config)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(SERVICE_PATH)}, timeout=60)
    assert done.returncode == 2
    assert "configuration key 'archives[0].path'" in done.stderr and "not an existing directory" in done.stderr
