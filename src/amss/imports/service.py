"""Use cases of imports (SPEC §8): upload, read, and the worker's steps — validate every row
with the API's own rules, then apply the valid ones in batches, each batch one transaction
whose row statuses are the checkpoint a resumed import starts from."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.uow import UnitOfWork
from amss.due import engine, records
from amss.due import rules as due_rules
from amss.events import catalogue
from amss.events.queue import Job, defer
from amss.fleet.repository import METER_SETTINGS
from amss.fleet.schemas import MAX_METER_CYCLES, MAX_METER_HOURS
from amss.fleet.service import MAX_CYCLES_PER_DAY, MAX_HOURS_PER_DAY
from amss.imports import rules
from amss.imports.repository import ImportRepository
from amss.imports.schemas import (
    AircraftRow,
    ComplianceRow,
    Import,
    ImportRow,
    PartRow,
    ProgramRow,
    UtilizationRow,
    check_row,
)
from amss.kit.errors import AppError, NotFound, ValidationFailed
from amss.kit.metrics import imports_rows_total
from amss.kit.pagination import Page
from amss.kit.tenancy import act_in, time_zone_of
from amss.kit.timefmt import local_today, moment_of, utcnow
from amss.parts.service import check_low_stock

# Rows applied per transaction: small enough that a crash loses little work, large enough
# that set-based statements stay cheap per row.
BATCH_SIZE = 10_000
# Rows checked and staged at a time.
VALIDATION_CHUNK = 10_000
IMPORT_QUEUE = "imports"
RUN_IMPORT_TASK = "amss.run_import"
# What the worker can still do something about.
OPEN_STATUSES = ("pending", "validating", "applying")

# Program columns stored as the API stores them (name and applicability handled apart).
PROGRAM_COLUMNS = (
    "interval_hours",
    "interval_cycles",
    "interval_days",
    "interval_months",
    "tolerance_hours",
    "tolerance_cycles",
    "tolerance_days",
    "task_type",
    "ata_chapter",
    "estimated_duration_hours",
    "next_due_basis",
    "mandatory",
)

Staged = tuple[int, dict[str, str], dict[str, Any] | None, str, list[str]]


def run_job(import_id: UUID, org_id: UUID) -> Job:
    """One job per import; its lock keeps two workers from running the same import."""
    return Job(
        IMPORT_QUEUE,
        RUN_IMPORT_TASK,
        {"import_id": str(import_id), "org_id": str(org_id)},
        lock=f"import:{import_id}",
        queueing_lock=f"import:{import_id}",
    )


async def create_import(
    uow: UnitOfWork,
    caller: Caller,
    *,
    import_type: str,
    filename: str | None,
    content: bytes,
    dry_run: bool,
    org_id: UUID | None = None,
) -> Import:
    """Store the upload and defer its processing in the same transaction. Everything that
    makes the file unusable is a 4xx here, before anything is stored."""
    caller = await act_in(uow, caller, org_id)
    authorize(caller, "imports.write")
    kind = rules.check_type(import_type)
    file_format = rules.format_of(filename, content)
    # The header and a first data row are checked now; the rows, by the worker.
    shape = rules.layout(kind, rules.read_sheet(content, file_format))
    repo = ImportRepository(uow.session, caller.org_id)
    row = await repo.insert(
        type=kind,
        dry_run=dry_run,
        format=file_format,
        filename=(filename or "")[:255] or None,
        content=content,
        size_bytes=len(content),
        ignored_columns=shape.ignored,
        created_by=caller.user_id,
    )
    await journal.record(
        uow,
        caller,
        entity_type="import",
        entity_id=row["id"],
        action="create",
        details={
            "new": {
                "type": kind,
                "filename": row["filename"],
                "size_bytes": len(content),
                "dry_run": dry_run,
            }
        },
    )
    await defer(uow.session, [run_job(row["id"], caller.org_id)])
    await uow.commit()
    return await get_import(uow, caller, row["id"])


async def get_import(uow: UnitOfWork, caller: Caller, import_id: UUID) -> Import:
    authorize(caller, "imports.read")
    row = await ImportRepository(uow.session, caller.org_id).listed(import_id)
    if row is None:
        raise NotFound("import not found")
    return Import.of(row)


async def list_imports(
    uow: UnitOfWork, caller: Caller, page: Page, status: str | None
) -> tuple[list[Import], int]:
    authorize(caller, "imports.read")
    rows, total = await ImportRepository(uow.session, caller.org_id).list_page(page, status)
    return [Import.of(row) for row in rows], total


async def list_rows(
    uow: UnitOfWork, caller: Caller, import_id: UUID, page: Page, status: str | None
) -> tuple[list[ImportRow], int]:
    authorize(caller, "imports.read")
    repo = ImportRepository(uow.session, caller.org_id)
    if await repo.listed(import_id) is None:
        raise NotFound("import not found")
    rows, total = await repo.rows_page(import_id, page, status)
    return [ImportRow.model_validate(dict(row)) for row in rows], total


# The worker's steps. Each takes its own unit of work; the job commits between them.


def acting_for(row: RowMapping) -> Caller:
    """The worker acts for the user who uploaded the file (authorized then)."""
    return replace(Caller.system(row["org_id"]), user_id=row["created_by"])


async def claim(uow: UnitOfWork, org_id: UUID, import_id: UUID) -> tuple[str, Caller]:
    """``pending → validating``; the import's status now, and who the worker acts for."""
    repo = ImportRepository(uow.session, org_id)
    row = await repo.get(import_id, for_update=True)
    if row is None:
        return "missing", Caller.system(org_id)
    status = row["status"]
    if status == "pending":
        status = (await repo.set_fields(import_id, status="validating"))["status"]
        await uow.commit()
    return status, acting_for(row)


