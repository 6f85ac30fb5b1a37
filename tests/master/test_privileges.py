"""Least privilege: Mr Chase starts only with the grants it documents, and says which are missing."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from chase_helpers import SERVICE_PATH, MrChase, make_config, scalar
from mr_chase.privileges import REQUIRED, grant_statements
from psycopg import sql

from piwheels_testbed import MASTER_ROLE, role_dsn


def start(config_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mr_chase", "--config", str(config_path)], capture_output=True,
                          text=True, env=dict(os.environ, PYTHONPATH=str(SERVICE_PATH)), timeout=30)


def grant_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("GRANT ")]


def new_role_with_connect_only(dsn: str) -> str:
    """A login role that may connect to the database and nothing else (PUBLIC has nothing, as upstream)."""
    role = f"mc_{secrets.token_hex(4)}"
    database = psycopg.conninfo.conninfo_to_dict(dsn)["dbname"]
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
        conn.execute(sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(database),
                                                                         sql.Identifier(role)))
    return role


def test_from_connect_only_the_grant_lines_are_all_it_takes(repository, ipc_dir):
    role = new_role_with_connect_only(repository.dsn)
    config = make_config(repository, ipc_dir, dsn=role_dsn(repository.dsn, role))
    chase = MrChase(config, ipc_dir)
    first = start(chase.config_path)
    assert first.returncode == 3, first.stderr
    lines = grant_lines(first.stderr)
    database = psycopg.conninfo.conninfo_to_dict(repository.dsn)["dbname"]
    assert lines == grant_statements(role, database)[1:]  # all but CONNECT, which it has
    assert lines[0] == f"GRANT USAGE ON SCHEMA public TO {role};"
    assert "password" not in first.stderr
    with psycopg.connect(repository.dsn, autocommit=True) as conn:
        for line in lines:
            conn.execute(line)
    chase.start()
    try:
        assert chase.client("REMOVE", "alpha", "1.0", True) == ["DONE"]
        assert scalar(repository.dsn, "SELECT count(*) FROM builds WHERE package = 'alpha' AND version = '1.0'") == 0
    finally:
        assert chase.stop() == 0


def test_piw_masters_select_only_account_is_refused_with_what_it_lacks(repository, ipc_dir):
    config = make_config(repository, ipc_dir, dsn=role_dsn(repository.dsn, MASTER_ROLE))
    result = start(MrChase(config, ipc_dir).config_path)
    assert result.returncode == 3
    expected = [f"GRANT {privilege} ON TABLE public.{table} TO {MASTER_ROLE};"
                for table, privileges in REQUIRED.items() for privilege in privileges if privilege != "SELECT"]
    assert grant_lines(result.stderr) == expected


def test_mr_chase_role_holds_no_more_than_documented(repository):
    """The testbed's mr_chase role: the documented grants, and not one table privilege more."""
    rows = scalar(repository.dsn, """
        SELECT coalesce(json_agg(json_build_array(table_name, privilege_type) ORDER BY 1, 2), '[]')
        FROM information_schema.role_table_grants WHERE grantee = 'mr_chase'""")
    held = sorted((table, privilege) for table, privilege in rows)
    assert held == sorted((table, p) for table, privileges in REQUIRED.items() for p in privileges)


def test_grant_cli_creates_the_role_then_changes_nothing(repository):
    role = f"mc_{secrets.token_hex(4)}"
    env = dict(os.environ, PYTHONPATH=str(SERVICE_PATH), MR_CHASE_ADMIN_DSN=repository.dsn)

    def grant() -> dict:
        done = subprocess.run([sys.executable, "-m", "mr_chase.privileges", "grant", "--role", role],
                              capture_output=True, text=True, env=env, timeout=30, check=True)
        return json.loads(done.stdout)

    first = grant()
    assert first["changed"] and first["statements"][0] == f"CREATE ROLE {role} LOGIN;"
    assert grant() == {"changed": False, "statements": []}
    with psycopg.connect(role_dsn(repository.dsn, role)) as conn:
        from mr_chase import privileges

        privileges.check(conn)  # raises if anything is missing


@pytest.mark.parametrize("readme", ["README.md", "ansible_collections/piwheels/ops/roles/mr_chase/README.md"])
def test_the_grants_in_the_docs_are_the_ones_checked(readme):
    """Operators copy these lines: they must be exactly what the start-up check asks for."""
    text = (Path(__file__).resolve().parents[2] / readme).read_text()
    start = text.index("GRANT CONNECT ON DATABASE piwheels TO mr_chase;")
    documented = text[start:text.index("```", start)].strip().splitlines()
    assert documented == grant_statements("mr_chase", "piwheels")
