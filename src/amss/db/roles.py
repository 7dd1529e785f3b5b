"""The application's database role: its grants, and whether a URL's role is restricted.

SPEC §10: migrations run as the owner of the tables, ``amss server`` and ``amss worker`` as a
role that owns nothing, so the running application can neither disable the audit triggers
nor move an audit chain head. ``deploy/postgres/init-roles.sh`` sets the two roles up on a
server we do not manage; the embedded server (``amss serve``) uses :func:`grant_app_role`.
"""

from __future__ import annotations

import psycopg
from psycopg import sql

from amss.db.engine import libpq_url

# The login role the embedded server's application connects as; init-roles.sh's default too.
APP_ROLE = "amss_app"

# What the application may do, and what ``amss_protect_audit_trail()`` (migration 0009) then
# takes back on the audit trail. The default privileges cover every table, sequence and
# function that a later migration creates as the owner (the connected role).
_GRANTS = """
GRANT USAGE ON SCHEMA {schema} TO {app};
GRANT CONNECT, TEMPORARY ON DATABASE {database} TO {app};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema}
    GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app};
ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT EXECUTE ON FUNCTIONS TO {app};
GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app};
GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {app};
GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA {schema} TO {app};
"""

_PROTECT = """
DO $$ BEGIN
    IF to_regprocedure('amss_protect_audit_trail()') IS NOT NULL THEN
        PERFORM amss_protect_audit_trail();
    END IF;
END $$;
"""


def grant_app_role(conn: psycopg.Connection, app_role: str = APP_ROLE) -> None:
    """Give ``app_role`` the application's privileges in the connected database.

    Run as the owner of the tables (or a superuser; the connected role is the one whose
    future tables the default privileges cover). Idempotent; before migrations it grants
    what exists and the default privileges cover the rest.
    """
    row = conn.execute("SELECT current_schema(), current_database()").fetchone()
    assert row is not None
    schema, database = row
    conn.execute(
        sql.SQL(_GRANTS).format(
            schema=sql.Identifier(schema),
            database=sql.Identifier(database),
            app=sql.Identifier(app_role),
        )
    )
    conn.execute(_PROTECT)


def ensure_login_role(conn: psycopg.Connection, role: str = APP_ROLE) -> None:
    """Create ``role`` as a plain login role (no superuser, no role or database creation)."""
    exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
    if exists is None:
        conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    conn.execute(
        sql.SQL("ALTER ROLE {} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS").format(
            sql.Identifier(role)
        )
    )


def privilege_problems(url: str) -> list[str]:
    """What the role of ``url`` could do to the audit trail that the application must not.

    Empty for a restricted role; ``amss server`` and ``amss worker`` warn with the rest (one
    URL for everything keeps working, it is just not protected).
    """
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        row = conn.execute(
            """
            SELECT r.rolsuper,
                   pg_has_role(current_user, c.relowner, 'USAGE'),
                   has_table_privilege('audit_chain_heads', 'UPDATE'),
                   has_table_privilege('audit_logs', 'UPDATE')
                       OR has_table_privilege('audit_logs', 'DELETE')
                       OR has_table_privilege('audit_logs', 'TRUNCATE')
            FROM pg_roles r, pg_class c
            WHERE r.rolname = current_user AND c.oid = to_regclass('audit_logs')
            """
        ).fetchone()
    if row is None:
        return []
    superuser, owner, heads, rows = row
    if superuser:
        return ["DB_URL connects as a superuser: the application could disable the audit triggers"]
    if owner:
        return [
            "DB_URL connects as the owner of the tables: the application could disable the "
            "audit triggers"
        ]
    problems = []
    if heads:
        problems.append("DB_URL's role may UPDATE audit_chain_heads")
    if rows:
        problems.append("DB_URL's role may UPDATE, DELETE or TRUNCATE audit_logs")
    return problems
