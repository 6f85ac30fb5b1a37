"""Never collide with piw-master: its queue is never taken, its socket file never removed."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from chase_helpers import SERVICE_PATH, MrChase, make_config

from piwheels_testbed.master import StandInMaster

FOREIGN_LISTENER = """
import socket, sys, time
s = socket.socket(socket.AF_UNIX); s.bind(sys.argv[1]); s.listen()
print("ready", flush=True); time.sleep(60)
"""


def run_chase(config_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(config_path)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)), timeout=30)


def test_a_live_foreign_listener_stops_the_start_and_is_named(repository, ipc_dir):
    path = ipc_dir / "q"
    foreign = subprocess.Popen([sys.executable, "-c", FOREIGN_LISTENER, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert foreign.stdout.readline().strip() == "ready"
        inode = os.stat(path).st_ino
        chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
        result = run_chase(chase.config_path)
        assert result.returncode == 1
        assert f"ipc://{path} is held by pid {foreign.pid} (" in result.stderr
        assert os.stat(path).st_ino == inode  # its socket file is untouched
    finally:
        foreign.kill()
        foreign.wait()


def test_piw_masters_own_address_is_refused_before_anything_starts(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir, import_queue="ipc:///tmp/piw-import"), ipc_dir)
    result = run_chase(chase.config_path)
    assert result.returncode == 2
    assert "piw-master's own import queue" in result.stderr


def test_a_master_binding_over_the_queue_stops_mr_chase_and_keeps_the_masters_socket(repository, ipc_dir):
    """piw-master started later on the same path takes the file over: Mr Chase says so and exits,
    and its stop never unlinks the file it did not create."""
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    master = StandInMaster(chase.address).start()  # ZeroMQ replaces the socket file
    try:
        taken = os.stat(ipc_dir / "q").st_ino
        assert chase.wait_exit(15) == 1
        assert "was replaced or removed by another process" in chase.log()
        assert os.stat(ipc_dir / "q").st_ino == taken
    finally:
        master.stop()
        chase.stop()


def test_a_stop_never_removes_a_socket_file_another_process_put_there(repository, ipc_dir):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir).start()
    os.unlink(ipc_dir / "q")
    master = StandInMaster(chase.address).start()
    try:
        taken = os.stat(ipc_dir / "q").st_ino
        time.sleep(0.3)
        assert chase.stop() == 0  # stopped before its watch noticed
        assert os.stat(ipc_dir / "q").st_ino == taken
        assert "no longer the socket file this Mr Chase bound" in chase.log()
    finally:
        master.stop()
