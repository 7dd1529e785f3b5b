"""Talking to the API in tests: the SPEC §5 error check, status checks that hand back the
body, and an ``Actor`` that carries one user's bearer token."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

from tests.support.factories import TestUser

API = "/api/v1"

# The code each status carries in the SPEC §5 envelope.
ERROR_CODES = {
    400: "validation",
    401: "auth",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "rate_limited",
    500: "internal",
    503: "unavailable",
}


def assert_error(
    response: httpx.Response,
    status: int,
    code: str | None = None,
    *,
    field: str | None = None,
    contains: str | Iterable[str] = (),
) -> dict[str, Any]:
    """``response`` is a SPEC §5 error: ``status``, a JSON body, its ``code`` (by default
    the one the status carries), a non-empty ``error``, and the ``request_id`` of the
    X-Request-ID header. ``field``: named in ``details`` and in the message. ``contains``:
    text (one or several) the message holds. Returns the body for further checks."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body: dict[str, Any] = response.json()
    assert {"error", "code", "request_id"} <= body.keys(), body
    assert body["code"] == (code or ERROR_CODES[status]), body
    assert body["error"], body
    assert body["request_id"] == response.headers["x-request-id"], body
    if field is not None:
        named = {detail["field"] for detail in body.get("details") or []}
        assert field in named, body
        assert field in body["error"], body
    for needle in [contains] if isinstance(contains, str) else contains:
        assert needle in body["error"], (needle, body)
    return body


def ok(response: httpx.Response, status: int = 200) -> Any:
    """The JSON body of a response that has ``status`` (None when it has no body)."""
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def created(response: httpx.Response) -> dict[str, Any]:
    """The body of a 201."""
    body: dict[str, Any] = ok(response, 201)
    return body


def url(path: str) -> str:
    """A path under /api/v1, unless it already names its own (``/api/…``, ``/health``)."""
    return path if path.startswith(("/api/", "/health", "/metrics")) else API + path


@dataclass(frozen=True)
class Actor:
    """One user talking to the API: every request carries their bearer token (``headers``),
    and paths are relative to /api/v1 (``actor.get("/aircraft")``)."""

    client: httpx.AsyncClient
    headers: dict[str, str]
    user: TestUser | None = None

    async def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Any = None,
        headers: dict[str, str] | None = None,
        files: Any = None,
        data: Any = None,
    ) -> httpx.Response:
        return await self.client.request(
            method,
            url(path),
            json=json,
            params=params,
            headers={**self.headers, **(headers or {})},
            files=files,
            data=data,
        )

    async def get(self, path: str, *, params: Any = None) -> httpx.Response:
        return await self.request("GET", path, params=params)

    async def post(self, path: str, json: Any = None, *, params: Any = None) -> httpx.Response:
        return await self.request("POST", path, json=json, params=params)

    async def patch(self, path: str, json: Any = None, *, params: Any = None) -> httpx.Response:
        return await self.request("PATCH", path, json=json, params=params)

    async def put(self, path: str, json: Any = None, *, params: Any = None) -> httpx.Response:
        return await self.request("PUT", path, json=json, params=params)

    async def delete(self, path: str, *, params: Any = None) -> httpx.Response:
        return await self.request("DELETE", path, params=params)
