"""``/api/v1/imports``: upload a file to import, follow its progress, read its rows."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from amss.auth.deps import ActingCallerDep, UowDep
from amss.config import Settings
from amss.imports import service
from amss.imports.rules import IMPORT_TYPES
from amss.imports.schemas import Import, ImportRow, ImportStatus, RowStatus
from amss.kit.errors import invalid
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, error_responses
from amss.kit.pagination import PageDep, set_total
from amss.kit.uploads import receive_upload

router = APIRouter(prefix="/imports", tags=["imports"], route_class=JSONRoute)

_UPLOAD_BODY = {
    "required": True,
    "content": {
        "multipart/form-data": {
            "schema": {
                "type": "object",
                "required": ["type", "file"],
                "properties": {
                    "type": {"type": "string", "enum": list(IMPORT_TYPES)},
                    "file": {
                        "type": "string",
                        "format": "binary",
                        "description": "CSV (UTF-8, with or without BOM) or XLSX (first sheet)",
                    },
                    "dry_run": {"type": "boolean", "default": False},
                },
            }
        }
    },
}
_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


@router.post(
    "/csv",
    status_code=202,
    response_model=Import,
    summary="Upload a CSV or XLSX file to import; processed by a worker",
    responses=error_responses(401, 403, 404, 429, 503),
    openapi_extra={"requestBody": _UPLOAD_BODY},
)
async def upload(
    request: Request,
    caller: ActingCallerDep,
    uow: UowDep,
) -> Import:
    settings: Settings = request.app.state.settings
    received = await receive_upload(request, max_bytes=settings.import_max_bytes)
    unknown = sorted(set(received.fields) - {"type", "dry_run"})
    if unknown:
        raise invalid(unknown[0], "unknown form field (send type, file and dry_run)")
    if "type" not in received.fields:
        raise invalid("type", f"required: one of {', '.join(IMPORT_TYPES)}")
    if received.content is None:
        raise invalid("file", "required: the CSV or XLSX file to import")
    dry_run = _BOOLEANS.get(received.fields.get("dry_run", "false").strip().lower())
    if dry_run is None:
        raise invalid("dry_run", "must be true or false")
    return await service.create_import(
        uow,
        caller,
        import_type=received.fields["type"].strip(),
        filename=received.filename,
        content=received.content,
        dry_run=dry_run,
    )


@router.get(
    "",
    response_model=list[Import],
    summary="Imports of the organization, newest first",
    responses=READ_ERRORS,
)
async def list_imports(
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    status: Annotated[ImportStatus | None, Query()] = None,
) -> list[Import]:
    items, total = await service.list_imports(uow, caller, page, status)
    set_total(response, total)
    return items


@router.get(
    "/{import_id}",
    response_model=Import,
    summary="An import: its status and summary {total, valid, invalid, applied}",
    responses=READ_ERRORS,
)
async def get_import(import_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Import:
    return await service.get_import(uow, caller, import_id)


@router.get(
    "/{import_id}/rows",
    response_model=list[ImportRow],
    summary="Rows of an import in file order, with their status and errors",
    responses=READ_ERRORS,
)
async def list_rows(
    import_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    status: Annotated[RowStatus | None, Query(description="no filter by default")] = None,
) -> list[ImportRow]:
    items, total = await service.list_rows(uow, caller, import_id, page, status)
    set_total(response, total)
    return items
