"""Use cases of the reports: each authorizes the caller and reads set-based; an export (CSV,
PDF) is audited before its first byte leaves, and a long one streams from a connection of
its own."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.jsonview import Rendered
from amss.db.uow import UnitOfWork
from amss.due.repository import TaskRepository
from amss.due.schemas import DueListItem
from amss.kit.csvsafe import csv_lines
from amss.kit.errors import NotFound
from amss.kit.jsonable import to_jsonable
from amss.kit.pagination import Page
from amss.kit.timefmt import utcnow
from amss.reports import pdf, rules, timeline
from amss.reports.repository import ReportRepository, due_filters
from amss.reports.schemas import (
    ComplianceFilters,
    ComplianceReport,
    ComplianceReportItem,
    DueFilters,
    LastDone,
    NextDue,
    OpenFinding,
    StatusAircraft,
    StatusReport,
    StatusRequirement,
    Summary,
)

SessionFactory = async_sessionmaker[AsyncSession]

# The most rows one timeline draws: a wall chart of more is no longer readable.
TIMELINE_MAX_TASKS = 5000


async def summary(uow: UnitOfWork, caller: Caller) -> Summary:
    authorize(caller, "reports.summary")
    row = await ReportRepository(uow.session, caller.org_id).summary(utcnow())
    return Summary.model_validate(dict(row))


# --- exports -------------------------------------------------------------------------------


async def audit_export(
    uow: UnitOfWork,
    caller: Caller,
    report: str,
    format_: str,
    filters: Mapping[str, object],
    entity_id: UUID | None = None,
) -> None:
    """The export's audit row (SPEC §6.9), committed before the first byte is sent."""
    await journal.record(
        uow,
        caller,
        entity_type="report",
        entity_id=entity_id,
        action="export",
        details={"report": report, "format": format_, "filters": to_jsonable(dict(filters))},
    )
    await uow.commit()


async def _check_filters(repo: ReportRepository, **ids: UUID | None) -> None:
    """A filter naming another organization's (or no) row is a 404, as in a path."""
    tables = {"aircraft_id": ("aircraft", "aircraft"), "task_id": ("maintenance_tasks", "task")}
    for name, row_id in ids.items():
        if row_id is not None and not await repo.exists(tables[name][0], row_id):
            raise NotFound(f"{tables[name][1]} not found")


# --- compliance report ---------------------------------------------------------------------


async def compliance_report(
    uow: UnitOfWork, caller: Caller, filters: ComplianceFilters, page: Page
) -> tuple[ComplianceReport, int]:
    """Counts over every matching item, and one page of the items, newest first."""
    authorize(caller, "reports.read")
    repo = ReportRepository(uow.session, caller.org_id)
    await _check_filters(repo, aircraft_id=filters.aircraft_id, task_id=filters.task_id)
    counts = await repo.compliance_counts(filters)
    rows, total = await repo.compliance_page(filters, page)
    report = ComplianceReport.model_validate(
        {**dict(counts), "items": [ComplianceReportItem.model_validate(dict(r)) for r in rows]}
    )
    return report, total


async def start_compliance_export(
    uow: UnitOfWork, caller: Caller, filters: ComplianceFilters
) -> None:
    """Authorize and audit the export; the rows are streamed afterwards by ``compliance_csv``."""
    authorize(caller, "reports.read")
    repo = ReportRepository(uow.session, caller.org_id)
    await _check_filters(repo, aircraft_id=filters.aircraft_id, task_id=filters.task_id)
    await audit_export(uow, caller, "compliance", "csv", filters.described())


async def compliance_csv(
    session_factory: SessionFactory, org_id: UUID, filters: ComplianceFilters
) -> AsyncIterator[str]:
    """Every matching item as CSV, from a connection of its own (no row cap, flat memory)."""
    yield csv_lines([rules.COMPLIANCE_COLUMNS])
    async with UnitOfWork(session_factory, read_only=True) as uow:
        repo = ReportRepository(uow.session, org_id)
        async for batch in repo.stream_compliance(filters):
            # Descriptions and names are typed by users: every cell is neutralised.
            yield csv_lines(
                [to_jsonable(row[name]) for name in rules.COMPLIANCE_COLUMNS] for row in batch
            )


# --- due lists -----------------------------------------------------------------------------


async def _due_list_access(uow: UnitOfWork, caller: Caller, filters: DueFilters) -> None:
    authorize(caller, "reports.due_list")
    await _check_filters(
        ReportRepository(uow.session, caller.org_id), aircraft_id=filters.aircraft_id
    )


async def due_list(
    uow: UnitOfWork, caller: Caller, filters: DueFilters, page: Page
) -> Rendered[DueListItem]:
    """Open tasks, most urgent first (SPEC §6.3), each with the inputs of its due answer;
    the horizon keeps every task that is not ``ok``."""
    await _due_list_access(uow, caller, filters)
    now = utcnow()
    return await TaskRepository(uow.session, caller.org_id).due_list(
        page, due_filters(filters, now), now
    )


