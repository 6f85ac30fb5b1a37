"""Issue 21 item 7f: a lock conflict names its holder once.

A transaction of piw-master that locked a version row and then changed one
holds two locks on ``versions`` (RowShareLock and RowExclusiveLock); the
reply listed its backend once per lock.  Failed on 0.3.0 (the pid twice).
"""

from __future__ import annotations

import psycopg
from chase_helpers import Client, scalar


def test_a_lock_conflict_names_its_holder_once(mr_chase, repository):
    with psycopg.connect(repository.dsn) as conn:
        conn.execute("SELECT 1 FROM versions WHERE package = 'gamma' AND version = '1.0' FOR UPDATE")
        conn.execute("UPDATE versions SET skip = skip WHERE package = 'gamma' AND version = '1.1'")
        holder = conn.info.backend_pid
        reply = Client(mr_chase.address, timeout=30)("REMOVE", "gamma", "1.0", False)
    assert reply[0] == "ERROR" and reply[1].startswith("locked by another transaction"), reply
    assert reply[1].count(f"backend pid {holder}") == 1, reply
    assert reply[1].count("held by") == 1, reply
    assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'gamma' AND version = '1.0'") == 1
