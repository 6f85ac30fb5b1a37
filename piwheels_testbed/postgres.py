"""Start or reuse a PostgreSQL server and hand out fresh piwheels databases.

Tests must not depend on a system PostgreSQL: pgserver (from PyPI) starts a
private server in a directory of ours, listening on a unix socket only.  When
PIW_TEST_DSN is set, that server is used instead and nothing is started.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import tempfile
from pathlib import Path

import psycopg
from psycopg import sql

SCHEMA_SQL = Path(__file__).with_name("schema.sql")
SERVICE_PATH = Path(__file__).resolve().parents[1] / "ansible_collections/piwheels/ops/roles/mr_chase/files"
#: piw-master's database account (SELECT only) and Mr Chase's own role
MASTER_ROLE, SERVICE_ROLE = "piwheels", "mr_chase"
#: upstream's initdb (create_piwheels.sql): PUBLIC loses everything, piw-master's account may only read
UPSTREAM_GRANTS = """
REVOKE ALL PRIVILEGES ON DATABASE {db} FROM PUBLIC;
REVOKE ALL PRIVILEGES ON SCHEMA public FROM PUBLIC;
GRANT CONNECT, TEMP ON DATABASE {db} TO {role};
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role};
"""


class Cluster:
    """A PostgreSQL server: a pgserver under ``data_dir`` or the one in PIW_TEST_DSN.

    pgserver puts the server's unix socket inside the data directory, which
    PostgreSQL keeps at mode 0700, so only the server's own account could
    connect.  Mr Chase runs as its own user, as on a real master, so the
    server is restarted with its socket in a world-searchable directory next
    to the data directory (``<data_dir>-socket``).
    """

    def __init__(self, data_dir: str | os.PathLike | None = None, *, keep_running: bool = False):
        """``data_dir`` None: a server of this object's life, in a new temporary directory that close()
        removes with its socket directory (unless ``keep_running``)."""
        self.admin_dsn = os.environ.get("PIW_TEST_DSN", "")
        self._server = None
        self._keep_running = keep_running
        #: the directories close() removes: those this object made
        self._made: list[Path] = []
        if not self.admin_dsn:
            import pgserver  # only needed when we start our own server

            if data_dir is None:
                data_dir = tempfile.mkdtemp(prefix="piw-pg-")
                self._made = [Path(data_dir), Path(f"{data_dir}-socket")]
            data_dir = Path(data_dir)
            forget_dead_server(data_dir)
            self._server = pgserver.get_server(data_dir, cleanup_mode=None if keep_running else "stop")
            self.socket_dir = data_dir.with_name(data_dir.name + "-socket")
            self.admin_dsn = f"host={self.socket_dir} user=postgres dbname=postgres"
            if self._listening_dir() != self.socket_dir:
                self.stop()
                self.start()

    def _listening_dir(self) -> Path | None:
        """The socket directory of the running server (line 5 of postmaster.pid).

        Not the presence of a socket file: a killed server leaves its socket behind.
        """
        lines = (self._server.pgdata / "postmaster.pid").read_text().splitlines()
        return Path(lines[4]) if len(lines) > 4 else None

    def dsn(self, database: str) -> str:
        """The DSN of ``database`` on this server."""
        return psycopg.conninfo.make_conninfo(self.admin_dsn, dbname=database)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver._commands import pg_ctl

        pg_ctl(list(args), pgdata=self._server.pgdata, user=self._server.system_user)

    def stop(self) -> None:
        """Stop the server this object started (a no-op for PIW_TEST_DSN)."""
        if self._server is not None:
            self._pg_ctl("-w", "-m", "fast", "stop")

    def start(self) -> None:
        """Start the server, listening only on the socket in ``socket_dir``."""
        if self._server is None:
            return
        self.socket_dir.mkdir(mode=0o755, exist_ok=True)
        self.socket_dir.chmod(0o755)
        if self._server.system_user:
            shutil.chown(self.socket_dir, self._server.system_user)
        self._pg_ctl("-w", "-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l", str(self._server.log), "start")

    def close(self) -> None:
        """Release our handle and, unless keep_running, stop the server (pgserver's own clean-up leaves
        running the server that start() restarted on our socket directory: the benchmarks leaked them) and
        remove the directories this object made (the benchmarks leaked those too, 54 MB a run)."""
        if self._server is None:
            return
        self._server.cleanup()
        if not self._keep_running and (self._server.pgdata / "postmaster.pid").exists():
            self.stop()
        self._server = None
        if not self._keep_running:
            for made in self._made:
                shutil.rmtree(made, ignore_errors=True)


def forget_dead_server(data_dir: Path) -> None:
    """Remove the postmaster.pid of a server that was killed (dead, or a zombie).

    pgserver takes a zombie for a running server (where PID 1 does not reap
    orphans, as in containers), and PostgreSQL refuses to start while the
    lock file names a pid that still exists; neither holds for a killed server.
    """
    pid_file = data_dir / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        state = "gone"
    if state in ("gone", "Z", "X"):
        pid_file.unlink()


def create_database(cluster: Cluster, name: str | None = None, *, schema: bool = True) -> str:
    """Create an empty database (with the piwheels schema and upstream's grants) and return its superuser DSN.

    The grants are upstream's model: PUBLIC may do nothing, the account
    ``piwheels`` (piw-master's) may CONNECT and SELECT, and ``mr_chase`` gets
    exactly the privileges Mr Chase documents (mr_chase.privileges), so no
    test can pass on a privilege a real master would not give.
    """
    name = name or f"piw_{secrets.token_hex(6)}"
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for role in (MASTER_ROLE, SERVICE_ROLE):
            if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
                conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    dsn = cluster.dsn(name)
    if schema:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(SCHEMA_SQL.read_text())
            conn.execute(sql.SQL(UPSTREAM_GRANTS).format(db=sql.Identifier(name), role=sql.Identifier(MASTER_ROLE)))
            _grant_service_privileges(conn, SERVICE_ROLE)
    return dsn


def _grant_service_privileges(conn: psycopg.Connection, role: str) -> None:
    """The grants the role's README documents, from the service's own list."""
    if str(SERVICE_PATH) not in sys.path:
        sys.path.insert(0, str(SERVICE_PATH))
    from mr_chase.privileges import grant

    grant(conn, role)


def role_dsn(dsn: str, role: str) -> str:
    """The DSN of the same database for another (non-superuser) role."""
    return psycopg.conninfo.make_conninfo(dsn, user=role)


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
        if conn.execute("SELECT to_regclass('package_names')").fetchone()[0] is None:  # made by an older testbed
            return create_database(cluster, name)
        conn.execute("TRUNCATE packages, package_names, versions, builds, files, dependencies, downloads "
                     "RESTART IDENTITY CASCADE")
        # a database kept from an older checkout lacks what a newer Mr Chase needs (idempotent)
        _grant_service_privileges(conn, SERVICE_ROLE)
    return dsn


def drop_database(cluster: Cluster, dsn: str) -> None:
    """Drop a database made by :func:`create_database`, closing its sessions."""
    name = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(cluster.admin_dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