async def validate(uow: UnitOfWork, caller: Caller, import_id: UUID) -> str:
    """Read the stored file, check every row, stage them all with COPY; ``validating →
    applying`` (``completed`` for a dry run). One transaction: a crash here leaves the
    import ``validating`` with no rows, and the next run starts it again."""
    repo = ImportRepository(uow.session, caller.org_id)
    row = await repo.get(import_id, for_update=True)
    if row is None or row["status"] != "validating":
        return "missing" if row is None else str(row["status"])
    try:
        sheet = rules.read_sheet(bytes(row["content"]), row["format"])
        shape = rules.layout(row["type"], sheet)
        checker = _CHECKERS[row["type"]]
        # Chunk by chunk, so a large file is never held as checked rows all at once; what
        # rows of the file say to each other (duplicates, a day's hours) spans the chunks.
        state: dict[str, Any] = {}
        for chunk in rules.chunks(rules.records(sheet, shape), VALIDATION_CHUNK):
            await repo.stage(import_id, await checker(uow, caller, repo, chunk, state))
    except AppError as error:  # a file that became unreadable after upload (a broken cell)
        await uow.rollback()
        row = await repo.get(import_id, for_update=True)
        assert row is not None
        return await _fail(uow, caller, row, error.message)
    await repo.analyze()
    if row["dry_run"]:
        return await _finish(uow, caller, row)
    await repo.set_fields(import_id, status="applying", **await repo.counts(import_id))
    await uow.commit()
    return "applying"


async def apply_next(
    uow: UnitOfWork, caller: Caller, import_id: UUID, batch_size: int = BATCH_SIZE
) -> str:
    """Apply the next batch of valid rows and mark them applied, in one transaction; with
    none left, complete the import. Returns the status after the step."""
    repo = ImportRepository(uow.session, caller.org_id)
    row = await repo.get(import_id, for_update=True)
    if row is None or row["status"] != "applying":
        return "missing" if row is None else str(row["status"])
    batch = await repo.next_batch(import_id, batch_size, with_data=row["type"] == "compliance")
    if not batch:
        return await _finish(uow, caller, row)
    outcomes = await _APPLIERS[row["type"]](uow, caller, repo, row, batch)
    await repo.set_fields(
        import_id,
        applied=row["applied"] + len(batch),
        unchanged=row["unchanged"]
        + len(batch)
        - sum(1 for *_, outcome in outcomes if outcome != "unchanged"),
    )
    await uow.commit()
    return "applying"


