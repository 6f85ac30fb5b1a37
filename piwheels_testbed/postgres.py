"""Start or reuse a PostgreSQL server and hand out fresh piwheels databases.

Tests must not depend on a system PostgreSQL: pgserver (from PyPI) starts a
private server in a directory of ours, listening on a unix socket only.  When
PIW_TEST_DSN is set, that server is used instead and nothing is started.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

SCHEMA_SQL = Path(__file__).with_name("schema.sql")


class Cluster:
    """A PostgreSQL server: a pgserver under ``data_dir`` or the one in PIW_TEST_DSN."""

    def __init__(self, data_dir: str | os.PathLike | None = None, *, keep_running: bool = False):
        self.admin_dsn = os.environ.get("PIW_TEST_DSN", "")
        self._server = None
        if not self.admin_dsn:
            import pgserver  # only needed when we start our own server

            data_dir = Path(data_dir or tempfile.mkdtemp(prefix="piw-pg-"))
            self.data_dir = data_dir
            self._server = pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
            self.admin_dsn = self._server.get_uri()

    def dsn(self, database: str) -> str:
        """The DSN of ``database`` on this server."""
        return psycopg.conninfo.make_conninfo(self.admin_dsn, dbname=database)

    def stop(self) -> None:
        """Stop the server this object started (a no-op for PIW_TEST_DSN)."""
        if self._server is not None:
            from pgserver._commands import pg_ctl

            pg_ctl(["-w", "-m", "fast", "stop"], pgdata=self._server.pgdata, user=self._server.system_user)

    def start(self) -> None:
        """Start a server stopped with :meth:`stop` again, on the same socket."""
        if self._server is not None:
            self._server.ensure_postgres_running()

    def close(self) -> None:
        """Release our handle; pgserver stops the server unless keep_running."""
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def create_database(cluster: Cluster, name: str | None = None, *, schema: bool = True) -> str:
    """Create an empty database (with the piwheels schema) and return its DSN."""
    name = name or f"piw_{secrets.token_hex(6)}"
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    dsn = cluster.dsn(name)
    if schema:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL.read_text())
    return dsn


def reset_database(cluster: Cluster, name: str) -> str:
    """Empty the piwheels tables of ``name`` (creating it if need be); return its DSN.

    Unlike dropping and re-creating, this leaves the sessions of a running Mr
    Chase connected, as a real master's database would be.
    """
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
    if not exists:
        return create_database(cluster, name)
    dsn = cluster.dsn(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("TRUNCATE packages, versions, builds, files, dependencies, downloads RESTART IDENTITY CASCADE")
    return dsn


def drop_database(cluster: Cluster, dsn: str) -> None:
    """Drop a database made by :func:`create_database`, closing its sessions."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
