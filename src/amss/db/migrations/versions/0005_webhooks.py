"""Webhook subscriptions and deliveries; the outbox's pending index for the dispatcher.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE INDEX outbox_events_pending_idx ON outbox_events (org_id, created_at)
            WHERE dispatched_at IS NULL;

        CREATE TABLE webhooks (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            url text NOT NULL CHECK (length(url) BETWEEN 8 AND 2000),
            events text[] NOT NULL CHECK (cardinality(events) >= 1),
            -- The signing key (hex of 32 random bytes): needed to sign, never shown again.
            secret text NOT NULL,
            active boolean NOT NULL DEFAULT true,
            created_by uuid,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id)
        );

        CREATE TABLE webhook_deliveries (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            webhook_id uuid NOT NULL,
            event_id uuid NOT NULL,
            event_type text NOT NULL,
            status text NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'delivered', 'failed', 'dead', 'cancelled')),
            attempt_count integer NOT NULL DEFAULT 0,
            next_attempt_at timestamptz,
            last_response_code integer,
            last_response_body text,
            last_error text,
            delivered_at timestamptz,
            attempts jsonb NOT NULL DEFAULT '[]'::jsonb,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            FOREIGN KEY (org_id, webhook_id) REFERENCES webhooks (org_id, id),
            UNIQUE (webhook_id, event_id)
        );
        CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