async def fail(uow: UnitOfWork, caller: Caller, import_id: UUID, reason: str) -> str:
    row = await ImportRepository(uow.session, caller.org_id).get(import_id, for_update=True)
    if row is None or row["status"] not in OPEN_STATUSES:
        return "missing" if row is None else str(row["status"])
    return await _fail(uow, caller, row, reason)


async def _fail(uow: UnitOfWork, caller: Caller, row: RowMapping, reason: str) -> str:
    repo = ImportRepository(uow.session, caller.org_id)
    done = await repo.set_fields(row["id"], status="failed", failure=reason, completed_at=utcnow())
    await _announce(uow, caller, done)
    await uow.commit()
    return "failed"


async def _finish(uow: UnitOfWork, caller: Caller, row: RowMapping) -> str:
    repo = ImportRepository(uow.session, caller.org_id)
    counts = await repo.counts(row["id"])
    done = await repo.set_fields(row["id"], status="completed", completed_at=utcnow(), **counts)
    await _announce(uow, caller, done)
    await uow.commit()
    changed = done["applied"] - done["unchanged"]
    for status, rows in {
        "applied": changed,
        "unchanged": done["unchanged"],
        "valid": done["valid"] - done["applied"],
        "invalid": done["invalid"],
    }.items():
        if rows > 0:
            imports_rows_total.labels(type=done["type"], status=status).inc(rows)
    return "completed"


async def _announce(uow: UnitOfWork, caller: Caller, done: RowMapping) -> None:
    await journal.record(
        uow,
        caller,
        entity_type="import",
        entity_id=done["id"],
        action="state_change",
        details={
            "status": done["status"],
            "failure": done["failure"],
            "summary": {
                name: done[name] for name in ("total", "valid", "invalid", "applied", "unchanged")
            },
        },
        events=[
            catalogue.import_completed(
                {
                    "import_id": done["id"],
                    "type": done["type"],
                    "status": done["status"],
                    "total": done["total"],
                    "valid": done["valid"],
                    "invalid": done["invalid"],
                    "applied": done["applied"],
                }
            )
        ],
    )


# Validation, per type: field rules from the API's own models, then the rules that need the
# database, with one look-up per kind of reference for the whole file.

Parsed = Sequence[tuple[int, dict[str, str], dict[str, str]]]
# What the checks of one file carry from chunk to chunk.
State = dict[str, Any]


def _staged(
    number: int, raw: dict[str, str], data: dict[str, Any] | None, errors: list[str]
) -> Staged:
    return (number, raw, None if errors else data, "invalid" if errors else "valid", errors)


async def _check_aircraft(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, parsed: Parsed, state: State
) -> list[Staged]:
    known = await repo.aircraft_by_tail(
        values["tail_number"] for _, _, values in parsed if "tail_number" in values
    )
    repeated = rules.duplicates(
        [(number, values.get("tail_number", "").upper() or None) for number, _, values in parsed],
        state.setdefault("tails", {}),
    )
    staged: list[Staged] = []
    for number, raw, values in parsed:
        model, errors = check_row(AircraftRow, values)
        data: dict[str, Any] | None = None
        if number in repeated:
            errors.append(
                f"tail_number: {values['tail_number']} appears earlier in the file "
                f"(row {repeated[number]})"
            )
        if model is not None:
            data = model.model_dump(mode="json", exclude_unset=True, exclude={"org_id"})
            current = known.get(model.tail_number.upper())
            if current is not None:
                errors.extend(_existing_aircraft_problems(model, values, current))
        staged.append(_staged(number, raw, data, errors))
    return staged


