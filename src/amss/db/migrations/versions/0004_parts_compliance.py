"""Part definitions and items, reservations, program parts, compliance items.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE part_definitions (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            part_number text CHECK (length(part_number) BETWEEN 1 AND 100),
            category text CHECK (length(category) BETWEEN 1 AND 100),
            min_stock integer NOT NULL DEFAULT 0 CHECK (min_stock >= 0),
            -- Set when a part_low_stock event went out; cleared when stock recovers.
            low_stock_alerted boolean NOT NULL DEFAULT false,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id)
        );
        CREATE UNIQUE INDEX part_definitions_name_live_uq ON part_definitions (org_id, lower(name))
            WHERE deleted_at IS NULL;

        CREATE TABLE part_items (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            part_definition_id uuid NOT NULL,
            serial_number text NOT NULL CHECK (length(serial_number) BETWEEN 1 AND 100),
            status text NOT NULL DEFAULT 'in_stock' CHECK (status IN ('in_stock', 'used', 'disposed')),
            expiry_date date,
            location text CHECK (length(location) <= 200),
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id),
            FOREIGN KEY (org_id, part_definition_id) REFERENCES part_definitions (org_id, id)
        );
        CREATE UNIQUE INDEX part_items_serial_live_uq ON part_items (org_id, serial_number)
            WHERE deleted_at IS NULL;
        CREATE INDEX part_items_available_idx ON part_items (part_definition_id, expiry_date)
            WHERE status = 'in_stock' AND deleted_at IS NULL;

        CREATE TABLE part_reservations (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            task_id uuid NOT NULL,
            part_item_id uuid NOT NULL,
            state text NOT NULL DEFAULT 'reserved' CHECK (state IN ('reserved', 'used', 'released')),
            quantity integer NOT NULL DEFAULT 1 CHECK (quantity = 1),
            created_by uuid,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            FOREIGN KEY (org_id, task_id) REFERENCES maintenance_tasks (org_id, id),
            FOREIGN KEY (org_id, part_item_id) REFERENCES part_items (org_id, id)
        );
        -- At most one active reservation per item: holds under any concurrency.
        CREATE UNIQUE INDEX part_reservations_one_active_uq ON part_reservations (part_item_id)
            WHERE state = 'reserved';
        CREATE INDEX part_reservations_task_idx ON part_reservations (task_id);

        CREATE TABLE program_parts (
            org_id uuid NOT NULL,
            program_id uuid NOT NULL,
            part_definition_id uuid NOT NULL,
            quantity integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
            PRIMARY KEY (program_id, part_definition_id),
            FOREIGN KEY (org_id, program_id) REFERENCES maintenance_programs (org_id, id),
            FOREIGN KEY (org_id, part_definition_id) REFERENCES part_definitions (org_id, id)
        );

        CREATE TABLE compliance_items (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            task_id uuid NOT NULL,
            description text NOT NULL CHECK (length(description) BETWEEN 1 AND 4000),
            result text NOT NULL DEFAULT 'pending' CHECK (result IN ('pass', 'fail', 'pending')),
            sign_off_user_id uuid,
            sign_off_time timestamptz,
            created_by uuid,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            FOREIGN KEY (org_id, task_id) REFERENCES maintenance_tasks (org_id, id),
            FOREIGN KEY (org_id, sign_off_user_id) REFERENCES users (org_id, id),
            CHECK ((sign_off_user_id IS NULL) = (sign_off_time IS NULL)),
            CHECK (sign_off_time IS NULL OR result <> 'pending')
        );
        CREATE INDEX compliance_items_task_idx ON compliance_items (task_id);

        -- A signed item is a legal record: nothing changes it afterwards, whoever asks.
        CREATE FUNCTION compliance_items_signed_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF OLD.sign_off_time IS NOT NULL THEN
                RAISE EXCEPTION 'compliance item % is signed off and cannot be changed', OLD.id
                    USING ERRCODE = 'insufficient_privilege';
            END IF;
            IF TG_OP = 'DELETE' THEN
                RETURN OLD;
            END IF;
            RETURN NEW;
        END
        $$;
        CREATE TRIGGER compliance_items_signed BEFORE UPDATE OR DELETE ON compliance_items
            FOR EACH ROW EXECUTE FUNCTION compliance_items_signed_immutable();
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
