"""The application role cannot touch the audit trail's machinery (SPEC §10, issue 12).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

Migrations run as the owner; ``amss server`` and ``amss worker`` as a role that owns nothing
(``deploy/postgres/init-roles.sh``, or the embedded server's own, ``amss.db.roles``). Owning
nothing already stops it disabling a trigger; this revision takes away the table privileges
that the role's blanket grants would otherwise give it on the audit trail:

- ``audit_logs``: read and append only (no UPDATE, DELETE or TRUNCATE, trigger or not);
- ``audit_chain_heads``: read only. The chain trigger becomes SECURITY DEFINER, so heads move
  only when an audit row is appended, as the owner;
- ``alembic_version``: read only (``amss server`` checks it; only migrations write it).

``amss_protect_audit_trail()`` revokes those privileges from every role but the owner, and is
called again by whatever grants the app role its blanket privileges afterwards.
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- Runs as the owner whoever inserts the audit row; the search path is pinned so a
        -- caller's temporary objects can never stand in for the tables it writes.
        ALTER FUNCTION audit_logs_chain() SECURITY DEFINER;
        DO $$ BEGIN
            EXECUTE format('ALTER FUNCTION audit_logs_chain() SET search_path = %I, pg_temp',
                           current_schema());
        END $$;
        REVOKE ALL ON FUNCTION audit_logs_chain() FROM PUBLIC;

        -- Revokes, from every role other than the table's owner (PUBLIC included), what the
        -- application must not do to the audit trail. Idempotent; run by the owner.
        CREATE FUNCTION amss_protect_audit_trail() RETURNS void LANGUAGE plpgsql AS $$
        DECLARE
            target record;
        BEGIN
            FOR target IN
                SELECT t.relation, t.privileges,
                       CASE WHEN a.grantee = 0 THEN 'PUBLIC'
                            ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS grantee
                FROM (VALUES ('audit_logs', 'UPDATE, DELETE, TRUNCATE'),
                             ('audit_chain_heads', 'INSERT, UPDATE, DELETE, TRUNCATE'),
                             ('alembic_version', 'INSERT, UPDATE, DELETE, TRUNCATE'))
                     AS t (relation, privileges)
                JOIN pg_class c ON c.oid = to_regclass(t.relation)
                CROSS JOIN LATERAL aclexplode(c.relacl) a
                WHERE a.grantee <> c.relowner
                GROUP BY 1, 2, 3
            LOOP
                EXECUTE format('REVOKE %s ON %I FROM %s',
                               target.privileges, target.relation, target.grantee);
            END LOOP;
            FOR target IN
                SELECT quote_ident(pg_get_userbyid(a.grantee)) AS grantee
                FROM pg_proc p CROSS JOIN LATERAL aclexplode(p.proacl) a
                WHERE p.oid = 'audit_logs_chain()'::regprocedure
                  AND a.grantee <> p.proowner AND a.grantee <> 0
            LOOP
                EXECUTE format('REVOKE EXECUTE ON FUNCTION audit_logs_chain() FROM %s',
                               target.grantee);
            END LOOP;
        END
        $$;
        REVOKE ALL ON FUNCTION amss_protect_audit_trail() FROM PUBLIC;
        SELECT amss_protect_audit_trail();

        -- The generator refreshes planner statistics after a large sweep; ANALYZE needs the
        -- table's owner, so the application asks the owner through this function.
        CREATE FUNCTION amss_analyze_tasks() RETURNS void
            LANGUAGE sql SECURITY DEFINER AS $$ ANALYZE maintenance_tasks $$;
        DO $$ BEGIN
            EXECUTE format('ALTER FUNCTION amss_analyze_tasks() SET search_path = %I, pg_temp',
                           current_schema());
        END $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