def _existing_aircraft_problems(model: Any, values: dict[str, str], current: Any) -> list[str]:
    """An aircraft already in AMSS changes status only through the API (its airworthiness
    checks), and its meters only through utilization entries."""
    problems = []
    tail = current["tail_number"]
    if "status" in values and model.status != current["status"]:
        problems.append(
            f"status: {tail} is {current['status']} in AMSS; change the status of an existing "
            "aircraft with PATCH /aircraft/{id}"
        )
    if "flight_hours_total" in values and model.flight_hours_total > current["flight_hours_total"]:
        problems.append(
            f"flight_hours_total: {tail} has {current['flight_hours_total']} h in AMSS; the "
            "meters of an existing aircraft move through utilization entries (import its "
            "flight log)"
        )
    if "cycles_total" in values and model.cycles_total > current["cycles_total"]:
        problems.append(
            f"cycles_total: {tail} has {current['cycles_total']} cycles in AMSS; the meters of "
            "an existing aircraft move through utilization entries (import its flight log)"
        )
    return problems


async def _check_utilization(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, parsed: Parsed, state: State
) -> list[Staged]:
    today = local_today(await time_zone_of(uow.session, caller.org_id))
    known = await repo.aircraft_by_tail(
        values["tail_number"] for _, _, values in parsed if "tail_number" in values
    )
    checked: list[tuple[int, dict[str, str], Any, Any, list[str]]] = []
    for number, raw, values in parsed:
        entry, errors = check_row(UtilizationRow, _without(values, "tail_number"))
        craft = known.get(values.get("tail_number", "").upper())
        if "tail_number" not in values:
            errors.insert(0, "tail_number: required")
        elif craft is None:
            errors.insert(
                0, f"tail_number: no aircraft {values['tail_number']} in this organization"
            )
        if entry is not None:
            errors.extend(_flight_problems(entry, today))
        checked.append((number, raw, entry, craft, errors))
    ok = [(c["id"], e.external_id) for _, _, e, c, err in checked if not err]
    recorded = await repo.recorded_external_ids(ok)
    # The day's hours: recorded ones, fetched for days not met before, plus the file's.
    flown: dict[tuple[UUID, date], Decimal] = state.setdefault("flown", {})
    days = [(c["id"], e.flight_date) for _, _, e, c, err in checked if not err]
    flown.update(await repo.flown([day for day in days if day not in flown], METER_SETTINGS))
    seen: dict[tuple[UUID, str], int] = state.setdefault("seen", {})
    added_hours: dict[UUID, Decimal] = state.setdefault("hours", {})
    added_cycles: dict[UUID, int] = state.setdefault("cycles", {})
    staged: list[Staged] = []
    for number, raw, entry, craft, errors in checked:
        data: dict[str, Any] | None = None
        if not errors:
            key = (craft["id"], entry.external_id)
            if key in seen:
                errors.append(
                    f"external_id: {entry.external_id} appears earlier in the file for "
                    f"{craft['tail_number']} (row {seen[key]})"
                )
            seen.setdefault(key, number)
            if not errors and key not in recorded:  # already recorded: adds nothing
                errors.extend(
                    _day_and_meter_problems(entry, craft, flown, added_hours, added_cycles)
                )
            data = {
                "aircraft_id": str(craft["id"]),
                "flight_date": entry.flight_date.isoformat(),
                "flight_hours": str(entry.flight_hours),
                "cycles": entry.cycles,
                "external_id": entry.external_id,
            }
        staged.append(_staged(number, raw, data, errors))
    return staged


def _without(values: dict[str, str], *names: str) -> dict[str, str]:
    return {name: value for name, value in values.items() if name not in names}


