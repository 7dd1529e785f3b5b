"""Hardening (issue 12): webhook quota, encrypted secrets, delivery claims, inet client IPs.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        -- A quota that protects the installation: set by admins only (SPEC §10).
        ALTER TABLE org_policies
            ADD COLUMN max_webhooks integer NOT NULL DEFAULT 20
                CHECK (max_webhooks BETWEEN 0 AND 1000);

        -- Signing secrets at rest: Fernet tokens (key from SECRETS_KEY). Rows written before
        -- this revision keep their plaintext in "secret" until the application seals them
        -- ('amss migrate', 'amss serve' and the worker do at start); exactly one is set.
        ALTER TABLE webhooks ADD COLUMN secret_ciphertext text;
        ALTER TABLE webhooks ALTER COLUMN secret DROP NOT NULL;
        ALTER TABLE webhooks ADD CONSTRAINT webhooks_secret_present
            CHECK ((secret IS NULL) <> (secret_ciphertext IS NULL));
        CREATE INDEX webhooks_org_live_idx ON webhooks (org_id) WHERE deleted_at IS NULL;

        -- A delivery being attempted is claimed until this time, so two jobs holding the same
        -- delivery (a redelivery, a recovered stalled job) never send it twice at once.
        ALTER TABLE webhook_deliveries ADD COLUMN claimed_until timestamptz;
        -- The re-queue job looks for open deliveries that have waited too long.
        CREATE INDEX webhook_deliveries_open_idx ON webhook_deliveries (updated_at)
            WHERE status IN ('pending', 'failed');

        -- Client addresses as addresses. The hash chain is unchanged: an inet renders in the
        -- canonical jsonb exactly as the text AMSS stored (Python's normalised address).
        ALTER TABLE audit_logs ALTER COLUMN ip_address TYPE inet USING ip_address::inet;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
