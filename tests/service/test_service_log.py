"""What the service log holds at the default level (info), as the README's "Logs" section says."""

from __future__ import annotations

from chase_helpers import MrChase, make_config


def test_default_level_logs_every_error_reply_and_no_line_per_probe(repository, ipc_dir):
    """A STATUS answered ERROR (here a typo of a package) leaves a line; a STATUS or PING that succeeds (a probe:
    the modules ask STATUS before every change, monitoring PINGs) does not, and a change does."""
    log_file = ipc_dir / "service.log"
    chase = MrChase(make_config(repository, ipc_dir, log_file=str(log_file), log_level="info"), ipc_dir).start()
    try:
        assert chase.client("STATUS", "gamam", None)[0] == "ERROR"
        assert chase.client("STATUS", "gamma", "1.0")[0] == "STATUS"
        assert chase.client("PING")[0] == "PONG"
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
    finally:
        assert chase.stop() == 0
    lines = log_file.read_text().splitlines()
    assert [line for line in lines if "['STATUS', 'gamam', None] -> [\"ERROR\"," in line and " INFO " in line], lines
    assert not [line for line in lines if "['STATUS', 'gamma'" in line or "PING" in line], lines
    assert [line for line in lines if "['REMOVE', 'gamma', '1.0', False] -> [\"DONE\"]" in line], lines
