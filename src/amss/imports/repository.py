"""Queries of imports: the stored file, its rows staged with COPY, and the set-based upserts
that apply them (SPEC §8)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import func, select, text, update
from sqlalchemy.engine import RowMapping

from amss.db.scoped import ScopedRepository, fetch_one
from amss.db.tables import import_rows, imports
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow

# What listing an import reads: everything but the file itself.
_LISTED = [column for column in imports.c if column.name != "content"]
_COPY = "COPY import_rows (import_id, org_id, row_number, raw, data, status, errors) FROM STDIN"


# The columns of each type's staged rows, as ``jsonb_to_record`` reads them.
AIRCRAFT_ROW = (
    "tail_number text, model text, serial_number text, status text, "
    "capacity_slots integer, flight_hours_total numeric, cycles_total integer, "
    "avg_daily_hours numeric, avg_daily_cycles numeric"
)
FLIGHT_ROW = (
    "aircraft_id uuid, flight_date date, flight_hours numeric, cycles integer, external_id text"
)
PROGRAM_ROW = (
    "name text, aircraft_id uuid, aircraft_model text, interval_hours numeric, "
    "interval_cycles integer, interval_days integer, interval_months integer, "
    "tolerance_hours numeric, tolerance_cycles integer, tolerance_days integer, "
    "task_type text, ata_chapter text, estimated_duration_hours numeric, "
    "next_due_basis text, mandatory boolean"
)
PART_ROW = (
    "part_name text, part_number text, category text, min_stock integer, "
    "serial_number text, status text, expiry_date date, location text"
)


# Every batch statement ends by marking its rows in the same statement, from its CTE
# ``outcome`` (row_number, entity_id, outcome): applied and checkpointed together.
_MARK_APPLIED = """
                marked AS (
                    UPDATE import_rows r
                    SET (status, entity_id, outcome) = ('applied', o.entity_id, o.outcome)
                    FROM outcome o
                    WHERE r.import_id = :import_id AND r.row_number = o.row_number
                )
