"""Users, refresh tokens, the hash-chained audit trail, the outbox and idempotency keys.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE organizations ADD COLUMN version integer NOT NULL DEFAULT 1;

        CREATE TABLE users (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            email text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
            name text,
            role text NOT NULL
                CHECK (role IN ('admin', 'tenant_admin', 'scheduler', 'mechanic', 'auditor', 'viewer')),
            password_hash text NOT NULL,
            last_login timestamptz,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id)
        );
        CREATE UNIQUE INDEX users_email_live_uq ON users (org_id, email) WHERE deleted_at IS NULL;
        CREATE INDEX users_email_idx ON users (email) WHERE deleted_at IS NULL;

        CREATE TABLE refresh_tokens (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            user_id uuid NOT NULL,
            family_id uuid NOT NULL,
            token_hash bytea NOT NULL UNIQUE,
            created_at timestamptz NOT NULL DEFAULT now(),
            expires_at timestamptz NOT NULL,
            used_at timestamptz,
            revoked_at timestamptz,
            FOREIGN KEY (org_id, user_id) REFERENCES users (org_id, id)
        );
        CREATE INDEX refresh_tokens_family_idx ON refresh_tokens (family_id);
        CREATE INDEX refresh_tokens_user_idx ON refresh_tokens (user_id) WHERE revoked_at IS NULL;

        -- The audit trail: one hash chain per organization, seq without gaps.
        CREATE TABLE audit_chain_heads (
            org_id uuid PRIMARY KEY REFERENCES organizations (id),
            last_seq bigint NOT NULL DEFAULT 0,
            last_hash text NOT NULL DEFAULT ''
        );

        CREATE TABLE audit_logs (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            seq bigint NOT NULL,
            entity_type text NOT NULL,
            entity_id uuid,
            action text NOT NULL
                CHECK (action IN ('create', 'update', 'delete', 'state_change', 'login', 'export')),
            user_id uuid,
            actor text NOT NULL DEFAULT 'user',
            request_id text,
            ip_address text,
            user_agent text,
            entity_version integer,
            "timestamp" timestamptz NOT NULL DEFAULT clock_timestamp(),
            details jsonb NOT NULL DEFAULT '{}'::jsonb,
            prev_hash text NOT NULL,
            hash text NOT NULL,
            UNIQUE (org_id, seq)
        );
        CREATE INDEX audit_logs_entity_idx ON audit_logs (org_id, entity_type, entity_id);
        CREATE INDEX audit_logs_user_idx ON audit_logs (org_id, user_id);
        CREATE INDEX audit_logs_time_idx ON audit_logs (org_id, "timestamp");

        -- The canonical form that is hashed: every column but the hash itself, as jsonb text
        -- (jsonb orders keys deterministically), timestamps in UTC with microseconds.
        CREATE FUNCTION audit_row_canonical(a audit_logs) RETURNS text
            LANGUAGE sql STABLE AS $$
            SELECT jsonb_build_object(
                'id', a.id, 'org_id', a.org_id, 'seq', a.seq,
                'entity_type', a.entity_type, 'entity_id', a.entity_id, 'action', a.action,
                'user_id', a.user_id, 'actor', a.actor, 'request_id', a.request_id,
                'ip_address', a.ip_address, 'user_agent', a.user_agent,
                'entity_version', a.entity_version,
                'timestamp', to_char(a."timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
                'details', a.details
            )::text
        $$;

        CREATE FUNCTION audit_row_hash(a audit_logs) RETURNS text
            LANGUAGE sql STABLE AS $$
            SELECT encode(sha256(convert_to(a.prev_hash || audit_row_canonical(a), 'UTF8')), 'hex')
        $$;

        -- Appending takes the organization's chain head FOR UPDATE: writes to one chain are
        -- serialized, seq never skips (a rolled-back insert rolls back the head too).
        CREATE FUNCTION audit_logs_chain() RETURNS trigger LANGUAGE plpgsql AS $$
        DECLARE
            head audit_chain_heads%ROWTYPE;
        BEGIN
            INSERT INTO audit_chain_heads (org_id) VALUES (NEW.org_id) ON CONFLICT DO NOTHING;
            SELECT * INTO head FROM audit_chain_heads WHERE org_id = NEW.org_id FOR UPDATE;
            NEW.seq := head.last_seq + 1;
            NEW.prev_hash := head.last_hash;
            NEW."timestamp" := date_trunc('microseconds', NEW."timestamp");
            NEW.hash := audit_row_hash(NEW);
            UPDATE audit_chain_heads SET last_seq = NEW.seq, last_hash = NEW.hash
                WHERE org_id = NEW.org_id;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER audit_logs_chain BEFORE INSERT ON audit_logs
            FOR EACH ROW EXECUTE FUNCTION audit_logs_chain();

        CREATE FUNCTION audit_logs_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit_logs rows are immutable (% refused)', TG_OP
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        CREATE TRIGGER audit_logs_no_update BEFORE UPDATE OR DELETE ON audit_logs
            FOR EACH ROW EXECUTE FUNCTION audit_logs_immutable();
        CREATE TRIGGER audit_logs_no_truncate BEFORE TRUNCATE ON audit_logs
            FOR EACH STATEMENT EXECUTE FUNCTION audit_logs_immutable();

        -- Written only by the shared helper and the generator, in the transaction of a change
        -- to a row of org_id: no foreign key to check on 100,000-row sweeps.
        CREATE TABLE outbox_events (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            event_type text NOT NULL,
            aggregate_type text NOT NULL,
            aggregate_id uuid,
            payload jsonb NOT NULL,
            dedupe_key text NOT NULL,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            dispatched_at timestamptz,
            UNIQUE (org_id, dedupe_key)
        );

        CREATE TABLE idempotency_keys (
            org_id uuid NOT NULL REFERENCES organizations (id),
            user_id uuid NOT NULL,
            key text NOT NULL,
            fingerprint text NOT NULL,
            state text NOT NULL DEFAULT 'in_progress'
                CHECK (state IN ('in_progress', 'committed', 'completed')),
            response_status integer,
            response_headers jsonb,
            response_body bytea,
            created_at timestamptz NOT NULL DEFAULT now(),
            locked_until timestamptz NOT NULL,
            expires_at timestamptz NOT NULL,
            PRIMARY KEY (org_id, user_id, key)
        );
        CREATE INDEX idempotency_keys_expiry_idx ON idempotency_keys (expires_at);
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