async def start_due_list_export(uow: UnitOfWork, caller: Caller, filters: DueFilters) -> datetime:
    """Authorize and audit the export; returns the moment the list is computed at."""
    await _due_list_access(uow, caller, filters)
    await audit_export(uow, caller, "due_list", "csv", filters.described(), filters.aircraft_id)
    return utcnow()


async def due_list_csv(
    session_factory: SessionFactory, org_id: UUID, filters: DueFilters, now: datetime
) -> AsyncIterator[str]:
    yield csv_lines([rules.DUE_LIST_COLUMNS])
    async with UnitOfWork(session_factory, read_only=True) as uow:
        repo = ReportRepository(uow.session, org_id)
        async for batch in repo.stream_due_list(filters, now):
            yield csv_lines([row[name] for name in rules.DUE_LIST_COLUMNS] for row in batch)


# --- the aircraft's status record ----------------------------------------------------------


async def status_report(uow: UnitOfWork, caller: Caller, aircraft_id: UUID) -> StatusReport:
    """Every applicable requirement of the aircraft with its last done, who certified it and
    what it rests on, its next due and status, and the findings still open: three queries."""
    authorize(caller, "reports.read")
    repo = ReportRepository(uow.session, caller.org_id)
    craft = await repo.aircraft(aircraft_id)
    now = utcnow()
    requirements = []
    for row in await repo.requirements(aircraft_id, now):
        last_done = None
        if row["performed_at"] is not None:
            last_done = LastDone.model_validate({**row, "task_id": row["record_task_id"]})
        next_due = NextDue.model_validate(dict(row)) if row["task_id"] is not None else None
        requirements.append(
            StatusRequirement(
                program_id=row["program_id"],
                name=row["name"],
                ata_chapter=row["ata_chapter"],
                interval=rules.interval_words(
                    row["interval_hours"],
                    row["interval_cycles"],
                    row["interval_days"],
                    row["interval_months"],
                ),
                mandatory=row["mandatory"],
                last_done=last_done,
                next_due=next_due,
            )
        )
    findings = [OpenFinding.model_validate(dict(r)) for r in await repo.open_findings(aircraft_id)]
    return StatusReport(
        generated_at=now,
        aircraft=StatusAircraft.model_validate(dict(craft)),
        requirements=requirements,
        open_findings=findings,
    )


async def status_document(
    uow: UnitOfWork,
    caller: Caller,
    aircraft_id: UUID,
    format_: rules.StatusFormat,
    paper: pdf.Paper,
) -> bytes:
    """The status record as CSV or PDF, audited as an export."""
    report = await status_report(uow, caller, aircraft_id)
    await audit_export(
        uow,
        caller,
        "aircraft_status",
        format_,
        {"aircraft_id": aircraft_id, **({"paper": paper} if format_ == "pdf" else {})},
        aircraft_id,
    )
    if format_ == "pdf":
        return pdf.status_record(report, paper)
    return status_csv(report).encode()


def status_csv(report: StatusReport) -> str:
    """The record's table under a title block of the aircraft and its meters."""
    craft = report.aircraft
    head: list[list[Any]] = [
        ["Aircraft status record"],
        ["Tail number", craft.tail_number],
        ["Model", craft.model],
        ["Serial number", craft.serial_number or ""],
        ["Total time (h)", rules.number(craft.flight_hours_total)],
        ["Total cycles", craft.cycles_total],
        ["Status", craft.status],
        ["Generated at", to_jsonable(report.generated_at)],
        [],
        list(rules.STATUS_COLUMNS),
    ]
    findings: list[list[Any]] = [[], ["Open findings"]]
    findings += [
        [
            rules.day_of(f.sign_off_time),
            f.task_title,
            f.description,
            f.signer_name or "",
            f.certificate_number or "",
        ]
        for f in report.open_findings
    ] or [["none"]]
    return csv_lines([*head, *report.table(), *findings])


# --- the due timeline ----------------------------------------------------------------------


async def due_timeline(uow: UnitOfWork, caller: Caller, filters: DueFilters) -> str:
    """The due list over the horizon drawn as an SVG wall chart."""
    authorize(caller, "reports.read")
    await _check_filters(
        ReportRepository(uow.session, caller.org_id), aircraft_id=filters.aircraft_id
    )
    now = utcnow()
    rendered = await TaskRepository(uow.session, caller.org_id).due_list(
        Page(limit=TIMELINE_MAX_TASKS, offset=0), due_filters(filters, now), now
    )
    return timeline.draw(
        rendered.items,
        now=now,
        days=filters.days or 90,
        shown=len(rendered.items),
        total=rendered.total,
    )