def _flight_problems(entry: Any, today: date) -> list[str]:
    """The API's plausibility rules of a flying entry (SPEC §6.1); an import carries no
    corrections, so nothing is negative."""
    problems = []
    if entry.external_id is None:
        problems.append("external_id: required: it keeps a re-imported log from adding twice")
    if entry.flight_date > today:
        problems.append(f"flight_date: {entry.flight_date} is in the future (today is {today})")
    if entry.flight_hours < 0:
        problems.append("flight_hours: must not be negative (corrections go through the API)")
    if entry.cycles < 0:
        problems.append("cycles: must not be negative (corrections go through the API)")
    if entry.cycles > 0 and entry.flight_hours == 0:
        problems.append(f"cycles: {entry.cycles} cycles without flight hours")
    if entry.flight_hours > MAX_HOURS_PER_DAY:
        problems.append(f"flight_hours: more than {MAX_HOURS_PER_DAY} hours in a day")
    if entry.cycles > MAX_CYCLES_PER_DAY:
        problems.append(f"cycles: more than {MAX_CYCLES_PER_DAY} cycles in a day")
    return problems


def _day_and_meter_problems(
    entry: Any,
    craft: Any,
    flown: dict[tuple[UUID, date], Decimal],
    added_hours: dict[UUID, Decimal],
    added_cycles: dict[UUID, int],
) -> list[str]:
    """The day's total (recorded entries and earlier rows of the file) and the meters'
    ceiling; a row that passes is counted for the rows after it."""
    day = (craft["id"], entry.flight_date)
    total = flown.get(day, Decimal(0)) + entry.flight_hours
    if total > MAX_HOURS_PER_DAY:
        return [
            f"flight_hours: {craft['tail_number']} would have {total} flight hours on "
            f"{entry.flight_date} (at most {MAX_HOURS_PER_DAY})"
        ]
    hours = added_hours.get(craft["id"], Decimal(0)) + entry.flight_hours
    cycles = added_cycles.get(craft["id"], 0) + entry.cycles
    if craft["flight_hours_total"] + hours > MAX_METER_HOURS:
        return [f"flight_hours: the hours meter would pass {MAX_METER_HOURS}"]
    if craft["cycles_total"] + cycles > MAX_METER_CYCLES:
        return [f"cycles: the cycles meter would pass {MAX_METER_CYCLES}"]
    flown[day] = total
    added_hours[craft["id"]] = hours
    added_cycles[craft["id"]] = cycles
    return []


async def _check_compliance(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, parsed: Parsed, state: State
) -> list[Staged]:
    where = await time_zone_of(uow.session, caller.org_id)
    now = utcnow()
    known = await repo.aircraft_by_tail(
        values["tail_number"] for _, _, values in parsed if "tail_number" in values
    )
    programs = await repo.programs_named(
        values["program"] for _, _, values in parsed if "program" in values
    )
    seen: dict[tuple[str, str, str], int] = state.setdefault("seen", {})
    staged: list[Staged] = []
    for number, raw, values in parsed:
        record, errors = check_row(ComplianceRow, values)
        data: dict[str, Any] | None = None
        if record is not None:
            craft = known.get(record.tail_number.upper())
            if craft is None:
                errors.append(f"tail_number: no aircraft {record.tail_number} in this organization")
            else:
                program, problem = _program_for(programs, record.program, craft)
                if problem:
                    errors.append(problem)
                else:
                    assert program is not None
                    performed_at = moment_of(record.performed_at, where).astimezone(UTC)
                    try:
                        due_rules.check_anchors(
                            due_rules.AnchorFields(),
                            interval=due_rules.Interval.of(program),
                            at=performed_at,
                            hours=record.performed_hours,
                            cycles=record.performed_cycles,
                            meters=due_rules.Meters(
                                craft["flight_hours_total"], craft["cycles_total"]
                            ),
                            now=now,
                        )
                    except ValidationFailed as error:
                        errors.append(error.message)
                    key = (str(program["id"]), str(craft["id"]), performed_at.isoformat())
                    if not errors and key in seen:
                        errors.append(
                            f"performed_at: {record.program!r} on {craft['tail_number']} at "
                            f"{performed_at.isoformat()} appears earlier in the file "
                            f"(row {seen[key]})"
                        )
                    seen.setdefault(key, number)
                    data = {
                        "program_id": key[0],
                        "aircraft_id": key[1],
                        "performed_at": key[2],
                        "performed_hours": _text(record.performed_hours),
                        "performed_cycles": record.performed_cycles,
                        "reference": record.reference,
                        "certified_by_name": record.certified_by_name,
                        "certificate_number": record.certificate_number,
                        "program": program["name"],
                    }
        staged.append(_staged(number, raw, data, errors))
    return staged


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def _program_for(
    programs: Sequence[RowMapping], name: str, craft: Any
) -> tuple[RowMapping | None, str | None]:
    matching = [
        p
        for p in programs
        if p["name"] == name and due_rules.applies(p, {"id": craft["id"], "model": craft["model"]})
    ]
    if not matching:
        return None, (
            f"program: no maintenance program named {name!r} applies to {craft['tail_number']}"
        )
    if len(matching) > 1:
        return None, (
            f"program: {len(matching)} maintenance programs named {name!r} apply to "
            f"{craft['tail_number']}; give them distinct names"
        )
    return matching[0], None


