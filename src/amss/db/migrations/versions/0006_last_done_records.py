"""Last-done records, the operator's time zone, initial meter entries (SPEC revision 2).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Data moved by this revision:
- Program-level ``last_performed`` of a program for ONE aircraft becomes that aircraft's
  last-done record (source ``record``).
- Program-level ``last_performed`` of a model-wide or organization-wide program is
  DROPPED: one aircraft's hours can never be another's baseline (SPEC §6.2). Open scheduled
  tasks that rested on it are re-based as ``assumed`` — from the moment their requirement
  started applying (the task's creation) and the aircraft's meters then (today's meters net
  of the utilization dated after that day) — and their limits recomputed. Their projected
  dates refresh at the next change on the aircraft or the daily forecast refresh.
- Completed program tasks become last-done records (source ``task``), so the history of
  every requirement lives in one table.
- Every aircraft gets an ``initial`` utilization entry for the meters it entered AMSS with
  (its meters less the entries already recorded), so the meters are always the sum of the
  entries and a wrong starting meter is corrected like any entry.
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        ALTER TABLE org_policies
            ADD COLUMN time_zone text NOT NULL DEFAULT 'UTC'
                CHECK (length(time_zone) BETWEEN 1 AND 64);

        -- Calendar limit from a point, on the organization's local calendar: N days later
        -- at the end (23:59:59) of the local day, or the end of the N-th calendar month after
        -- the point's local month, whichever is first; stored in UTC.
        CREATE FUNCTION amss_calendar_due(basis timestamptz, days integer, months integer, zone text)
            RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
            SELECT LEAST(
                (((basis AT TIME ZONE zone)::date + days) + time '23:59:59') AT TIME ZONE zone,
                (date_trunc('month', basis AT TIME ZONE zone) + make_interval(months => months + 1)
                    - interval '1 second') AT TIME ZONE zone
            )
        $$;

        -- One history per requirement and aircraft; the newest (by performed_at) is the
        -- baseline of the next due. basis_* is the point the next interval counts from: the
        -- performed point, or under the scheduled basis the limit late work was due at.
        CREATE TABLE compliance_records (
            id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
            org_id uuid NOT NULL,
            program_id uuid NOT NULL,
            aircraft_id uuid NOT NULL,
            performed_at timestamptz NOT NULL,
            performed_hours numeric(10,1) CHECK (performed_hours >= 0),
            performed_cycles integer CHECK (performed_cycles >= 0),
            basis_at timestamptz NOT NULL,
            basis_hours numeric(10,1),
            basis_cycles integer,
            source text NOT NULL CHECK (source IN ('record', 'task', 'import')),
            task_id uuid,
            reference text NOT NULL CHECK (length(reference) BETWEEN 1 AND 500),
            certified_by_user_id uuid,
            certified_by_name text CHECK (length(certified_by_name) BETWEEN 1 AND 200),
            certificate_number text CHECK (length(certificate_number) BETWEEN 1 AND 100),
            created_by uuid,
            created_at timestamptz NOT NULL DEFAULT clock_timestamp(),
            UNIQUE (org_id, id),
            FOREIGN KEY (org_id, program_id) REFERENCES maintenance_programs (org_id, id),
            FOREIGN KEY (org_id, aircraft_id) REFERENCES aircraft (org_id, id),
            FOREIGN KEY (org_id, task_id) REFERENCES maintenance_tasks (org_id, id),
            FOREIGN KEY (org_id, certified_by_user_id) REFERENCES users (org_id, id),
            CHECK (source <> 'task' OR task_id IS NOT NULL)
        );
        CREATE INDEX compliance_records_pair_idx
            ON compliance_records (program_id, aircraft_id, performed_at DESC, created_at DESC);
        CREATE INDEX compliance_records_aircraft_idx ON compliance_records (org_id, aircraft_id);

        CREATE FUNCTION compliance_records_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'last-done records are append-only; record a newer one instead'
                USING ERRCODE = 'insufficient_privilege';
        END
        $$;
        CREATE TRIGGER compliance_records_no_change BEFORE UPDATE OR DELETE ON compliance_records
            FOR EACH ROW EXECUTE FUNCTION compliance_records_append_only();

        -- What a task's limits rest on: a last-done record, the completion of the previous
        -- task, or the assumption that the requirement was met when it started applying.
        -- NULL for manual tasks, whose limits a person entered.
        ALTER TABLE maintenance_tasks
            ADD COLUMN basis_source text CHECK (basis_source IN ('record', 'completion', 'assumed'));
        UPDATE maintenance_tasks SET basis_source = 'assumed' WHERE program_id IS NOT NULL;

        -- Completed program tasks → records, basis from the task generated after each.
        INSERT INTO compliance_records (org_id, program_id, aircraft_id, performed_at,
            performed_hours, performed_cycles, basis_at, basis_hours, basis_cycles, source,
            task_id, reference, certified_by_user_id, created_by, created_at)
        SELECT t.org_id, t.program_id, t.aircraft_id, t.completed_at, t.completed_hours,
               t.completed_cycles,
               coalesce(n.basis_at, t.completed_at), coalesce(n.basis_hours, t.completed_hours),
               coalesce(n.basis_cycles, t.completed_cycles),
               'task', t.id, 'maintenance task ' || t.id, t.completed_by, t.completed_by,
               t.completed_at
        FROM maintenance_tasks t
        LEFT JOIN LATERAL (
            SELECT s.basis_at, s.basis_hours, s.basis_cycles FROM maintenance_tasks s
            WHERE s.program_id = t.program_id AND s.aircraft_id = t.aircraft_id
              AND s.created_at >= t.completed_at
            ORDER BY s.created_at LIMIT 1
        ) n ON true
        WHERE t.program_id IS NOT NULL AND t.state = 'completed' AND t.completed_at IS NOT NULL;
        UPDATE maintenance_tasks t SET basis_source = 'completion'
        WHERE t.program_id IS NOT NULL AND EXISTS (
            SELECT 1 FROM compliance_records c
            WHERE c.program_id = t.program_id AND c.aircraft_id = t.aircraft_id
              AND c.source = 'task' AND c.performed_at <= t.created_at);

        -- Single-aircraft program baselines → that aircraft's record.
        INSERT INTO compliance_records (org_id, program_id, aircraft_id, performed_at,
            performed_hours, performed_cycles, basis_at, basis_hours, basis_cycles, source,
            reference, created_at)
        SELECT p.org_id, p.id, p.aircraft_id, p.last_performed, p.last_performed_hours,
               p.last_performed_cycles, p.last_performed, p.last_performed_hours,
               p.last_performed_cycles, 'record', 'program baseline (migrated)', p.created_at
        FROM maintenance_programs p
        WHERE p.aircraft_id IS NOT NULL AND p.last_performed IS NOT NULL;
        UPDATE maintenance_tasks t SET basis_source = 'record'
        FROM maintenance_programs p
        WHERE t.program_id = p.id AND p.aircraft_id IS NOT NULL AND p.last_performed IS NOT NULL
          AND t.basis_source = 'assumed';

        -- Wider programs' baselines are dropped: their first open tasks re-based as assumed.
        WITH rebased AS (
            SELECT t.id, t.created_at AS basis_at,
                   a.flight_hours_total - coalesce(later.hours, 0) AS basis_hours,
                   a.cycles_total - coalesce(later.cycles, 0) AS basis_cycles,
                   p.interval_hours, p.interval_cycles, p.interval_days, p.interval_months
            FROM maintenance_tasks t
            JOIN maintenance_programs p ON p.id = t.program_id
            JOIN aircraft a ON a.id = t.aircraft_id
            LEFT JOIN LATERAL (
                SELECT sum(u.flight_hours) AS hours, sum(u.cycles) AS cycles
                FROM utilization_entries u
                WHERE u.aircraft_id = t.aircraft_id AND u.flight_date > t.created_at::date
            ) later ON true
            WHERE p.aircraft_id IS NULL AND p.last_performed IS NOT NULL
              AND t.state = 'scheduled' AND t.basis_source = 'assumed' AND t.deleted_at IS NULL
        )
        UPDATE maintenance_tasks t
        SET basis_at = r.basis_at, basis_hours = greatest(r.basis_hours, 0),
            basis_cycles = greatest(r.basis_cycles, 0),
            due_at = amss_calendar_due(r.basis_at, r.interval_days, r.interval_months, 'UTC'),
            due_hours = greatest(r.basis_hours, 0) + r.interval_hours,
            due_cycles = greatest(r.basis_cycles, 0) + r.interval_cycles,
            version = t.version + 1, updated_at = now()
        FROM rebased r WHERE t.id = r.id;

        ALTER TABLE maintenance_programs
            DROP COLUMN last_performed,
            DROP COLUMN last_performed_hours,
            DROP COLUMN last_performed_cycles;

        DROP FUNCTION amss_calendar_due(timestamptz, integer, integer);

        -- The meters an aircraft entered AMSS with, as its first entry.
        INSERT INTO utilization_entries (org_id, aircraft_id, flight_date, flight_hours, cycles,
                                         source)
        SELECT a.org_id, a.id, a.created_at::date,
               greatest(a.flight_hours_total - coalesce(s.hours, 0), 0),
               greatest(a.cycles_total - coalesce(s.cycles, 0), 0), 'initial'
        FROM aircraft a
        LEFT JOIN (SELECT aircraft_id, sum(flight_hours) AS hours, sum(cycles) AS cycles
                   FROM utilization_entries GROUP BY aircraft_id) s ON s.aircraft_id = a.id;
        """
    )


def downgrade() -> None:
    raise NotImplementedError("AMSS migrations are forward-only; restore from a backup instead")
