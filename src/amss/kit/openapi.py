"""The OpenAPI document: every route with its error responses in the SPEC §5 envelope."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from amss.kit.errors import ErrorEnvelope

ERROR_DESCRIPTIONS = {
    400: "Invalid input (`validation`): the message and `details` name each bad field.",
    401: "Missing, invalid or expired credentials (`auth`).",
    403: "The caller's role may not do this (`forbidden`).",
    404: "No such resource in the caller's organization (`not_found`).",
    405: "The path exists but not with this method.",
    409: "The current state forbids the request (`conflict`).",
    413: "The request body is too large (`payload_too_large`).",
    415: "The body is not `application/json` (`unsupported_media_type`).",
    429: "Too many requests (`rate_limited`); see `Retry-After`.",
    500: "A bug (`internal`); the body carries the request id.",
    503: "A dependency is unavailable (`unavailable`).",
}

# Added to every operation; routers declare the others (401, 403, 404, 409, …) themselves.
ALWAYS = (500,)
WITH_BODY = (400, 413, 415)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for a route: the listed statuses, each with the error envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


# The errors of an ordinary API read and write (each router adds what else it can answer).
READ_ERRORS = error_responses(401, 403, 404, 429)
WRITE_ERRORS = error_responses(401, 403, 404, 409, 429)


def _envelope_response(status: int) -> dict[str, Any]:
    return {
        "description": ERROR_DESCRIPTIONS[status],
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorEnvelope"}}},
    }


def build_openapi(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title,
        version=app.version,
        description=app.description,
        routes=app.routes,
    )
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorEnvelope"] = ErrorEnvelope.model_json_schema(
        ref_template="#/components/schemas/{model}"
    )
    for detail_name, detail_schema in components["ErrorEnvelope"].pop("$defs", {}).items():
        components.setdefault(detail_name, detail_schema)
    for methods in schema.get("paths", {}).values():
        for method, operation in methods.items():
            responses = operation.setdefault("responses", {})
            # FastAPI documents validation as 422; AMSS answers 400 (SPEC §5).
            responses.pop("422", None)
            wanted = list(ALWAYS)
            if method in ("post", "put", "patch") or operation.get("parameters"):
                wanted.append(400)
            if "requestBody" in operation:
                wanted.extend(s for s in WITH_BODY if s != 400)
            for status in wanted:
                responses.setdefault(str(status), _envelope_response(status))
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    app.openapi_schema = schema
    return schema