"""


def _staged(record: str) -> str:
    """The CTE ``src`` every batch statement starts with: the batch's valid staged rows
    (``:import_id``, ``:org_id``, rows ``:first`` to ``:last``), each row's data read as
    ``record`` (a column definition list), with its row number."""
    return f"""
                WITH src AS (
                    SELECT r.row_number, d.*
                    FROM import_rows r
                    CROSS JOIN LATERAL jsonb_to_record(r.data) AS d({record})
                    WHERE r.import_id = :import_id AND r.org_id = :org_id
                      AND r.status = 'valid' AND r.row_number BETWEEN :first AND :last
                )"""


class ImportRepository(ScopedRepository):
    table = imports
    noun = "import"
    has_soft_delete = False

    async def listed(self, import_id: UUID) -> RowMapping | None:
        statement = select(*_LISTED).where(*self.scope(), imports.c.id == import_id)
        row: RowMapping | None = (await self.session.execute(statement)).mappings().first()
        return row

    async def list_page(self, page: Page, status: str | None) -> tuple[list[RowMapping], int]:
        statement = select(*_LISTED).where(*self.scope())
        if status is not None:
            statement = statement.where(imports.c.status == status)
        return await self.page(statement, page, [imports.c.created_at.desc(), imports.c.id.desc()])

    async def rows_page(
        self, import_id: UUID, page: Page, status: str | None
    ) -> tuple[list[RowMapping], int]:
        statement = select(import_rows).where(
            import_rows.c.org_id == self.org_id, import_rows.c.import_id == import_id
        )
        if status is not None:
            statement = statement.where(import_rows.c.status == status)
        return await self.page(statement, page, [import_rows.c.row_number])

    async def set_fields(self, import_id: UUID, **values: Any) -> RowMapping:
        statement = (
            update(imports)
            .where(*self.scope(), imports.c.id == import_id)
            .values(updated_at=utcnow(), **values)
            .returning(*_LISTED)
        )
        return await fetch_one(self.session, statement)

    async def stage(self, import_id: UUID, rows: Iterable[Sequence[Any]]) -> None:
        """COPY the rows into ``import_rows`` on the session's own connection (so they commit
        or roll back with the rest). Each row is ``(row_number, raw, data, status, errors)``."""
        connection = await self.session.connection()
        raw_connection = await connection.get_raw_connection()
        driver: Any = raw_connection.driver_connection
        async with driver.cursor() as cursor, cursor.copy(_COPY) as copy:
            for number, raw, data, status, errors in rows:
                await copy.write_row(
                    (
                        import_id,
                        self.org_id,
                        number,
                        json.dumps(raw),
                        None if data is None else json.dumps(data),
                        status,
                        errors,
                    )
                )

    async def analyze(self) -> None:
        """Fresh statistics once the rows are staged: the batches join them with the tables
        they apply to, and a planner that believes the staging table empty picks nested
        loops (quadratic)."""
        await self.session.execute(text("SELECT amss_analyze_import_rows()"))

    async def counts(self, import_id: UUID) -> dict[str, int]:
        """Rows by status, and the applied rows that changed nothing."""
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.count().filter(import_rows.c.status != "invalid"),
                    func.count().filter(import_rows.c.status == "invalid"),
                    func.count().filter(import_rows.c.status == "applied"),
                    func.count().filter(import_rows.c.outcome == "unchanged"),
                ).where(import_rows.c.import_id == import_id, import_rows.c.org_id == self.org_id)
            )
        ).one()
        total, valid, invalid, applied, unchanged = (int(value) for value in row)
        return {
            "total": total,
            "valid": valid,
            "invalid": invalid,
            "applied": applied,
            "unchanged": unchanged,
        }

    async def next_batch(
        self, import_id: UUID, size: int, *, with_data: bool = False
    ) -> list[RowMapping]:
        """The first ``size`` rows still to apply, in file order (every ``valid`` row from
        the first to the last of them: a batch is a range of row numbers)."""
        columns = [import_rows.c.row_number] + ([import_rows.c.data] if with_data else [])
        statement = (
            select(*columns)
            .where(
                import_rows.c.import_id == import_id,
                import_rows.c.org_id == self.org_id,
                import_rows.c.status == "valid",
            )
            .order_by(import_rows.c.row_number)
            .limit(size)
        )
        return list((await self.session.execute(statement)).mappings().all())

    async def mark_applied(
        self, import_id: UUID, outcomes: Sequence[tuple[int, UUID | None, str]]
    ) -> None:
        """``(row_number, entity_id, outcome)`` per applied row, in one statement."""
        await self.session.execute(
            text(
                """
                UPDATE import_rows r SET status = 'applied', entity_id = o.entity_id,
                       outcome = o.outcome
                FROM jsonb_to_recordset(CAST(:rows AS jsonb))
                     AS o(row_number integer, entity_id uuid, outcome text)
                WHERE r.import_id = :import_id AND r.org_id = :org_id
                  AND r.row_number = o.row_number AND r.status = 'valid'
                """
            ),
            {
                "import_id": import_id,
                "org_id": self.org_id,
                "rows": json.dumps(
                    [
                        {"row_number": n, "entity_id": str(e) if e else None, "outcome": o}
                        for n, e, o in outcomes
                    ]
                ),
            },
        )

    # Look-ups for validation: one statement each, whatever the number of rows.

    async def aircraft_by_tail(self, tails: Iterable[str]) -> dict[str, RowMapping]:
        """Live aircraft of the organization by upper-case tail number."""
        rows = await self.session.execute(
            text(
                """
                SELECT upper(a.tail_number) AS key, a.id, a.tail_number, a.model, a.status,
                       a.flight_hours_total, a.cycles_total
                FROM aircraft a
                WHERE a.org_id = :org_id AND a.deleted_at IS NULL
                  AND upper(a.tail_number) = ANY(CAST(:tails AS text[]))
                """
            ),
            {"org_id": self.org_id, "tails": sorted({tail.upper() for tail in tails})},
        )
        return {row["key"]: row for row in rows.mappings()}

    async def recorded_external_ids(
        self, pairs: Iterable[tuple[UUID, str]]
    ) -> set[tuple[UUID, str]]:
        wanted = sorted({(str(a), e) for a, e in pairs})
        rows = await self.session.execute(
            text(
                """
                SELECT u.aircraft_id, u.external_id
                FROM utilization_entries u
                JOIN unnest(CAST(:aircraft AS uuid[]), CAST(:ids AS text[]))
                     AS w(aircraft_id, external_id)
                  ON u.aircraft_id = w.aircraft_id AND u.external_id = w.external_id
                WHERE u.org_id = :org_id
                """
            ),
            {
                "org_id": self.org_id,
                "aircraft": [a for a, _ in wanted],
                "ids": [e for _, e in wanted],
            },
        )
        return {(row.aircraft_id, row.external_id) for row in rows}

    async def flown(
        self, pairs: Iterable[tuple[UUID, date]], settings: Sequence[str]
    ) -> dict[tuple[UUID, date], Decimal]:
        """Flight hours already recorded per (aircraft, day): flying only, as the API counts
        them (corrections and meter settings excluded)."""
        wanted = sorted({(str(a), d) for a, d in pairs})
        rows = await self.session.execute(
            text(
                """
                SELECT u.aircraft_id, u.flight_date, sum(u.flight_hours) AS hours
                FROM utilization_entries u
                JOIN unnest(CAST(:aircraft AS uuid[]), CAST(:days AS date[])) AS w(aircraft_id, day)
                  ON u.aircraft_id = w.aircraft_id AND u.flight_date = w.day
                WHERE u.org_id = :org_id AND u.corrects_id IS NULL
                  AND u.source <> ALL(CAST(:settings AS text[]))
                GROUP BY u.aircraft_id, u.flight_date
                """
            ),
            {
                "org_id": self.org_id,
                "aircraft": [a for a, _ in wanted],
                "days": [d for _, d in wanted],
                "settings": list(settings),
            },
        )
        return {(row.aircraft_id, row.flight_date): Decimal(row.hours) for row in rows}

    async def programs_named(self, names: Iterable[str]) -> list[RowMapping]:
        rows = await self.session.execute(
            text(
                """
                SELECT p.id, p.name, p.aircraft_id, p.aircraft_model, p.interval_hours,
                       p.interval_cycles, p.interval_days, p.interval_months
                FROM maintenance_programs p
                WHERE p.org_id = :org_id AND p.deleted_at IS NULL
                  AND p.name = ANY(CAST(:names AS text[]))
                """
            ),
            {"org_id": self.org_id, "names": sorted(set(names))},
        )
        return list(rows.mappings())

    async def recorded_points(
        self, points: Iterable[tuple[UUID, UUID, str]]
    ) -> dict[tuple[str, str, str], UUID]:
        """Last-done records already held at these (program, aircraft, performed_at) points."""
        wanted = sorted({(str(p), str(a), at) for p, a, at in points})
        rows = await self.session.execute(
            text(
                """
                SELECT c.id, c.program_id, c.aircraft_id, w.at
                FROM compliance_records c
                JOIN unnest(CAST(:programs AS uuid[]), CAST(:aircraft AS uuid[]),
                            CAST(:ats AS text[])) AS w(program_id, aircraft_id, at)
                  ON c.program_id = w.program_id AND c.aircraft_id = w.aircraft_id
                 AND c.performed_at = CAST(w.at AS timestamptz)
                WHERE c.org_id = :org_id
                """
            ),
            {
                "org_id": self.org_id,
                "programs": [p for p, _, _ in wanted],
                "aircraft": [a for _, a, _ in wanted],
                "ats": [at for _, _, at in wanted],
            },
        )
        return {(str(r.program_id), str(r.aircraft_id), r.at): r.id for r in rows}

    # Applying: one statement per batch and type.

    async def apply_aircraft(
        self, import_id: UUID, rows: Sequence[int], today: date, user_id: UUID | None
    ) -> list[RowMapping]:
        """Upsert the batch by tail number: new aircraft with their initial utilization entry,
        changed ones updated (version bumped), identical ones untouched (and marked
        ``unchanged``). Returns ``(row_number, entity_id, outcome)`` per created or updated
        row."""
        result = await self.session.execute(
            text(
                _staged(AIRCRAFT_ROW)
                + """,
                existing AS (
                    SELECT s.row_number, a.id
                    FROM src s JOIN aircraft a
                      ON a.org_id = :org_id AND a.deleted_at IS NULL
                     AND upper(a.tail_number) = upper(s.tail_number)
                    FOR UPDATE OF a
                ),
                changed AS (
                    UPDATE aircraft a
                    SET model = s.model,
                        serial_number = coalesce(s.serial_number, a.serial_number),
                        capacity_slots = coalesce(s.capacity_slots, a.capacity_slots),
                        avg_daily_hours = coalesce(s.avg_daily_hours, a.avg_daily_hours),
                        avg_daily_cycles = coalesce(s.avg_daily_cycles, a.avg_daily_cycles),
                        version = a.version + 1, updated_at = now()
                    FROM src s JOIN existing e ON e.row_number = s.row_number
                    WHERE a.id = e.id
                      AND (a.model, a.serial_number, a.capacity_slots, a.avg_daily_hours,
                           a.avg_daily_cycles)
                          IS DISTINCT FROM
                          (s.model, coalesce(s.serial_number, a.serial_number),
                           coalesce(s.capacity_slots, a.capacity_slots),
                           coalesce(s.avg_daily_hours, a.avg_daily_hours),
                           coalesce(s.avg_daily_cycles, a.avg_daily_cycles))
                    RETURNING a.id
                ),
                created AS (
                    INSERT INTO aircraft (org_id, tail_number, model, serial_number, status,
                        capacity_slots, flight_hours_total, cycles_total, avg_daily_hours,
                        avg_daily_cycles)
                    SELECT :org_id, s.tail_number, s.model, s.serial_number,
                           coalesce(s.status, 'operational'), coalesce(s.capacity_slots, 1),
                           coalesce(s.flight_hours_total, 0), coalesce(s.cycles_total, 0),
                           s.avg_daily_hours, s.avg_daily_cycles
                    FROM src s
                    WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.row_number = s.row_number)
                    ORDER BY s.row_number
                    ON CONFLICT (org_id, upper(tail_number)) WHERE deleted_at IS NULL DO NOTHING
                    RETURNING id, upper(tail_number) AS key, flight_hours_total, cycles_total
                ),
                initial AS (
                    -- The meters a new aircraft enters AMSS with are its first entry (§6.1).
                    INSERT INTO utilization_entries (org_id, aircraft_id, flight_date,
                        flight_hours, cycles, source, created_by)
                    SELECT :org_id, c.id, :today, c.flight_hours_total, c.cycles_total,
                           'initial', CAST(:user_id AS uuid)
                    FROM created c
                ),
                outcome AS (
                SELECT s.row_number, coalesce(e.id, c.id) AS entity_id,
                       CASE WHEN c.id IS NOT NULL THEN 'created'
                            WHEN ch.id IS NOT NULL THEN 'updated'
                            ELSE 'unchanged' END AS outcome
                FROM src s
                LEFT JOIN existing e ON e.row_number = s.row_number
                LEFT JOIN created c ON c.key = upper(s.tail_number)
                LEFT JOIN changed ch ON ch.id = e.id
                ),
                """
                + _MARK_APPLIED
                + """
                -- Only what changed comes back: a re-import of 100,000 aircraft returns
                -- nothing to carry.
                SELECT o.* FROM outcome o WHERE o.outcome <> 'unchanged' ORDER BY o.row_number
                """
            ),
            {
                "import_id": import_id,
                "org_id": self.org_id,
                "first": rows[0],
                "last": rows[-1],
                "today": today,
                "user_id": user_id,
            },
        )
        return list(result.mappings().all())

    async def apply_utilization(
        self, import_id: UUID, rows: Sequence[int], user_id: UUID | None
    ) -> list[RowMapping]:
        """Append the batch's flight-log entries (an ``external_id`` already recorded adds
        nothing) and add them to the meters. Returns ``(row_number, entity_id, outcome,
        aircraft_id)`` per row."""
        result = await self.session.execute(
            text(
                _staged(FLIGHT_ROW)
                + """,
                added AS (
                    INSERT INTO utilization_entries (org_id, aircraft_id, flight_date,
                        flight_hours, cycles, source, external_id, created_by)
                    SELECT :org_id, s.aircraft_id, s.flight_date, s.flight_hours, s.cycles,
                           'import', s.external_id, CAST(:user_id AS uuid)
                    FROM src s ORDER BY s.row_number
                    ON CONFLICT (org_id, aircraft_id, external_id) WHERE external_id IS NOT NULL
                    DO NOTHING
                    RETURNING id, aircraft_id, external_id, flight_hours, cycles
                ),
                meters AS (
                    UPDATE aircraft a
                    SET flight_hours_total = a.flight_hours_total + m.hours,
                        cycles_total = a.cycles_total + m.cycles,
                        version = a.version + 1, updated_at = now()
                    FROM (SELECT aircraft_id, sum(flight_hours) AS hours, sum(cycles) AS cycles
                          FROM added GROUP BY aircraft_id) m
                    WHERE a.org_id = :org_id AND a.id = m.aircraft_id
                    RETURNING a.id
                ),
                outcome AS (
                SELECT s.row_number, coalesce(n.id, u.id) AS entity_id, s.aircraft_id,
                       CASE WHEN n.id IS NOT NULL THEN 'created' ELSE 'unchanged' END AS outcome,
                       (SELECT count(*) FROM meters) AS aircraft_changed
                FROM src s
                LEFT JOIN added n
                  ON n.aircraft_id = s.aircraft_id AND n.external_id = s.external_id
                LEFT JOIN utilization_entries u
                  ON n.id IS NULL AND u.org_id = :org_id AND u.aircraft_id = s.aircraft_id
                 AND u.external_id = s.external_id
                ),
                """
                + _MARK_APPLIED
                + """
                SELECT o.* FROM outcome o ORDER BY o.row_number
                """
            ),
            {
                "import_id": import_id,
                "org_id": self.org_id,
                "first": rows[0],
                "last": rows[-1],
                "user_id": user_id,
            },
        )
        return list(result.mappings().all())

    async def programs_by_key(self, names: Iterable[str]) -> list[RowMapping]:
        """Live programs with these names, every column the import compares."""
        rows = await self.session.execute(
            text(
                """
                SELECT p.id, p.name, p.aircraft_id, p.aircraft_model
                FROM maintenance_programs p
                WHERE p.org_id = :org_id AND p.deleted_at IS NULL
                  AND p.name = ANY(CAST(:names AS text[]))
                """
            ),
            {"org_id": self.org_id, "names": sorted(set(names))},
        )
        return list(rows.mappings())

    async def apply_programs(self, import_id: UUID, rows: Sequence[int]) -> list[RowMapping]:
        """Upsert the batch by name and applicability (the aircraft, the model, or the whole
        organization); empty cells keep what a program has. Returns ``(row_number,
        entity_id, outcome)`` per row. Programs have no unique index (two may share a name
        with different applicability), so imports of one organization take turns here."""
        await self.session.execute(
            text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
            {"key": f"amss.import.programs:{self.org_id}"},
        )
        result = await self.session.execute(
            text(
                _staged(PROGRAM_ROW)
                + """,
                existing AS (
                    SELECT s.row_number, p.id
                    FROM src s JOIN maintenance_programs p
                      ON p.org_id = :org_id AND p.deleted_at IS NULL AND p.name = s.name
                     AND p.aircraft_id IS NOT DISTINCT FROM s.aircraft_id
                     AND p.aircraft_model IS NOT DISTINCT FROM s.aircraft_model
                    FOR UPDATE OF p
                ),
                wanted AS (
                    SELECT e.id, s.row_number,
                           coalesce(s.interval_hours, p.interval_hours) AS interval_hours,
                           coalesce(s.interval_cycles, p.interval_cycles) AS interval_cycles,
                           coalesce(s.interval_days, p.interval_days) AS interval_days,
                           coalesce(s.interval_months, p.interval_months) AS interval_months,
                           coalesce(s.tolerance_hours, p.tolerance_hours) AS tolerance_hours,
                           coalesce(s.tolerance_cycles, p.tolerance_cycles) AS tolerance_cycles,
                           coalesce(s.tolerance_days, p.tolerance_days) AS tolerance_days,
                           coalesce(s.task_type, p.task_type) AS task_type,
                           coalesce(s.ata_chapter, p.ata_chapter) AS ata_chapter,
                           coalesce(s.estimated_duration_hours, p.estimated_duration_hours)
                               AS estimated_duration_hours,
                           coalesce(s.next_due_basis, p.next_due_basis) AS next_due_basis,
                           coalesce(s.mandatory, p.mandatory) AS mandatory
                    FROM src s JOIN existing e ON e.row_number = s.row_number
                    JOIN maintenance_programs p ON p.id = e.id
                    WHERE (p.interval_hours, p.interval_cycles, p.interval_days,
                           p.interval_months, p.tolerance_hours, p.tolerance_cycles,
                           p.tolerance_days, p.task_type, p.ata_chapter,
                           p.estimated_duration_hours, p.next_due_basis, p.mandatory)
                          IS DISTINCT FROM
                          (coalesce(s.interval_hours, p.interval_hours),
                           coalesce(s.interval_cycles, p.interval_cycles),
                           coalesce(s.interval_days, p.interval_days),
                           coalesce(s.interval_months, p.interval_months),
                           coalesce(s.tolerance_hours, p.tolerance_hours),
                           coalesce(s.tolerance_cycles, p.tolerance_cycles),
                           coalesce(s.tolerance_days, p.tolerance_days),
                           coalesce(s.task_type, p.task_type),
                           coalesce(s.ata_chapter, p.ata_chapter),
                           coalesce(s.estimated_duration_hours, p.estimated_duration_hours),
                           coalesce(s.next_due_basis, p.next_due_basis),
                           coalesce(s.mandatory, p.mandatory))
                ),
                changed AS (
                    UPDATE maintenance_programs p
                    SET interval_hours = w.interval_hours, interval_cycles = w.interval_cycles,
                        interval_days = w.interval_days, interval_months = w.interval_months,
                        tolerance_hours = w.tolerance_hours,
                        tolerance_cycles = w.tolerance_cycles,
                        tolerance_days = w.tolerance_days, task_type = w.task_type,
                        ata_chapter = w.ata_chapter,
                        estimated_duration_hours = w.estimated_duration_hours,
                        next_due_basis = w.next_due_basis, mandatory = w.mandatory,
                        version = p.version + 1, updated_at = now()
                    FROM wanted w WHERE p.id = w.id
                    RETURNING p.id
                ),
                created AS (
                    INSERT INTO maintenance_programs (org_id, name, aircraft_id, aircraft_model,
                        interval_hours, interval_cycles, interval_days, interval_months,
                        tolerance_hours, tolerance_cycles, tolerance_days, task_type,
                        ata_chapter, estimated_duration_hours, next_due_basis, mandatory)
                    SELECT :org_id, s.name, s.aircraft_id, s.aircraft_model, s.interval_hours,
                           s.interval_cycles, s.interval_days, s.interval_months,
                           s.tolerance_hours, s.tolerance_cycles, s.tolerance_days,
                           coalesce(s.task_type, 'inspection'), s.ata_chapter,
                           coalesce(s.estimated_duration_hours, 2),
                           coalesce(s.next_due_basis, 'actual'), coalesce(s.mandatory, true)
                    FROM src s
                    WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.row_number = s.row_number)
                    ORDER BY s.row_number
                    RETURNING id, name, aircraft_id, aircraft_model
                ),
                outcome AS (
                SELECT s.row_number, coalesce(e.id, c.id) AS entity_id,
                       CASE WHEN c.id IS NOT NULL THEN 'created'
                            WHEN ch.id IS NOT NULL THEN 'updated'
                            ELSE 'unchanged' END AS outcome
                FROM src s
                LEFT JOIN existing e ON e.row_number = s.row_number
                LEFT JOIN created c ON c.name = s.name
                     AND c.aircraft_id IS NOT DISTINCT FROM s.aircraft_id
                     AND c.aircraft_model IS NOT DISTINCT FROM s.aircraft_model
                LEFT JOIN changed ch ON ch.id = e.id
                ),
                """
                + _MARK_APPLIED
                + """
                SELECT o.* FROM outcome o ORDER BY o.row_number
                """
            ),
            {"import_id": import_id, "org_id": self.org_id, "first": rows[0], "last": rows[-1]},
        )
        return list(result.mappings().all())

    async def items_by_serial(self, serials: Iterable[str]) -> dict[str, RowMapping]:
        """Live part items by serial number, with their part's name."""
        rows = await self.session.execute(
            text(
                """
                SELECT i.serial_number AS key, i.id, i.status, i.expiry_date, i.location,
                       d.name AS part_name
                FROM part_items i
                JOIN part_definitions d ON d.org_id = i.org_id AND d.id = i.part_definition_id
                WHERE i.org_id = :org_id AND i.deleted_at IS NULL
                  AND i.serial_number = ANY(CAST(:serials AS text[]))
                """
            ),
            {"org_id": self.org_id, "serials": sorted(set(serials))},
        )
        return {row["key"]: row for row in rows.mappings()}

    async def apply_parts(self, import_id: UUID, rows: Sequence[int]) -> list[dict[str, Any]]:
        """Part definitions by name (created on first use, their details updated where the
        file gives them), then items upserted by serial number. Returns ``(row_number,
        entity_id, outcome, definition_id, definition_outcome)`` per row."""
        params = {"import_id": import_id, "org_id": self.org_id, "first": rows[0], "last": rows[-1]}
        definitions = await self.session.execute(
            text(
                _staged(PART_ROW)
                + """,
                parts AS (
                    SELECT lower(s.part_name) AS key, min(s.part_name) AS name,
                           min(s.part_number) AS part_number, min(s.category) AS category,
                           min(s.min_stock) AS min_stock
                    FROM src s GROUP BY lower(s.part_name)
                ),
                existing AS (
                    SELECT p.key, d.id FROM parts p JOIN part_definitions d
                      ON d.org_id = :org_id AND d.deleted_at IS NULL AND lower(d.name) = p.key
                    FOR UPDATE OF d
                ),
                changed AS (
                    UPDATE part_definitions d
                    SET part_number = coalesce(p.part_number, d.part_number),
                        category = coalesce(p.category, d.category),
                        min_stock = coalesce(p.min_stock, d.min_stock),
                        version = d.version + 1, updated_at = now()
                    FROM parts p JOIN existing e ON e.key = p.key
                    WHERE d.id = e.id
                      AND (d.part_number, d.category, d.min_stock) IS DISTINCT FROM
                          (coalesce(p.part_number, d.part_number),
                           coalesce(p.category, d.category), coalesce(p.min_stock, d.min_stock))
                    RETURNING d.id
                ),
                created AS (
                    INSERT INTO part_definitions (org_id, name, part_number, category, min_stock)
                    SELECT :org_id, p.name, p.part_number, p.category, coalesce(p.min_stock, 0)
                    FROM parts p WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.key = p.key)
                    ON CONFLICT (org_id, lower(name)) WHERE deleted_at IS NULL DO NOTHING
                    RETURNING id, lower(name) AS key
                )
                SELECT p.key, coalesce(e.id, c.id) AS id,
                       CASE WHEN c.id IS NOT NULL THEN 'created'
                            WHEN ch.id IS NOT NULL THEN 'updated'
                            ELSE 'unchanged' END AS outcome
                FROM parts p
                LEFT JOIN existing e ON e.key = p.key
                LEFT JOIN created c ON c.key = p.key
                LEFT JOIN changed ch ON ch.id = e.id
                """
            ),
            params,
        )
        by_key = {row["key"]: row for row in definitions.mappings()}
        items = await self.session.execute(
            text(
                _staged(PART_ROW)
                + """,
                defs AS (
                    SELECT key, id FROM jsonb_to_recordset(CAST(:defs AS jsonb))
                        AS x(key text, id uuid)
                ),
                existing AS (
                    SELECT s.row_number, i.id FROM src s JOIN part_items i
                      ON i.org_id = :org_id AND i.deleted_at IS NULL
                     AND i.serial_number = s.serial_number
                    FOR UPDATE OF i
                ),
                changed AS (
                    UPDATE part_items i
                    SET expiry_date = coalesce(s.expiry_date, i.expiry_date),
                        location = coalesce(s.location, i.location),
                        version = i.version + 1, updated_at = now()
                    FROM src s JOIN existing e ON e.row_number = s.row_number
                    WHERE i.id = e.id
                      AND (i.expiry_date, i.location) IS DISTINCT FROM
                          (coalesce(s.expiry_date, i.expiry_date), coalesce(s.location, i.location))
                    RETURNING i.id
                ),
                created AS (
                    INSERT INTO part_items (org_id, part_definition_id, serial_number, status,
                        expiry_date, location)
                    SELECT :org_id, d.id, s.serial_number, coalesce(s.status, 'in_stock'),
                           s.expiry_date, s.location
                    FROM src s JOIN defs d ON d.key = lower(s.part_name)
                    WHERE NOT EXISTS (SELECT 1 FROM existing e WHERE e.row_number = s.row_number)
                    ORDER BY s.row_number
                    ON CONFLICT (org_id, serial_number) WHERE deleted_at IS NULL DO NOTHING
                    RETURNING id, serial_number
                ),
                outcome AS (
                SELECT s.row_number, coalesce(e.id, c.id) AS entity_id,
                       lower(s.part_name) AS part_key,
                       CASE WHEN c.id IS NOT NULL THEN 'created'
                            WHEN ch.id IS NOT NULL THEN 'updated'
                            ELSE 'unchanged' END AS outcome
                FROM src s
                LEFT JOIN existing e ON e.row_number = s.row_number
                LEFT JOIN created c ON c.serial_number = s.serial_number
                LEFT JOIN changed ch ON ch.id = e.id
                ),
                """
                + _MARK_APPLIED
                + """
                SELECT o.* FROM outcome o ORDER BY o.row_number
                """
            ),
            {
                **params,
                "defs": json.dumps([{"key": k, "id": str(v["id"])} for k, v in by_key.items()]),
            },
        )
        return [
            {
                **row,
                "definition_id": by_key[row["part_key"]]["id"],
                "definition_outcome": by_key[row["part_key"]]["outcome"],
            }
            for row in items.mappings()
        ]
