"""Maps every error to the SPEC §5 envelope: AppError, validation, unknown routes, methods."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from starlette.exceptions import HTTPException as StarletteHTTPException

from amss.db.constraints import UNIQUE_MESSAGES
from amss.kit.errors import AppError, FieldProblem, error_body

_STATUS_CODES = {
    400: "validation",
    401: "auth",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    503: "unavailable",
}

_SECTIONS = {"body", "query", "path", "header", "cookie"}


def request_id_of(request: Request) -> str:
    return str(getattr(request.state, "request_id", "-"))


def _field_name(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in _SECTIONS:
        parts = parts[1:]
    return ".".join(parts) or "body"


def _describe(item: dict[str, Any]) -> str:
    kind = item.get("type", "")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "json_invalid":
        return "body is not valid JSON: " + str(item.get("ctx", {}).get("error", item["msg"]))
    message = str(item.get("msg", "invalid value"))
    return message.removeprefix("Value error, ")


def validation_problems(errors: list[dict[str, Any]]) -> list[FieldProblem]:
    return [FieldProblem(field=_field_name(e.get("loc", ())), message=_describe(e)) for e in errors]


async def app_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, AppError)
    return JSONResponse(
        error_body(
            message=exc.message,
            code=exc.code,
            request_id=request_id_of(request),
            details=exc.details or None,
        ),
        status_code=exc.status,
        headers=exc.headers or None,
    )


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    problems = validation_problems(list(exc.errors()))
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
    return JSONResponse(
        error_body(
            message=f"invalid request: {summary}",
            code="validation",
            request_id=request_id_of(request),
            details=problems,
        ),
        status_code=400,
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    if status == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse(
        error_body(
            message=message,
            code=_STATUS_CODES.get(status, "internal" if status >= 500 else "validation"),
            request_id=request_id_of(request),
        ),
        status_code=status,
        headers=dict(exc.headers) if exc.headers else None,
    )


async def integrity_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """A unique index caught a race the service's own check could not see: 409, not 500."""
    assert isinstance(exc, IntegrityError)
    diag = getattr(exc.orig, "diag", None)
    sqlstate = getattr(exc.orig, "sqlstate", None)
    constraint = getattr(diag, "constraint_name", None)
    if sqlstate != "23505":
        raise exc
    message = UNIQUE_MESSAGES.get(constraint or "", "a conflicting record already exists")
    return JSONResponse(
        error_body(message=message, code="conflict", request_id=request_id_of(request)),
        status_code=409,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(IntegrityError, integrity_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
