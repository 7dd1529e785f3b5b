"""Imports: uploaded files stored in the database and their rows, the checkpoint (SPEC §8).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30

The file lives in ``imports.content`` so any worker replica can process it; each row of it
becomes an ``import_rows`` entry whose status (valid, invalid, applied) is the checkpoint a
resumed import starts from.
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE imports (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            type text NOT NULL
                CHECK (type IN ('aircraft', 'parts', 'programs', 'compliance', 'utilization')),
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'validating', 'applying', 'completed', 'failed')),
            dry_run boolean NOT NULL DEFAULT false,
            format text NOT NULL CHECK (format IN ('csv', 'xlsx')),
            filename text CHECK (length(filename) BETWEEN 1 AND 255),
            content bytea NOT NULL,
            size_bytes integer NOT NULL CHECK (size_bytes > 0),
            ignored_columns text[] NOT NULL DEFAULT '{}',
            failure text,
            total integer NOT NULL DEFAULT 0,
            valid integer NOT NULL DEFAULT 0,
            invalid integer NOT NULL DEFAULT 0,
            applied integer NOT NULL DEFAULT 0,
            unchanged integer NOT NULL DEFAULT 0,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            completed_at timestamptz,
            -- No foreign key on created_by: an admin importing into another organization
            -- is a user of their own.
            UNIQUE (org_id, id)
        );
        CREATE INDEX imports_org_created_idx ON imports (org_id, created_at DESC, id DESC);

        -- One row per data row of the file. ``data`` holds the row's validated values (what
        -- applying reads); ``entity_id`` and ``outcome`` what applying did with it.
        CREATE TABLE import_rows (
            import_id uuid NOT NULL REFERENCES imports (id) ON DELETE CASCADE,
            org_id uuid NOT NULL,
            row_number integer NOT NULL CHECK (row_number >= 1),
            raw jsonb NOT NULL,
            data jsonb,
            status text NOT NULL CHECK (status IN ('valid', 'invalid', 'applied')),
            errors text[] NOT NULL DEFAULT '{}',
            entity_id uuid,
            outcome text CHECK (outcome IN ('created', 'updated', 'unchanged')),
            PRIMARY KEY (import_id, row_number),
            CHECK ((status = 'invalid') = (cardinality(errors) > 0)),
            CHECK (status <> 'applied' OR outcome IS NOT NULL)
        );
        CREATE INDEX import_rows_pending_idx ON import_rows (import_id, row_number)
            WHERE status = 'valid';

        -- Statistics once rows are staged; ANALYZE needs the table's owner, and the
        -- application runs as a role that owns nothing (migration 0009).
        CREATE FUNCTION amss_analyze_import_rows() RETURNS void
            LANGUAGE sql SECURITY DEFINER AS $$ ANALYZE import_rows $$;
        DO $$ BEGIN
            EXECUTE format(
                'ALTER FUNCTION amss_analyze_import_rows() SET search_path = %I, pg_temp',
                current_schema());
        END $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