async def _check_programs(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, parsed: Parsed, state: State
) -> list[Staged]:
    known = await repo.aircraft_by_tail(
        values["tail_number"] for _, _, values in parsed if "tail_number" in values
    )
    keys: list[tuple[int, Any]] = []
    checked: list[tuple[int, dict[str, str], dict[str, Any] | None, list[str]]] = []
    for number, raw, values in parsed:
        program, errors = check_row(ProgramRow, _without(values, "tail_number"))
        data: dict[str, Any] | None = None
        aircraft_id: str | None = None
        if "tail_number" in values:
            craft = known.get(values["tail_number"].upper())
            if "aircraft_model" in values:
                errors.append("tail_number: give aircraft_model or tail_number, not both")
            elif craft is None:
                errors.append(
                    f"tail_number: no aircraft {values['tail_number']} in this organization"
                )
            else:
                aircraft_id = str(craft["id"])
        if program is not None:
            data = {
                **program.model_dump(mode="json", include=set(PROGRAM_COLUMNS), exclude_unset=True),
                "name": program.name,
                "aircraft_id": aircraft_id,
                "aircraft_model": program.aircraft_model,
            }
        keys.append(
            (number, (program.name, aircraft_id, program.aircraft_model) if program else None)
        )
        checked.append((number, raw, data, errors))
    repeated = rules.duplicates(keys, state.setdefault("programs", {}))
    staged: list[Staged] = []
    for number, raw, data, errors in checked:
        if number in repeated:
            errors.append(
                f"name: the same program (name and applicability) appears earlier in the "
                f"file (row {repeated[number]})"
            )
        staged.append(_staged(number, raw, data, errors))
    return staged


async def _check_parts(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, parsed: Parsed, state: State
) -> list[Staged]:
    today = local_today(await time_zone_of(uow.session, caller.org_id))
    known = await repo.items_by_serial(
        values["serial_number"] for _, _, values in parsed if "serial_number" in values
    )
    repeated = rules.duplicates(
        [(number, values.get("serial_number") or None) for number, _, values in parsed],
        state.setdefault("serials", {}),
    )
    # The first row giving a detail of a part fixes it; a later row saying otherwise is wrong.
    details: dict[str, dict[str, tuple[Any, int]]] = state.setdefault("details", {})
    staged: list[Staged] = []
    for number, raw, values in parsed:
        line, errors = check_row(PartRow, values)
        data: dict[str, Any] | None = None
        if number in repeated:
            errors.append(
                f"serial_number: {values['serial_number']} appears earlier in the file "
                f"(row {repeated[number]})"
            )
        if line is not None:
            data = line.model_dump(mode="json", exclude_unset=True)
            errors.extend(_part_problems(line, known.get(line.serial_number), today))
            given = details.setdefault(line.part_name.lower(), {})
            for name in ("part_number", "category", "min_stock"):
                value = getattr(line, name)
                if value is None:
                    continue
                first = given.setdefault(name, (value, number))
                if first[0] != value:
                    errors.append(
                        f"{name}: {value} differs from row {first[1]} ({first[0]}) for the "
                        f"same part {line.part_name!r}"
                    )
        staged.append(_staged(number, raw, data, errors))
    return staged


