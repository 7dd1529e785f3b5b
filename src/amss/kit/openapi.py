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
    _tell_the_truth(schema)
    app.openapi_schema = schema
    return schema


# What the API refuses in any text (kit/http.py): PostgreSQL text cannot hold NUL.
NO_NUL = "^[^\\u0000]*$"


def _tell_the_truth(schema: dict[str, Any]) -> None:
    """Make the document describe what the API really accepts (checked by schemathesis).

    Pydantic documents a decimal as "a number or any string", but meters, rates and limits
    are JSON numbers with bounds a string cannot carry; and free text may hold anything but
    NUL. Only what clients send is rewritten: responses keep their own schemas.
    """
    components = schema.get("components", {}).get("schemas", {})
    sent: list[Any] = []
    for methods in schema.get("paths", {}).values():
        for operation in methods.values():
            sent.extend(
                parameter.get("schema", {}) for parameter in operation.get("parameters", ())
            )
            for media in operation.get("requestBody", {}).get("content", {}).values():
                sent.append(media.get("schema", {}))
    names: set[str] = set()
    pending = list(sent)
    while pending:
        node = pending.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith(_COMPONENT):
                name = ref[len(_COMPONENT) :]
                if name not in names and name in components:
                    names.add(name)
                    pending.append(components[name])
            pending.extend(node.values())
        elif isinstance(node, list):
            pending.extend(node)
    for node in sent:
        _walk(node)
    for name in names:
        _walk(components[name])


_COMPONENT = "#/components/schemas/"


def _walk(node: Any) -> None:
    if isinstance(node, list):
        for item in node:
            _walk(item)
        return
    if not isinstance(node, dict):
        return
    branches = node.get("anyOf")
    if isinstance(branches, list) and any(b.get("type") == "number" for b in branches):
        kept = [b for b in branches if b != {"type": "string"}]
        if len(kept) == 1:
            del node["anyOf"]
            node.update(kept[0])
            if isinstance(node.get("default"), str):  # Decimal("0") was written as "0"
                node["default"] = float(node["default"])
        else:
            node["anyOf"] = kept
    if node.get("type") == "string" and not node.keys() & {"format", "pattern", "enum", "const"}:
        node["pattern"] = NO_NUL
    for value in node.values():
        _walk(value)
