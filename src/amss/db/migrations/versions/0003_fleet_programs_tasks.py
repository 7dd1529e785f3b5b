"""Aircraft, utilization, maintenance programs and maintenance tasks.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        CREATE TABLE aircraft (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            tail_number text NOT NULL CHECK (length(tail_number) BETWEEN 1 AND 20),
            model text NOT NULL CHECK (length(model) BETWEEN 1 AND 100),
            serial_number text CHECK (length(serial_number) BETWEEN 1 AND 100),
            status text NOT NULL DEFAULT 'operational'
                CHECK (status IN ('operational', 'maintenance', 'grounded')),
            capacity_slots integer NOT NULL DEFAULT 1 CHECK (capacity_slots >= 1),
            flight_hours_total numeric(10,1) NOT NULL DEFAULT 0 CHECK (flight_hours_total >= 0),
            cycles_total integer NOT NULL DEFAULT 0 CHECK (cycles_total >= 0),
            avg_daily_hours numeric(6,2) CHECK (avg_daily_hours >= 0 AND avg_daily_hours <= 24),
            avg_daily_cycles numeric(8,2) CHECK (avg_daily_cycles >= 0),
            -- Rates observed from the last 90 days of utilization (NULL: no entries).
            observed_daily_hours numeric(12,3),
            observed_daily_cycles numeric(12,3),
            last_maintenance timestamptz,
            next_due timestamptz,
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id)
        );
        CREATE UNIQUE INDEX aircraft_tail_live_uq ON aircraft (org_id, upper(tail_number))
            WHERE deleted_at IS NULL;
        CREATE INDEX aircraft_model_idx ON aircraft (org_id, model) WHERE deleted_at IS NULL;

        CREATE TABLE utilization_entries (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            aircraft_id uuid NOT NULL,
            flight_date date NOT NULL,
            flight_hours numeric(10,1) NOT NULL,
            cycles integer NOT NULL,
            source text NOT NULL DEFAULT 'api' CHECK (length(source) BETWEEN 1 AND 50),
            external_id text CHECK (length(external_id) BETWEEN 1 AND 200),
            corrects_id uuid REFERENCES utilization_entries (id),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            FOREIGN KEY (org_id, aircraft_id) REFERENCES aircraft (org_id, id),
            CHECK (corrects_id IS NOT NULL OR (flight_hours >= 0 AND cycles >= 0))
        );
        CREATE UNIQUE INDEX utilization_external_uq
            ON utilization_entries (org_id, aircraft_id, external_id) WHERE external_id IS NOT NULL;
        CREATE INDEX utilization_aircraft_date_idx
            ON utilization_entries (org_id, aircraft_id, flight_date);

        CREATE FUNCTION utilization_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'utilization entries are append-only; post a correcting entry instead'
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        CREATE TRIGGER utilization_no_change BEFORE UPDATE OR DELETE ON utilization_entries
            FOR EACH ROW EXECUTE FUNCTION utilization_append_only();

        CREATE TABLE maintenance_programs (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL REFERENCES organizations (id),
            aircraft_id uuid,
            aircraft_model text CHECK (length(aircraft_model) BETWEEN 1 AND 100),
            name text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
            description text,
            ata_chapter text CHECK (length(ata_chapter) <= 20),
            task_type text NOT NULL DEFAULT 'inspection'
                CHECK (task_type IN ('inspection', 'repair', 'overhaul')),
            interval_hours numeric(10,1) CHECK (interval_hours > 0),
            interval_cycles integer CHECK (interval_cycles > 0),
            interval_days integer CHECK (interval_days > 0),
            interval_months integer CHECK (interval_months > 0),
            tolerance_hours numeric(10,1) CHECK (tolerance_hours >= 0),
            tolerance_cycles integer CHECK (tolerance_cycles >= 0),
            tolerance_days integer CHECK (tolerance_days >= 0),
            next_due_basis text NOT NULL DEFAULT 'actual' CHECK (next_due_basis IN ('actual', 'scheduled')),
            estimated_duration_hours numeric(6,2) NOT NULL DEFAULT 2 CHECK (estimated_duration_hours > 0),
            last_performed timestamptz,
            last_performed_hours numeric(10,1) CHECK (last_performed_hours >= 0),
            last_performed_cycles integer CHECK (last_performed_cycles >= 0),
            version integer NOT NULL DEFAULT 1,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id),
            FOREIGN KEY (org_id, aircraft_id) REFERENCES aircraft (org_id, id),
            CHECK (num_nonnulls(interval_hours, interval_cycles, interval_days, interval_months) >= 1),
            CHECK (aircraft_id IS NULL OR aircraft_model IS NULL)
        );
        CREATE INDEX programs_org_idx ON maintenance_programs (org_id) WHERE deleted_at IS NULL;

        -- org_id needs no foreign key of its own: (org_id, aircraft_id) references aircraft.
        CREATE TABLE maintenance_tasks (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            aircraft_id uuid NOT NULL,
            program_id uuid,
            type text NOT NULL DEFAULT 'inspection' CHECK (type IN ('inspection', 'repair', 'overhaul')),
            state text NOT NULL DEFAULT 'scheduled'
                CHECK (state IN ('scheduled', 'in_progress', 'completed', 'cancelled')),
            title text NOT NULL CHECK (length(title) BETWEEN 1 AND 300),
            start_time timestamptz,
            end_time timestamptz,
            -- The point the limits count from, and the limits (with the program's tolerances).
            basis_at timestamptz,
            basis_hours numeric(10,1),
            basis_cycles integer,
            due_at timestamptz,
            due_hours numeric(10,1),
            due_cycles integer,
            tolerance_hours numeric(10,1),
            tolerance_cycles integer,
            tolerance_days integer,
            projected_due_at timestamptz,
            governing_limit text CHECK (governing_limit IN ('hours', 'cycles', 'calendar')),
            -- The last due status the scan acted on (events and grounding once per change).
            due_status text NOT NULL DEFAULT 'ok' CHECK (due_status IN ('ok', 'due_soon', 'due', 'overdue')),
            assigned_mechanic_id uuid,
            notes text,
            cancel_reason text,
            started_at timestamptz,
            completed_at timestamptz,
            completed_by uuid,
            completed_hours numeric(10,1),
            completed_cycles integer,
            version integer NOT NULL DEFAULT 1,
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT now(),
            updated_at timestamptz NOT NULL DEFAULT now(),
            deleted_at timestamptz,
            UNIQUE (org_id, id),
            FOREIGN KEY (org_id, aircraft_id) REFERENCES aircraft (org_id, id),
            FOREIGN KEY (org_id, program_id) REFERENCES maintenance_programs (org_id, id),
            FOREIGN KEY (org_id, assigned_mechanic_id) REFERENCES users (org_id, id)
        );
        -- Exactly one open generated task per (program, aircraft): a concurrent second
        -- generator inserts nothing.
        CREATE UNIQUE INDEX tasks_one_open_per_program_uq
            ON maintenance_tasks (program_id, aircraft_id)
            WHERE program_id IS NOT NULL AND state IN ('scheduled', 'in_progress') AND deleted_at IS NULL;
        CREATE INDEX tasks_aircraft_open_idx ON maintenance_tasks (aircraft_id, projected_due_at)
            WHERE state IN ('scheduled', 'in_progress') AND deleted_at IS NULL;
        CREATE INDEX tasks_org_due_idx ON maintenance_tasks (org_id, projected_due_at)
            WHERE state IN ('scheduled', 'in_progress') AND deleted_at IS NULL;
        CREATE INDEX tasks_program_history_idx ON maintenance_tasks (program_id, aircraft_id, created_at)
            WHERE program_id IS NOT NULL;

        -- Calendar limit from a point: N days later at the same time of day, or the end of
        -- the N-th calendar month after the point's month (23:59:59 UTC), whichever is first.
        CREATE FUNCTION amss_calendar_due(basis timestamptz, days integer, months integer)
            RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
            -- Computed on UTC wall time throughout: immutable (so the planner inlines it),
            -- and a day is 24 hours whatever the server's time zone.
            SELECT LEAST(
                ((basis AT TIME ZONE 'UTC') + make_interval(days => days)) AT TIME ZONE 'UTC',
                (date_trunc('month', (basis AT TIME ZONE 'UTC')) + make_interval(months => months + 1)
                    - interval '1 second') AT TIME ZONE 'UTC'
            )
        $$;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
