# Copyright (c) 2025, piwheels.ops maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

"""piw_queue_listener names the process on a socket path: real listeners in this process, no mocks."""

from __future__ import annotations

import os
import socket

import pytest

from ansible_collections.piwheels.ops.plugins.modules import piw_queue_listener


@pytest.fixture
def look(run_module):
    def run(path):
        return run_module(piw_queue_listener, dict(import_queue=f"ipc://{path}"), check_mode=True)

    return run


def test_a_plain_unix_listener_is_named_by_pid_and_command(look, ipc_dir):
    path = os.path.join(ipc_dir, "foreign")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(1)
        result = look(path)
    assert result["listening"] is True
    assert result["pid"] == os.getpid()
    with open(f"/proc/{os.getpid()}/cmdline", "rb") as cmdline:
        assert result["command"] == cmdline.read().decode().rstrip("\0").replace("\0", " ")
    assert f"{path}: listening, pid {os.getpid()} (" in result["msg"]
    assert result["changed"] is False


def test_a_zeromq_queue_is_found_too(look, mr_chase):
    result = look(mr_chase.peer.address[len("ipc://") :])
    assert result["listening"] is True
    assert result["pid"] == os.getpid()
    assert mr_chase.peer.requests == []


def test_a_socket_file_left_by_a_dead_process_is_not_listening(look, ipc_dir):
    path = os.path.join(ipc_dir, "stale")
    socket.socket(socket.AF_UNIX, socket.SOCK_STREAM).bind(path)
    result = look(path)
    assert (result["exists"], result["listening"], result["pid"]) == (True, False, 0)
    assert result["msg"] == f"{path}: a file nobody listens on"


def test_no_file_is_nothing_there(look, ipc_dir):
    result = look(os.path.join(ipc_dir, "nothing"))
    assert (result["exists"], result["listening"]) == (False, False)


def test_a_datagram_socket_holds_the_path_though_nobody_can_be_named(look, ipc_dir):
    path = os.path.join(ipc_dir, "datagram")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as holder:
        holder.bind(path)
        result = look(path)
    assert (result["listening"], result["pid"]) == (True, 0)


def test_a_tcp_address_is_refused(run_module):
    result = run_module(piw_queue_listener, dict(import_queue="tcp://127.0.0.1:5555"))
    assert result["failed"] is True
    assert "must be an ipc:// address" in result["msg"]
