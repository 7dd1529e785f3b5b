"""HTTP plumbing shared by every router: request context, body limits, JSON-only routes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Coroutine
from contextlib import AsyncExitStack
from typing import Any

import structlog
from fastapi import Request, Response
from fastapi.routing import APIRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amss.kit import metrics
from amss.kit.context import accept_or_generate_request_id
from amss.kit.errors import (
    AppError,
    FieldProblem,
    PayloadTooLarge,
    UnsupportedMediaType,
    ValidationFailed,
    error_body,
)
from amss.kit.handlers import database_error, is_transient_conflict, sqlstate_of
from amss.kit.logging import get_logger

_access_log = get_logger("amss.access")
_error_log = get_logger("amss.error")

JSON_BODY_LIMIT = 1024 * 1024
UNMATCHED_ROUTE = "<unmatched>"


def route_template(scope: Scope) -> str:
    """The route's full path template (``/api/v1/aircraft/{aircraft_id}``), never the raw
    path with ids. FastAPI includes routers lazily: the matched route knows its own path,
    and the router it was included through knows the prefix."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if not isinstance(path, str):
        return UNMATCHED_ROUTE
    included = (scope.get("fastapi") or {}).get("included_router")
    prefix = getattr(getattr(included, "include_context", None), "prefix", "")
    return f"{prefix}{path}" if isinstance(prefix, str) else path


async def send_json(
    send: Send, status: int, body: dict[str, Any], headers: list[tuple[bytes, bytes]]
) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


