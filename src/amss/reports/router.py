"""``/api/v1/reports/…`` and ``/api/v1/aircraft/{id}/due-list``: the fleet summary, the
compliance report, the due lists, the aircraft status record and the due timeline."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from amss.auth.deps import ActingCallerDep, UowDep, writes_when
from amss.due.rules import DueStatus
from amss.due.schemas import DueListItem
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS
from amss.kit.pagination import PageDep, json_page, set_total
from amss.kit.types import UtcDateTime
from amss.reports import service
from amss.reports.pdf import Paper
from amss.reports.rules import Format, StatusFormat
from amss.reports.schemas import (
    ComplianceFilters,
    ComplianceReport,
    ComplianceResult,
    DueFilters,
    StatusReport,
    Summary,
)

router = APIRouter(tags=["reports"], route_class=JSONRoute)

FormatQuery = Annotated[Format, Query(alias="format", description="json, or csv (streamed)")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON, or with format=csv a CSV with a header row (streamed)",
        "content": {"text/csv": {}},
    },
    **READ_ERRORS,
}


def _exporting(request: Request) -> bool:
    """A report asked for as a file is an export: audited, so its unit of work writes."""
    return request.query_params.get("format", "json") != "json"


def _session_factory(request: Request) -> Any:
    return request.app.state.database.session_factory


def _csv(body: Any, name: str) -> StreamingResponse:
    return StreamingResponse(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
    )


@router.get(
    "/reports/summary",
    response_model=Summary,
    summary="The fleet at a glance: tasks, aircraft, parts and sign-offs counted",
    responses=READ_ERRORS,
)
async def summary(caller: ActingCallerDep, uow: UowDep) -> Summary:
    return await service.summary(uow, caller)


async def compliance_filters(
    aircraft_id: Annotated[UUID | None, Query()] = None,
    task_id: Annotated[UUID | None, Query()] = None,
    result: Annotated[ComplianceResult | None, Query()] = None,
    signed: Annotated[bool | None, Query()] = None,
    from_: Annotated[
        UtcDateTime | None,
        Query(alias="from", description="RFC 3339, inclusive: signed (or created) at or after"),
    ] = None,
    to: Annotated[UtcDateTime | None, Query(description="RFC 3339, exclusive")] = None,
) -> ComplianceFilters:
    return ComplianceFilters(aircraft_id, task_id, result, signed, from_, to)


@router.get(
    "/reports/compliance",
    response_model=ComplianceReport,
    summary="Compliance items counted by result and sign-off, and listed newest first",
    responses=CSV_RESPONSE,
)
@writes_when(_exporting)
async def compliance(
    request: Request,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    filters: Annotated[ComplianceFilters, Depends(compliance_filters)],
    format_: FormatQuery = "json",
) -> Any:
    if format_ == "csv":
        await service.start_compliance_export(uow, caller, filters)
        stream = service.compliance_csv(_session_factory(request), caller.org_id, filters)
        return _csv(stream, "compliance")
    report, total = await service.compliance_report(uow, caller, filters, page)
    set_total(response, total)
    return report


def _due_filters(
    aircraft_id: UUID | None, days: int | None, due_status: DueStatus | None
) -> DueFilters:
    return DueFilters(aircraft_id=aircraft_id, days=days, due_status=due_status)


Days = Annotated[int, Query(ge=0, le=36500, description="horizon in days")]
StatusFilter = Annotated[DueStatus | None, Query(description="only tasks of this due status")]


async def _due_list(
    request: Request,
    caller: Any,
    uow: Any,
    page: Any,
    filters: DueFilters,
    format_: Format,
    name: str,
) -> Response:
    if format_ == "csv":
        now = await service.start_due_list_export(uow, caller, filters)
        stream = service.due_list_csv(_session_factory(request), caller.org_id, filters, now)
        return _csv(stream, name)
    return json_page(await service.due_list(uow, caller, filters, page))


@router.get(
    "/reports/due-list",
    response_model=list[DueListItem],
    summary="Open tasks of the fleet, most urgent first, each with why it is due when it is",
    responses=CSV_RESPONSE,
)
@writes_when(_exporting)
async def due_list(
    request: Request,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    aircraft_id: Annotated[UUID | None, Query()] = None,
    days: Days = 30,
    due_status: StatusFilter = None,
    format_: FormatQuery = "json",
) -> Response:
    filters = _due_filters(aircraft_id, days, due_status)
    return await _due_list(request, caller, uow, page, filters, format_, "due-list")


@router.get(
    "/aircraft/{aircraft_id}/due-list",
    response_model=list[DueListItem],
    summary="Open tasks of this aircraft, most urgent first",
    responses=CSV_RESPONSE,
    tags=["aircraft"],
)
@writes_when(_exporting)
async def aircraft_due_list(
    request: Request,
    aircraft_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    days: Annotated[
        int | None, Query(ge=0, le=36500, description="horizon in days (none by default)")
    ] = None,
    due_status: StatusFilter = None,
    format_: FormatQuery = "json",
) -> Response:
    filters = _due_filters(aircraft_id, days, due_status)
    return await _due_list(request, caller, uow, page, filters, format_, "due-list")


@router.get(
    "/reports/aircraft/{aircraft_id}/status",
    response_model=StatusReport,
    summary="The aircraft's current-status record: every requirement, last done, next due",
    responses={
        200: {
            "description": "JSON; with format=csv a CSV, with format=pdf a PDF document",
            "content": {"text/csv": {}, "application/pdf": {}},
        },
        **READ_ERRORS,
    },
)
@writes_when(_exporting)
async def aircraft_status(
    request: Request,
    aircraft_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    format_: Annotated[
        StatusFormat, Query(alias="format", description="json, csv or pdf")
    ] = "json",
    paper: Annotated[Paper, Query(description="the PDF's paper size")] = "A4",
) -> Any:
    if format_ == "json":
        return await service.status_report(uow, caller, aircraft_id)
    body = await service.status_document(uow, caller, aircraft_id, format_, paper)
    media = "application/pdf" if format_ == "pdf" else "text/csv; charset=utf-8"
    filename = f"aircraft-status-{aircraft_id}.{format_}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get(
    "/reports/due-timeline.svg",
    summary="The due list over the horizon as a picture: a row per aircraft, a mark per task",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "an SVG image"},
        **READ_ERRORS,
    },
)
async def due_timeline(
    caller: ActingCallerDep,
    uow: UowDep,
    aircraft_id: Annotated[UUID | None, Query()] = None,
    days: Annotated[int, Query(ge=1, le=3660, description="horizon in days")] = 90,
    due_status: StatusFilter = None,
) -> Response:
    filters = _due_filters(aircraft_id, days, due_status)
    svg = await service.due_timeline(uow, caller, filters)
    return Response(svg, media_type="image/svg+xml")
