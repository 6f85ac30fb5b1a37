"""Mr Chase as a process: socket permissions, SIGTERM, a PostgreSQL restart, bad configuration."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys

import pytest
import yaml
from chase_helpers import HEALTHY, SERVICE_PATH, MrChase, journal_pending, make_config, scalar, snapshot_db
from mr_chase import __version__

#: the clean-up after a removal's reply (deleting its staged wheels) held up for this long
SLOW_CLEANUP = {"MR_CHASE_DELAY_AT": "cleaning:1.5"}


def test_socket_file_has_socket_mode(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir, socket_mode="0600"), ipc_dir).start()
    try:
        mode = os.stat(ipc_dir / "q").st_mode
        assert stat.S_ISSOCK(mode)
        assert stat.S_IMODE(mode) == 0o600
    finally:
        chase.stop()


def test_default_socket_mode_is_0660(mr_chase, ipc_dir):
    assert stat.S_IMODE(os.stat(ipc_dir / "q").st_mode) == 0o660


def test_sigterm_exits_cleanly_and_removes_the_socket(mr_chase, ipc_dir):
    assert (ipc_dir / "q").exists()
    mr_chase.proc.send_signal(signal.SIGTERM)
    assert mr_chase.wait_exit(5) == 0
    assert not (ipc_dir / "q").exists()
    assert "Mr Chase stopped" in mr_chase.log()


def test_second_instance_on_the_same_queue_exits_1_and_the_first_keeps_serving(mr_chase, repository, ipc_dir):
    # ZeroMQ's ipc bind would replace the first one's socket file and take its queue
    second = subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(mr_chase.config_path)],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)),
                            timeout=30)
    assert second.returncode == 1
    assert f"{mr_chase.address} is held by pid {mr_chase.proc.pid} (" in second.stderr
    assert "-m mr_chase --config" in second.stderr
    assert (ipc_dir / "q").exists()
    assert mr_chase.client("PING") == ["PONG", __version__, HEALTHY]
    assert mr_chase.proc.poll() is None


def test_a_stale_socket_file_does_not_stop_the_start(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env={"MR_CHASE_CRASH_AT": "moving"})
    assert chase.send_expecting_exit(b'["REMOVE", "alpha", "1.0", true]') == 70  # killed: its socket file stays
    assert (ipc_dir / "q").exists()
    chase.start()
    try:
        assert chase.client("PING") == ["PONG", __version__, HEALTHY]
    finally:
        assert chase.stop() == 0


def staged(repository) -> list:
    return list((repository.output_path / ".mr-chase" / "staging").iterdir())


def test_wheels_leave_the_served_tree_by_done_and_staging_is_empty_by_the_next_reply(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env=SLOW_CLEANUP)
    files = repository.manifest.files("alpha", "1.0")
    try:
        assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
        assert not [f for f in files if (repository.simple / "alpha" / f).exists()]
        assert not set(files) & set((repository.simple / "alpha" / "index.html").read_text().split('"'))
        assert staged(repository)  # the clean-up is still under way (held up by the hook)
        assert chase.client("PING") == ["PONG", __version__, HEALTHY]  # answered at once, clean-up or not
        assert chase.client("STATUS", "alpha", None)[0] == "STATUS"  # the next request waits for it
        assert not staged(repository)
        assert not journal_pending(repository.output_path)
    finally:
        assert chase.stop() == 0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_clean_stop_finishes_the_pending_cleanup(repository, ipc_dir, signum):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start(env=SLOW_CLEANUP)
    assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
    assert staged(repository)
    chase.proc.send_signal(signum)
    assert chase.wait_exit(10) == 0
    assert not staged(repository)
    assert not journal_pending(repository.output_path)
    assert not (ipc_dir / "q").exists()
    assert "recovered" not in chase.log()


def test_database_restart_costs_one_request(mr_chase, repository, pg_cluster):
    assert mr_chase.client("STATUS", "alpha", "1.0")[0] == "STATUS"  # connection is open
    before = snapshot_db(repository.dsn)
    pg_cluster.stop()
    try:
        reply = mr_chase.client("REMOVE", "alpha", "1.0", True)
        assert reply[0] == "ERROR" and reply[1].startswith("database unavailable: "), reply
        [reason] = mr_chase.client("PING")[2]["degraded"]  # the request found it down: PONG says so
        assert reason.startswith("database unavailable: "), reason
    finally:
        pg_cluster.start()
    assert snapshot_db(repository.dsn) == before
    assert all((repository.simple / "alpha" / f).exists() for f in repository.manifest.files("alpha", "1.0"))
    assert mr_chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]  # same process, new connection
    assert mr_chase.client("PING") == ["PONG", __version__, HEALTHY]  # and the request that worked clears it
    assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' AND version = '1.0'") == 0
    assert mr_chase.proc.poll() is None


def run_with_config(tmp_path, config) -> subprocess.CompletedProcess:
    path = tmp_path / "bad.yaml"
    path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
    return subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(path)], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)), timeout=30)


def test_bad_configuration_exits_2_naming_the_key(tmp_path):
    result = run_with_config(tmp_path, {"dsn": "postgresql:///x", "output_path": "/tmp/x", "colour": "blue"})
    assert result.returncode == 2
    assert "'colour'" in result.stderr and "unknown key" in result.stderr


def test_missing_config_file_exits_2(tmp_path):
    result = subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(tmp_path / "nope.yaml")],
                            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)))
    assert result.returncode == 2 and "cannot read" in result.stderr


def test_remote_queue_allowed_only_when_configured(repository, ipc_dir, tmp_path):
    config = make_config(repository, ipc_dir, import_queue="tcp://127.0.0.1:0")
    result = run_with_config(tmp_path, config)
    assert result.returncode == 2 and "'import_queue'" in result.stderr and "allow_remote_queue" in result.stderr
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config.update(import_queue=f"tcp://127.0.0.1:{port}", allow_remote_queue=True)
    chase = MrChase(config, ipc_dir).start()
    try:
        assert chase.client("PING") == ["PONG", __version__, HEALTHY]
    finally:
        assert chase.stop() == 0


def test_log_file_records_requests(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir, log_file=str(ipc_dir / "service.log")), ipc_dir).start()
    try:
        chase.client("REMOVE", "gamma", "1.0", False)
        chase.client.raw(b"garbage")
    finally:
        chase.stop()
    text = (ipc_dir / "service.log").read_text()
    assert "['REMOVE', 'gamma', '1.0', False] -> [\"DONE\"]" in text
    assert "invalid request" in text


def test_the_service_log_follows_rotation(repository, ipc_dir):
    """logrotate renames the log away: the next line goes to a new file at the configured path."""
    log_file = ipc_dir / "service.log"
    chase = MrChase(make_config(repository, ipc_dir, log_file=str(log_file), log_level="info"), ipc_dir).start()
    try:
        log_file.rename(ipc_dir / "service.log.1")
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        assert "REMOVE" in log_file.read_text()
        assert "REMOVE" not in (ipc_dir / "service.log.1").read_text()
    finally:
        assert chase.stop() == 0


@pytest.mark.parametrize("dsn", ["host=/nonexistent password=s3cr3t-test user=x dbname=y",
                                 "postgresql://u:s3cr3t-test@/db?bogus=1",
                                 "host=/nonexistent password='s3cr3t-test junk' user=x",
                                 "password=s3cr3t-test junk"])
def test_the_dsn_password_never_reaches_a_log_line_or_a_reply(repository, ipc_dir, dsn):
    chase = MrChase(make_config(repository, ipc_dir, dsn=dsn), ipc_dir).start()
    try:
        reply = chase.client("STATUS", "alpha", None)
        assert reply[0] == "ERROR" and reply[1].startswith("database unavailable"), reply
        assert "s3cr3t" not in reply[1]
    finally:
        chase.stop()
    assert "database" in chase.log() and "s3cr3t" not in chase.log()
