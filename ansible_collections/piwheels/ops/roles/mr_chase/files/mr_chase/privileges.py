"""The database privileges Mr Chase needs, checked at start-up and granted on request.

On a real piwheels master the account piw-master uses may only SELECT (its
writes go through SECURITY DEFINER functions), and upstream's initdb revokes
everything PUBLIC would otherwise have, schema USAGE included.  Mr Chase
therefore connects as a role of its own holding exactly what its statements
need, listed here once: the start-up check, the GRANT lines it prints, the
role's README and the testbed's grants all come from ``REQUIRED``.
Cascaded deletes (files and dependencies go with their builds; versions,
aliases and builds with their package) are carried out by PostgreSQL's
referential-integrity triggers as the table owner, so Mr Chase needs no
privilege on those tables beyond reading ``files`` and ``package_names``.

    python -m mr_chase.privileges print --role mr_chase [--database piwheels]
        the GRANT statements, one per line
    MR_CHASE_ADMIN_DSN=... python -m mr_chase.privileges grant --role mr_chase
        as a superuser (or the tables' owner): create the login role if it is
        missing and grant what it lacks; prints {"changed": ..., "statements": [...]}
"""

from __future__ import annotations

import argparse
import json
import os
import sys

import psycopg
from psycopg import sql

SCHEMA = "public"
#: table -> privileges, in the order the GRANT lines are printed
REQUIRED: dict[str, tuple[str, ...]] = {
    "packages": ("SELECT", "UPDATE", "DELETE"),
    "package_names": ("SELECT",),
    "versions": ("SELECT", "UPDATE", "DELETE"),
    "builds": ("SELECT", "DELETE"),
    "files": ("SELECT",),
    "downloads": ("SELECT", "DELETE"),
}


class MissingPrivileges(Exception):
    """The database role lacks privileges; ``statements`` are the GRANTs that would fix it."""

    def __init__(self, role: str, statements: list[str]):
        super().__init__(f"the database role {role} lacks {len(statements)} privilege(s) Mr Chase needs")
        self.role = role
        self.statements = statements


def grant_statements(role: str, database: str, only_missing: psycopg.Connection | None = None) -> list[str]:
    """Every GRANT Mr Chase needs (or, given a connection, those ``role`` does not hold yet), ready to run."""
    wanted = [("CONNECT", "DATABASE", database), ("USAGE", "SCHEMA", SCHEMA)]
    wanted += [(privilege, "TABLE", f"{SCHEMA}.{table}") for table, privileges in REQUIRED.items()
               for privilege in privileges]
    if only_missing is not None:
        wanted = [item for item in wanted if not _holds(only_missing, role, *item)]
    return [_grant(privilege, kind, name, role) for privilege, kind, name in wanted]


def _holds(conn: psycopg.Connection, role: str, privilege: str, kind: str, name: str) -> bool:
    if kind == "TABLE":  # by oid: a table name is only resolved with USAGE on its schema, which may be missing
        schema, table = name.split(".")
        row = conn.execute(TABLE_PRIVILEGE, (role, privilege, schema, table)).fetchone()
        return bool(row and row[0])
    check = {"DATABASE": "has_database_privilege", "SCHEMA": "has_schema_privilege"}[kind]
    query = sql.SQL("SELECT {}(%s, %s, %s)").format(sql.Identifier(check))
    return conn.execute(query, (role, name, privilege)).fetchone()[0]


TABLE_PRIVILEGE = """
SELECT has_table_privilege(%s, c.oid, %s) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = %s AND c.relname = %s
"""


def _grant(privilege: str, kind: str, name: str, role: str) -> str:
    target = ".".join(_quote(part) for part in name.split(".")) if kind == "TABLE" else _quote(name)
    return f"GRANT {privilege} ON {kind} {target} TO {_quote(role)};"


def _quote(identifier: str) -> str:
    """An SQL identifier, quoted only where PostgreSQL needs it (so the lines read naturally)."""
    if identifier.isidentifier() and identifier == identifier.lower() and identifier.isascii():
        return identifier
    return '"' + identifier.replace('"', '""') + '"'


def check(conn: psycopg.Connection) -> None:
    """Raise MissingPrivileges when the connected role lacks anything Mr Chase's statements need."""
    role, database = conn.execute("SELECT current_user, current_database()").fetchone()
    missing = grant_statements(role, database, only_missing=conn)
    if missing:
        raise MissingPrivileges(role, missing)


def grant(conn: psycopg.Connection, role: str) -> list[str]:
    """Create ``role`` (LOGIN, no password: peer or .pgpass authentication) if missing, grant what it lacks;
    return the statements run (none when nothing was missing)."""
    statements = []
    if conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone() is None:
        statements.append(f"CREATE ROLE {_quote(role)} LOGIN;")
    database = conn.execute("SELECT current_database()").fetchone()[0]
    # a role just created holds nothing yet: every grant, without asking about each
    statements += grant_statements(role, database, only_missing=None if statements else conn)
    with conn.transaction():
        for statement in statements:
            conn.execute(statement)
    return statements


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mr_chase.privileges", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=("print", "grant"))
    parser.add_argument("--role", default="mr_chase", help="the database role Mr Chase connects as")
    parser.add_argument("--database", default="piwheels", help="for print: the database name")
    args = parser.parse_args(argv)
    if args.action == "print":
        print("\n".join(grant_statements(args.role, args.database)))
        return 0
    dsn = os.environ.get("MR_CHASE_ADMIN_DSN")
    if not dsn:
        print("mr_chase.privileges: set MR_CHASE_ADMIN_DSN to a superuser's (or the owner's) DSN", file=sys.stderr)
        return 2
    try:
        with psycopg.connect(dsn, autocommit=True) as conn:
            statements = grant(conn, args.role)
    except psycopg.Error as exc:
        print(f"mr_chase.privileges: {str(exc).strip().splitlines()[0]}", file=sys.stderr)
        return 1
    print(json.dumps({"changed": bool(statements), "statements": statements}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