def _part_problems(line: Any, current: Any, today: date) -> list[str]:
    """The API's rules: no item enters stock expired; an item keeps its part, and its status
    moves through reservations (used) or PATCH (disposed), not an import."""
    if current is None:
        if line.expiry_date is not None and line.expiry_date < today:
            return [f"expiry_date: {line.expiry_date} is in the past"]
        return []
    problems = []
    if current["part_name"].lower() != line.part_name.lower():
        problems.append(
            f"serial_number: {line.serial_number} is an item of {current['part_name']!r}"
        )
    if line.status is not None and line.status != current["status"]:
        problems.append(
            f"status: {line.serial_number} is {current['status']} in AMSS; change an item's "
            "status with PATCH /part-items/{id}"
        )
    return problems


_CHECKERS = {
    "parts": _check_parts,
    "programs": _check_programs,
    "aircraft": _check_aircraft,
    "utilization": _check_utilization,
    "compliance": _check_compliance,
}


# Applying, per type: one batch, set-based, with one audit row per batch naming what it
# created and changed (compliance records keep their own audit rows, from their one writer).


# What a batch did, row by row; rows left out of it changed nothing.
Outcomes = list[tuple[int, UUID | None, str]]


def _sorted_out(
    outcomes: Sequence[Mapping[Any, Any]],
) -> tuple[Outcomes, list[UUID], list[UUID]]:
    """A batch's outcomes: (row, entity, outcome) per row, the entities created, those
    updated."""
    marked = [(o["row_number"], o["entity_id"], o["outcome"]) for o in outcomes]
    created = [o["entity_id"] for o in outcomes if o["outcome"] == "created"]
    updated = [o["entity_id"] for o in outcomes if o["outcome"] == "updated"]
    return marked, created, updated


async def _apply_aircraft(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, row: RowMapping, batch: Any
) -> Outcomes:
    today = local_today(await time_zone_of(uow.session, caller.org_id))
    numbers = [item["row_number"] for item in batch]
    outcomes = await repo.apply_aircraft(row["id"], numbers, today, caller.user_id)
    marked, created, updated = _sorted_out(outcomes)
    await _audit_batch(uow, caller, row, numbers, created, updated)
    if created or updated:
        # No observed rates to refresh: a new aircraft's only entry is its initial meters,
        # which never count as flying (SPEC §6.1), and an update moves no meter.
        await engine.after_change(
            uow, caller, reason=f"import {row['id']}", aircraft_ids=[*created, *updated]
        )
    return marked


async def _apply_utilization(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, row: RowMapping, batch: Any
) -> Outcomes:
    numbers = [item["row_number"] for item in batch]
    outcomes = await repo.apply_utilization(row["id"], numbers, caller.user_id)
    marked, created, _ = _sorted_out(outcomes)
    await _audit_batch(uow, caller, row, numbers, created, [])
    flown = sorted({o["aircraft_id"] for o in outcomes if o["outcome"] == "created"}, key=str)
    if flown:
        await engine.after_change(
            uow, caller, reason=f"import {row['id']}", aircraft_ids=flown, utilization=True
        )
    return marked


