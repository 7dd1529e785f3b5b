"""``/health``, ``/ready``, ``/metrics``, ``/openapi.yaml`` and the offline Swagger UI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import fastapi_offline
import yaml
from fastapi import APIRouter, Request, Response
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest
from pydantic import BaseModel

from amss.kit.errors import FieldProblem, Unavailable
from amss.kit.openapi import error_responses

router = APIRouter(tags=["operations"])
metrics_router = APIRouter(tags=["operations"])

SWAGGER_ASSETS = Path(fastapi_offline.__file__).parent / "static"


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready"]
    checks: dict[str, str]


@router.get("/health", response_model=Health, summary="Liveness (no I/O)")
async def health() -> Health:
    return Health(status="ok")


@router.get(
    "/ready",
    response_model=Readiness,
    summary="Readiness: the database, and Redis when configured",
    responses=error_responses(503),
)
async def ready(request: Request) -> Readiness:
    checks: dict[str, str] = {}
    failures: list[FieldProblem] = []
    try:
        await request.app.state.database.ping()
        checks["database"] = "ok"
    except Exception as error:  # any failure means "not ready", never a 500
        failures.append(FieldProblem("database", f"unreachable: {type(error).__name__}"))
    redis = request.app.state.redis
    if redis is None:
        checks["redis"] = "not configured"
    else:
        try:
            await redis.ping()
            checks["redis"] = "ok"
        except Exception as error:
            failures.append(FieldProblem("redis", f"unreachable: {type(error).__name__}"))
    if failures:
        names = ", ".join(f.field for f in failures)
        raise Unavailable(f"not ready: {names} unavailable", details=failures)
    return Readiness(status="ready", checks=checks)


@metrics_router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
async def metrics_endpoint() -> Response:
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)


@router.get("/openapi.yaml", summary="The OpenAPI document as YAML", response_class=Response)
async def openapi_yaml(request: Request) -> Response:
    document: dict[str, Any] = request.app.openapi()
    return Response(
        yaml.safe_dump(document, sort_keys=False, allow_unicode=True),
        media_type="application/yaml",
    )


@router.get("/docs", summary="Swagger UI, served without the internet", response_class=HTMLResponse)
async def swagger_ui() -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json",
        title="AMSS API",
        swagger_js_url="/docs/static/swagger-ui-bundle.js",
        swagger_css_url="/docs/static/swagger-ui.css",
        swagger_favicon_url="/docs/static/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
