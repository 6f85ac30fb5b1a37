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


#: every privilege a table can carry, for the check that the role holds no more than REQUIRED
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
#: role attributes that give more than Mr Chase needs, and the statement that takes each away
ROLE_ATTRIBUTES = {"rolcreaterole": "NOCREATEROLE", "rolcreatedb": "NOCREATEDB", "rolbypassrls": "NOBYPASSRLS"}


class RoleRefused(Exception):
    """Mr Chase may not work as this database role; ``fix`` says, in one line, what an operator does about it."""

    fix = ""


class MissingPrivileges(RoleRefused):
    """The database role lacks privileges; ``statements`` are the GRANTs that would fix it."""

    def __init__(self, role: str, statements: list[str]):
        super().__init__(f"the database role {role} lacks {len(statements)} privilege(s) Mr Chase needs")
        self.role = role
        self.statements = statements
        self.fix = "as a superuser, run: " + " ".join(statements)


class SuperuserRefused(RoleRefused):
    """The role is a superuser: one mistake in Mr Chase could then do anything to the database."""

    def __init__(self, role: str):
        super().__init__(f"the database role {role} is a superuser, which Mr Chase refuses")
        self.role = role
        self.fix = ("connect as a role with only the documented grants (python -m mr_chase.privileges grant "
                    "--role mr_chase), or set allow_superuser: true")


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


def check(conn: psycopg.Connection, allow_superuser: bool = False) -> list[str]:
    """Raise MissingPrivileges when the connected role lacks anything Mr Chase's statements need, and
    SuperuserRefused for a superuser unless allowed; return warnings about what it holds beyond that."""
    role, database, superuser = conn.execute(
        "SELECT current_user, current_database(), rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if superuser and not allow_superuser:
        raise SuperuserRefused(role)
    missing = grant_statements(role, database, only_missing=conn)
    if missing:
        raise MissingPrivileges(role, missing)
    if superuser:
        return [f"the database role {role} is a superuser (allow_superuser: true): it may do anything, "
                "far more than Mr Chase needs"]
    extra = revoke_statements(conn, role)
    if not extra:
        return []
    return [f"the database role {role} holds {len(extra)} privilege(s) beyond the documented grants; "
            "Mr Chase needs none of them: " + " ".join(extra)]


def revoke_statements(conn: psycopg.Connection, role: str) -> list[str]:
    """What takes away every table privilege in the schema and role attribute beyond REQUIRED (none: least
    privilege holds).  Privileges that come through PUBLIC or another role count too."""
    rows = conn.execute(EXTRA_TABLE_PRIVILEGES, (list(TABLE_PRIVILEGES), SCHEMA)).fetchall()
    revokes = [f"REVOKE {privilege} ON TABLE {_quote(SCHEMA)}.{_quote(table)} FROM {_quote(role)};"
               for table, privilege in rows if privilege not in REQUIRED.get(table, ())]
    if conn.execute("SELECT has_schema_privilege(%s, 'CREATE')", (SCHEMA,)).fetchone()[0]:
        revokes.append(f"REVOKE CREATE ON SCHEMA {_quote(SCHEMA)} FROM {_quote(role)};")
    attributes = conn.execute(f"SELECT {', '.join(ROLE_ATTRIBUTES)} FROM pg_roles WHERE rolname = current_user")
    for held, (_name, statement) in zip(attributes.fetchone(), ROLE_ATTRIBUTES.items()):  # noqa: B905 (3.8)
        if held:
            revokes.append(f"ALTER ROLE {_quote(role)} {statement};")
    return revokes


EXTRA_TABLE_PRIVILEGES = """
SELECT c.relname, p.privilege FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
CROSS JOIN unnest(%s::text[]) AS p(privilege)
WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') AND has_table_privilege(c.oid, p.privilege)
ORDER BY 1, 2
"""


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