class RequestContextMiddleware:
    """Outermost layer: request id, access log line, metrics, and the 500 envelope.

    Unhandled exceptions stop here: the client gets the SPEC §5 envelope with the request
    id and no stack trace; the log gets the trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        supplied = headers.get(b"x-request-id")
        request_id = accept_or_generate_request_id(supplied.decode("latin-1") if supplied else None)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status_holder = {"status": 500, "started": False}
        request_id_header = (b"x-request-id", request_id.encode())

        async def send_with_request_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                extra = scope["state"].get("response_headers") or {}
                present = {name.lower() for name, _ in message.get("headers", [])}
                message["headers"] = [
                    *message.get("headers", []),
                    *(
                        (name.lower().encode(), value.encode())
                        for name, value in extra.items()
                        if name.lower().encode() not in present
                    ),
                    request_id_header,
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_request_id)
        except Exception as error:
            # A database fault outside a route (the idempotency store, say) is still a 503.
            mapped = database_error(error)
            if mapped is None and isinstance(error, AppError):
                mapped = error  # raised by a middleware (a streamed body past its limit)
            if mapped is not None and not status_holder["started"]:
                status_holder["status"] = mapped.status
                await send_json(
                    send,
                    mapped.status,
                    error_body(message=mapped.message, code=mapped.code, request_id=request_id),
                    [
                        *((k.lower().encode(), v.encode()) for k, v in mapped.headers.items()),
                        request_id_header,
                    ],
                )
                return
            _error_log.exception("unhandled error", path=scope.get("path"))
            if not status_holder["started"]:
                status_holder["status"] = 500
                await send_json(
                    send,
                    500,
                    error_body(
                        message="internal error; quote the request id when reporting it",
                        code="internal",
                        request_id=request_id,
                    ),
                    [request_id_header],
                )
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope)
            status = int(status_holder["status"])
            method = scope.get("method", "")
            metrics.http_requests_total.labels(route=route, method=method, status=str(status)).inc()
            metrics.http_request_duration_seconds.labels(route=route).observe(duration)
            state = scope.get("state", {})
            _access_log.info(
                "request",
                method=method,
                path=scope.get("path"),
                route=route,
                status=status,
                duration_ms=round(duration * 1000, 2),
                org_id=state.get("org_id"),
                user_id=state.get("user_id"),
            )
            structlog.contextvars.unbind_contextvars("request_id")


class BodySizeLimitMiddleware:
    """Refuse bodies over the limit (413) before the application reads them.

    The declared Content-Length is checked first; chunked bodies are counted as they
    arrive and buffered up to the limit, so an endless body cannot exhaust memory. A
    ``streamed`` path (an upload) is not buffered: the route reads it after authenticating
    the caller, and reading past the limit raises ``PayloadTooLarge`` there.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit_for_path: Callable[[str], int],
        streamed: Callable[[str], bool] = lambda path: False,
    ) -> None:
        self.app = app
        self.limit_for_path = limit_for_path
        self.streamed = streamed

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limit_for_path(scope.get("path", ""))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(scope, send, limit)
            return
        if self.streamed(scope.get("path", "")):
            await self.app(scope, _counting(receive, limit), send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body = message.get("body", b"")
            size += len(body)
            if size > limit:
                await self._refuse(scope, send, limit)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break
        buffered = b"".join(chunks)
        delivered = False

        async def replay() -> Message:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": buffered, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(scope: Scope, send: Send, limit: int) -> None:
        error = PayloadTooLarge(f"request body is larger than {limit} bytes")
        await send_json(
            send,
            error.status,
            error_body(
                message=error.message, code=error.code, request_id=scope["state"]["request_id"]
            ),
            [(b"connection", b"close")],
        )


def _counting(receive: Receive, limit: int) -> Receive:
    """``receive`` that raises ``PayloadTooLarge`` once more than ``limit`` bytes arrived."""
    size = 0

    async def counted() -> Message:
        nonlocal size
        message = await receive()
        size += len(message.get("body", b""))
        if size > limit:
            raise PayloadTooLarge(f"request body is larger than {limit} bytes")
        return message

    return counted


def _is_json_content_type(value: str) -> bool:
    media_type = value.split(";", 1)[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


class JSONRoute(APIRoute):
    """An API route whose JSON body must be sent as JSON: anything else is 415."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        expects_json = self.body_field is not None and not _is_form_body(self)

        async def checked(request: Request) -> Response:
            for name, value in request.query_params.multi_items():
                if "\x00" in value:
                    raise _nul_error(name)
            if expects_json and request.method in ("POST", "PUT", "PATCH"):
                content_type = request.headers.get("content-type", "")
                body = await request.body()
                if body and not _is_json_content_type(content_type):
                    raise UnsupportedMediaType(
                        f"content type {content_type or '(none)'!r} is not supported; "
                        "send application/json"
                    )
                if b"\\u0000" in body.lower():
                    raise _nul_error(_nul_field(body))
            try:
                return await _run_once(handler, request)
            except Exception as error:
                if not is_transient_conflict(error):
                    raise
                # A deadlock or serialization failure: the transaction was rolled back whole
                # (and its dependencies closed), so running the request again is safe. Once.
                _access_log.info("retrying after a transient conflict", sqlstate=sqlstate_of(error))
                return await _run_once(handler, request)

        return checked


async def _run_once(
    handler: Callable[[Request], Coroutine[Any, Any, Response]], request: Request
) -> Response:
    """Run the route with dependencies of its own: closed at once when it fails (so a retry
    starts from a fresh unit of work), after the response is sent when it succeeds."""
    outer = request.scope.get("fastapi_inner_astack")
    if not isinstance(outer, AsyncExitStack):
        return await handler(request)
    own = AsyncExitStack()
    request.scope["fastapi_inner_astack"] = own
    try:
        response = await handler(request)
    except BaseException:
        request.scope["fastapi_inner_astack"] = outer
        await own.aclose()
        raise
    request.scope["fastapi_inner_astack"] = outer
    outer.push_async_callback(own.aclose)
    return response


def _nul_error(field: str) -> ValidationFailed:
    # PostgreSQL text cannot hold NUL; no maintenance record needs one. The name may be a
    # query parameter's, NUL included: the error names it without echoing the NUL.
    field = field.replace("\x00", "\\u0000")
    message = "text may not contain NUL (\\u0000) characters"
    return ValidationFailed(f"{field}: {message}", details=[FieldProblem(field, message)])


def _nul_field(body: bytes) -> str:
    """The dotted path of the first string holding a NUL, for the error message."""
    try:
        document = json.loads(body)
    except ValueError:
        return "body"

    def walk(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return path if "\x00" in value else None
        items = (
            value.items()
            if isinstance(value, dict)
            else enumerate(value)
            if isinstance(value, list)
            else ()
        )
        for key, item in items:
            if isinstance(key, str) and "\x00" in key:
                return path or "body"
            found = walk(item, f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None

    return walk(document, "") or "body"


def _is_form_body(route: APIRoute) -> bool:
    from fastapi import params

    field = route.body_field
    info = getattr(field, "field_info", None)
    return isinstance(info, params.Form | params.File)
