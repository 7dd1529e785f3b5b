"""Maps every error to the SPEC §5 envelope: AppError, validation, routes, database faults."""

from __future__ import annotations

import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from amss.db.constraints import UNIQUE_MESSAGES
from amss.kit.errors import (
    AppError,
    Conflict,
    FieldProblem,
    Unavailable,
    ValidationFailed,
    error_body,
    invalid,
)
from amss.kit.logging import get_logger

_log = get_logger(__name__)

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


def invalid_request(errors: list[dict[str, Any]]) -> ValidationFailed:
    """Pydantic's errors about a request as one 400 (REST bodies and gRPC messages alike)."""
    problems = validation_problems(errors)
    summary = "; ".join(f"{p.field}: {p.message}" for p in problems[:3])
    return ValidationFailed(f"invalid request: {summary}", details=problems)


async def validation_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    served = allowed_methods(request)
    if served and request.method not in served:
        # GET /imports/csv reached GET /imports/{import_id} ("csv" is no id), but the path
        # is POST /imports/csv's: the method is what is wrong.
        return JSONResponse(
            error_body(
                message=f"method {request.method} is not allowed on {request.url.path}",
                code="method_not_allowed",
                request_id=request_id_of(request),
            ),
            status_code=405,
            headers={"Allow": ", ".join(served)},
        )
    error = invalid_request(list(exc.errors()))
    return JSONResponse(
        error_body(
            message=error.message,
            code=error.code,
            request_id=request_id_of(request),
            details=error.details,
        ),
        status_code=400,
    )


