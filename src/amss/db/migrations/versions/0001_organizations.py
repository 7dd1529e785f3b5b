"""Organizations, their policies, and the procrastinate job-queue schema.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from alembic import op
from procrastinate.schema import SchemaManager

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE organizations (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            name text NOT NULL CHECK (length(btrim(name)) BETWEEN 1 AND 200),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz
        );
        CREATE UNIQUE INDEX organizations_name_live_uq
            ON organizations (lower(name)) WHERE deleted_at IS NULL;

        CREATE TABLE org_policies (
            org_id uuid PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
            retention_days integer NOT NULL DEFAULT 365 CHECK (retention_days BETWEEN 1 AND 36500),
            max_webhook_attempts integer NOT NULL DEFAULT 10 CHECK (max_webhook_attempts BETWEEN 1 AND 50),
            webhook_replay_window_seconds integer NOT NULL DEFAULT 300
                CHECK (webhook_replay_window_seconds BETWEEN 1 AND 86400),
            api_rate_limit_per_min integer NOT NULL DEFAULT 600
                CHECK (api_rate_limit_per_min BETWEEN 1 AND 1000000),
            due_soon_days integer NOT NULL DEFAULT 30 CHECK (due_soon_days >= 0),
            due_soon_hours numeric(10,1) NOT NULL DEFAULT 25 CHECK (due_soon_hours >= 0),
            due_soon_cycles integer NOT NULL DEFAULT 25 CHECK (due_soon_cycles >= 0),
            default_daily_hours numeric(10,2) CHECK (default_daily_hours >= 0 AND default_daily_hours <= 24),
            default_daily_cycles numeric(10,2) CHECK (default_daily_cycles >= 0),
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now()
        );
        """
    )
    # The job queue lives in the same database so jobs commit with the business change.
    # Sent as one script on the raw connection: it is procrastinate's own SQL, verbatim.
    op.get_bind().exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
