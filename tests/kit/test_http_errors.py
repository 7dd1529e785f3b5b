"""Every error, whatever its origin, answers with the SPEC §5 envelope and the request id."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, FastAPI
from pydantic import BaseModel, ConfigDict, Field

from amss.kit.errors import Conflict
from amss.kit.http import JSONRoute
from tests.support.api import assert_error

HEX_ID = re.compile(r"^[0-9a-f]{32}$")


class Probe(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    count: int = Field(ge=0)


def probe_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1/probe", route_class=JSONRoute)

    @router.post("", status_code=201)
    async def create(probe: Probe) -> Probe:
        return probe

    @router.get("/{probe_id}")
    async def read(probe_id: int) -> dict[str, int]:
        return {"id": probe_id}

    @router.post("/conflict")
    async def conflict() -> None:
        raise Conflict("aircraft N123AB has 2 tasks in progress and capacity_slots is 2")

    @router.post("/boom")
    async def boom() -> None:
        raise RuntimeError("secret stack detail SELECT * FROM users")

    return router


@pytest.fixture
async def probe_client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app.include_router(probe_router())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://amss.test") as http:
            yield http


async def test_unknown_route_is_a_json_404(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.get("/api/v1/nope"), 404, "not_found")
    assert "/api/v1/nope" in str(body["error"])


async def test_wrong_method_is_a_json_405(client: httpx.AsyncClient) -> None:
    body = assert_error(await client.delete("/health"), 405, "method_not_allowed")
    assert "DELETE" in str(body["error"])


async def test_validation_is_400_with_details(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/probe", json={"name": "", "count": -1, "colour": "red"}
    )
    body = assert_error(response, 400, "validation")
    fields = {d["field"]: d["message"] for d in body["details"]}  # type: ignore[union-attr]
    assert set(fields) == {"name", "count", "colour"}
    assert fields["colour"] == "unknown field"
    assert "greater than or equal to 0" in fields["count"]


async def test_malformed_json_and_wrong_types_are_400(probe_client: httpx.AsyncClient) -> None:
    broken = await probe_client.post(
        "/api/v1/probe", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    assert_error(broken, 400, "validation")
    wrong_type = await probe_client.post("/api/v1/probe", json={"name": "x", "count": "many"})
    body = assert_error(wrong_type, 400, "validation")
    assert body["details"][0]["field"] == "count"  # type: ignore[index]
    bad_path = await probe_client.get("/api/v1/probe/abc")
    assert_error(bad_path, 400, "validation")


async def test_wrong_content_type_is_415(probe_client: httpx.AsyncClient) -> None:
    response = await probe_client.post(
        "/api/v1/probe",
        content=json.dumps({"name": "x", "count": 1}),
        headers={"content-type": "text/plain"},
    )
    body = assert_error(response, 415, "unsupported_media_type")
    assert "application/json" in str(body["error"])
    accepted = await probe_client.post(
        "/api/v1/probe",
        content=json.dumps({"name": "x", "count": 1}),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert accepted.status_code == 201


async def test_oversized_body_is_413(probe_client: httpx.AsyncClient) -> None:
    big = json.dumps({"name": "x" * (1024 * 1024), "count": 1}).encode()
    declared = await probe_client.post(
        "/api/v1/probe", content=big, headers={"content-type": "application/json"}
    )
    assert_error(declared, 413, "payload_too_large")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536

    streamed = await probe_client.post(
        "/api/v1/probe", content=chunks(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in streamed.request.headers
    assert_error(streamed, 413, "payload_too_large")


async def test_domain_conflict_keeps_its_message(probe_client: httpx.AsyncClient) -> None:
    body = assert_error(await probe_client.post("/api/v1/probe/conflict"), 409, "conflict")
    assert body["error"] == "aircraft N123AB has 2 tasks in progress and capacity_slots is 2"


async def test_unhandled_error_is_500_without_trace(
    probe_client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = await probe_client.post("/api/v1/probe/boom", headers={"x-request-id": "req-42"})
    body = assert_error(response, 500, "internal")
    assert body["request_id"] == "req-42"
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert any("unhandled error" in str(r.msg) for r in caplog.records)


async def test_request_id_is_accepted_echoed_or_generated(client: httpx.AsyncClient) -> None:
    kept = await client.get("/health", headers={"x-request-id": "abc-123_XYZ.7"})
    assert kept.headers["x-request-id"] == "abc-123_XYZ.7"
    generated = await client.get("/health")
    assert HEX_ID.match(generated.headers["x-request-id"])
    insane = await client.get("/health", headers={"x-request-id": "bad id with spaces <script>"})
    assert HEX_ID.match(insane.headers["x-request-id"])
    not_found = await client.get("/api/v1/nope", headers={"x-request-id": "trace-1"})
    assert not_found.json()["request_id"] == "trace-1"


async def test_access_log_line_per_request(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="amss.access"):
        await client.get("/health", headers={"x-request-id": "log-me"})
    lines = [r.msg for r in caplog.records if r.name == "amss.access"]
    assert len(lines) == 1
    line = lines[0]
    assert isinstance(line, dict)
    assert line["route"] == "/health"
    assert line["method"] == "GET"
    assert line["status"] == 200
    assert line["request_id"] == "log-me"
    assert line["duration_ms"] >= 0
