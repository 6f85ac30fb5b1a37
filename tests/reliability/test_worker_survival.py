"""No exception ends the worker: a privilege lost while a removal is pending degrades the service, never kills it.

The case of issue 21 (item 2): a removal dies right after COMMIT, Mr Chase
restarts while PostgreSQL refuses connections (so the start-up check cannot
refuse it), and when the database is back the role has lost one grant.
Settling the journal then finds the privilege missing.  Mr Chase must keep
answering every request (ERROR with the GRANT line that fixes it), say in
its PONG that it cannot serve changes, retry, and settle the removal as soon
as the grant is back: the staged wheels leave the tree, the journal empties,
and PONG is healthy again.
"""

from __future__ import annotations

import psycopg
import pytest
from chase_helpers import MrChase, journal_pending, make_config, scalar, wait_for
from reliability_helpers import scaled
from test_database_faults import start_again

GRANT = "GRANT DELETE ON TABLE public.downloads TO mr_chase;"
#: where the removal dies: before COMMIT (recovery undoes it) and after (recovery finishes it)
STEPS = scaled(["moved", "committed"], ["journal_written", "moving", "moved", "committed", "page_replaced"])
COMMITTED = {"committed", "page_replaced"}


def health(chase: MrChase) -> dict:
    reply = chase.client("PING")
    assert reply[0] == "PONG" and len(reply) == 3, reply
    return reply[2]


@pytest.mark.parametrize("step", STEPS)
def test_a_grant_lost_while_a_removal_is_pending_degrades_and_recovers(repository, ipc_dir, pg_cluster, step):
    chase = MrChase(make_config(repository, ipc_dir), ipc_dir)
    wheels = sorted(p.name for p in (repository.simple / "alpha").glob("alpha-1.0-*.whl"))
    assert wheels
    chase.start(env={"MR_CHASE_CRASH_AT": step})
    try:
        assert chase.send_expecting_exit(b'["REMOVE", "alpha", "1.0", true]') == 70
        assert journal_pending(repository.output_path)
        with psycopg.connect(repository.dsn, autocommit=True) as conn:
            conn.execute(GRANT.replace("GRANT", "REVOKE").replace(" TO ", " FROM "))
        pg_cluster.stop()
        try:
            chase.start()  # the database refuses connections: the start-up check cannot run, it serves anyway
        finally:
            start_again(pg_cluster)
        # degraded at once for the database down at start-up, then for the role once the database answers
        wait_for(lambda: any("privilege" in reason for reason in health(chase)["degraded"]), timeout=15)
        assert not any(reason.startswith("database unavailable") for reason in health(chase)["degraded"])
        for request in (["STATUS", "beta-tools", None], ["REMOVE", "gamma", "1.0", False]):
            reply = chase.client(*request)
            assert reply[0] == "ERROR" and GRANT in reply[1], (request, reply)
        assert journal_pending(repository.output_path)
        assert chase.proc.poll() is None
        assert "GRANT DELETE ON TABLE public.downloads" in chase.log()

        with psycopg.connect(repository.dsn, autocommit=True) as conn:
            conn.execute(GRANT)
        wait_for(lambda: not journal_pending(repository.output_path), timeout=15)
        wait_for(lambda: health(chase)["degraded"] == [], timeout=15)
        builds = chase.client("STATUS", "alpha", "1.0")[1]["builds"]
        on_disk = [name for name in wheels if (repository.simple / "alpha" / name).exists()]
        assert (builds, on_disk) == ((0, []) if step in COMMITTED else (1, wheels)), step
        assert not list((repository.output_path / ".mr-chase" / "staging").glob("*/*"))
        assert chase.client("REMOVE", "gamma", "1.0", False) == ["DONE"]
        assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'gamma' AND version = '1.0'") == 0
        assert chase.proc.poll() is None
    finally:
        assert chase.stop() == 0