async def _apply_compliance(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, row: RowMapping, batch: Any
) -> Outcomes:
    items = [(item["row_number"], item["data"]) for item in batch]
    held = await repo.recorded_points(
        (data["program_id"], data["aircraft_id"], data["performed_at"]) for _, data in items
    )
    outcomes: list[tuple[int, UUID | None, str]] = []
    new: list[tuple[int, dict[str, Any]]] = []
    for number, data in items:
        key = (data["program_id"], data["aircraft_id"], data["performed_at"])
        if key in held:
            outcomes.append((number, held[key], "unchanged"))
        else:
            new.append((number, data))
    written = await records.write(
        uow,
        caller,
        [
            records.Accomplishment(
                program_id=UUID(data["program_id"]),
                aircraft_id=UUID(data["aircraft_id"]),
                performed_at=datetime.fromisoformat(data["performed_at"]),
                performed_hours=_decimal(data["performed_hours"]),
                performed_cycles=data["performed_cycles"],
                source="import",
                reference=data["reference"],
                certified_by_name=data["certified_by_name"],
                certificate_number=data["certificate_number"],
            )
            for _, data in new
        ],
    )
    by_point = {
        (str(r["program_id"]), str(r["aircraft_id"]), r["performed_at"].isoformat()): r["id"]
        for r in written
    }
    for number, data in new:
        key = (data["program_id"], data["aircraft_id"], data["performed_at"])
        outcomes.append((number, by_point.get(key), "created"))
    await repo.mark_applied(row["id"], outcomes)
    if new:
        await engine.after_change(
            uow,
            caller,
            reason=f"import {row['id']}",
            aircraft_ids=sorted({UUID(data["aircraft_id"]) for _, data in new}, key=str),
            program_ids=sorted({UUID(data["program_id"]) for _, data in new}, key=str),
        )
    return outcomes


def _decimal(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


async def _audit_batch(
    uow: UnitOfWork,
    caller: Caller,
    row: RowMapping,
    numbers: Sequence[int],
    created: Sequence[UUID],
    updated: Sequence[UUID],
) -> None:
    """One audit row per applied batch, with the ids it created and changed."""
    if not created and not updated:
        return
    await journal.record(
        uow,
        caller,
        entity_type="import",
        entity_id=row["id"],
        action="update",
        details={
            "applied": {
                "type": row["type"],
                "rows": [min(numbers), max(numbers)],
                "created": [str(item) for item in created],
                "updated": [str(item) for item in updated],
            }
        },
    )


async def _apply_programs(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, row: RowMapping, batch: Any
) -> Outcomes:
    numbers = [item["row_number"] for item in batch]
    outcomes = await repo.apply_programs(row["id"], numbers)
    marked, created, updated = _sorted_out(outcomes)
    await _audit_batch(uow, caller, row, numbers, created, updated)
    if created or updated:
        # New programs generate their tasks; changed intervals re-limit the open ones.
        await engine.after_change(
            uow, caller, reason=f"import {row['id']}", program_ids=[*created, *updated]
        )
    return marked


async def _apply_parts(
    uow: UnitOfWork, caller: Caller, repo: ImportRepository, row: RowMapping, batch: Any
) -> Outcomes:
    numbers = [item["row_number"] for item in batch]
    outcomes = await repo.apply_parts(row["id"], numbers)
    marked, created, updated = _sorted_out(outcomes)
    definitions = {o["definition_id"]: o["definition_outcome"] for o in outcomes}
    created += [key for key, outcome in definitions.items() if outcome == "created"]
    updated += [key for key, outcome in definitions.items() if outcome == "updated"]
    await _audit_batch(uow, caller, row, numbers, created, updated)
    await check_low_stock(uow, caller, definitions)
    return marked


_APPLIERS = {
    "parts": _apply_parts,
    "programs": _apply_programs,
    "aircraft": _apply_aircraft,
    "utilization": _apply_utilization,
    "compliance": _apply_compliance,
}