async def http_error_handler(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    status = exc.status_code
    headers = dict(exc.headers) if exc.headers else {}
    if status == 404:
        message = f"no route for {request.method} {request.url.path}"
    elif status == 405:
        message = f"method {request.method} is not allowed on {request.url.path}"
        headers = {**headers, "Allow": ", ".join(allowed_methods(request))}
    else:
        message = str(exc.detail)
    return JSONResponse(
        error_body(
            message=message,
            code=_STATUS_CODES.get(status, "internal" if status >= 500 else "validation"),
            request_id=request_id_of(request),
        ),
        status_code=status,
        headers=headers or None,
    )


def allowed_methods(request: Request) -> list[str]:
    """Every method the API serves on this path (RFC 9110 §15.5.6), from its OpenAPI
    document: GET, PATCH and DELETE of one resource are separate routes, and Starlette's
    own 405 named only the methods of the first."""
    index: list[tuple[re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "allowed_methods", None
    )
    if index is None:
        paths = request.app.openapi().get("paths", {})
        # Literal paths first: /aircraft/export is not /aircraft/{aircraft_id}.
        index = [
            (_path_pattern(path), sorted({m.upper() for m in paths[path]} | _implied(paths[path])))
            for path in sorted(paths, key=lambda path: path.count("{"))
        ]
        request.app.state.allowed_methods = index
    path = request.url.path
    return next((methods for pattern, methods in index if pattern.fullmatch(path)), [])


def _path_pattern(template: str) -> re.Pattern[str]:
    literal = re.split(r"\{[^}/]+\}", template)
    return re.compile("[^/]+".join(re.escape(part) for part in literal))


def _implied(item: dict[str, Any]) -> set[str]:
    # Starlette answers HEAD wherever it answers GET.
    return {"HEAD"} if "get" in item else set()


# SQLSTATEs of a transaction that lost a race it could win on a second try.
TRANSIENT_CONFLICTS = frozenset({"40001", "40P01"})  # serialization failure, deadlock
# The server went away, is starting or stopping, or refuses connections for now.
_UNAVAILABLE_STATES = frozenset({"57P01", "57P02", "57P03", "53300", "53400", "58000", "58030"})


def sqlstate_of(error: BaseException) -> str | None:
    state = getattr(getattr(error, "orig", None), "sqlstate", None)
    return state if isinstance(state, str) else None


def is_transient_conflict(error: BaseException) -> bool:
    return isinstance(error, DBAPIError) and sqlstate_of(error) in TRANSIENT_CONFLICTS


def _diag(error: DBAPIError, name: str) -> str | None:
    value = getattr(getattr(error.orig, "diag", None), name, None)
    return value if isinstance(value, str) else None


def _entity(table: str | None) -> str:
    return (table or "record").rstrip("s").replace("_", " ") if table != "aircraft" else "aircraft"


def _check_field(error: DBAPIError) -> str | None:
    """The column a CHECK constraint guards, from PostgreSQL's ``<table>_<column>_check``."""
    constraint, table = _diag(error, "constraint_name"), _diag(error, "table_name")
    if not constraint or not table or not constraint.startswith(table + "_"):
        return None
    field = constraint[len(table) + 1 :].removesuffix("_check")
    return field if field.isidentifier() and not field[-1].isdigit() else None


def database_error(error: BaseException) -> AppError | None:
    """What a database fault means to the client; None when it is a bug (a 500).

    Never SQL, never values: messages come from constraint and table names and from our own
    trigger texts.
    """
    if isinstance(error, PoolTimeout):
        return Unavailable(
            "the server is busy (no database connection free); retry shortly",
            headers={"Retry-After": "1"},
        )
    if not isinstance(error, DBAPIError):
        return None
    state = sqlstate_of(error)
    if state in TRANSIENT_CONFLICTS:
        return Conflict(
            "the change collided with a concurrent change and was not applied; retry it",
            headers={"Retry-After": "1"},
        )
    if state == "23505":
        constraint = _diag(error, "constraint_name") or ""
        return Conflict(UNIQUE_MESSAGES.get(constraint, "a conflicting record already exists"))
    if state == "23503":
        if (_diag(error, "message_primary") or "").startswith("update or delete"):
            return Conflict(
                f"the {_entity(_diag(error, 'table_name'))} is still referenced by other records"
            )
        return Conflict("a record this change refers to does not exist (or was just deleted)")
    if state == "23502":
        column = _diag(error, "column_name")
        return (
            invalid(column, "field required") if column else ValidationFailed("a value is missing")
        )
    if state == "23514":
        field = _check_field(error)
        message = "value is outside what this record allows"
        return invalid(field, message) if field else ValidationFailed(f"a {message}")
    if state == "23P01":
        return Conflict("the change overlaps an existing record")
    if state is not None and state.startswith("22"):
        return ValidationFailed("a value is out of range or malformed for this field")
    if state == "P0001" or (state == "42501" and "PL/pgSQL" in (_diag(error, "context") or "")):
        # A rule enforced by one of our triggers; its message is ours and says what is wrong.
        return Conflict(_diag(error, "message_primary") or "the current state forbids this change")
    if state in ("57014", "55P03"):
        return Unavailable(
            "the database did not answer in time (statement or lock timeout); retry shortly",
            headers={"Retry-After": "2"},
        )
    if (
        error.connection_invalidated
        or isinstance(error, InterfaceError)
        or (state is not None and (state.startswith("08") or state in _UNAVAILABLE_STATES))
        or (isinstance(error, OperationalError) and state is None)
    ):
        return Unavailable(
            "the database is unavailable; retry shortly", headers={"Retry-After": "5"}
        )
    return None


async def database_error_handler(request: Request, exc: Exception) -> JSONResponse:
    """Database faults answer 4xx/503 with the envelope; anything unforeseen stays a 500."""
    mapped = database_error(exc)
    if mapped is None:
        raise exc
    _log.warning(
        "database fault answered",
        status=mapped.status,
        sqlstate=sqlstate_of(exc),
        error=type(exc).__name__,
    )
    return await app_error_handler(request, mapped)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(AppError, app_error_handler)
    app.add_exception_handler(DBAPIError, database_error_handler)
    app.add_exception_handler(PoolTimeout, database_error_handler)
    app.add_exception_handler(RequestValidationError, validation_error_handler)
    app.add_exception_handler(StarletteHTTPException, http_error_handler)
