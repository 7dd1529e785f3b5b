"""/health, /ready, /metrics, the OpenAPI document and the offline Swagger UI."""

from __future__ import annotations

import re

import httpx
import yaml
from fastapi import APIRouter, FastAPI

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database


async def test_health_is_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_ready_checks_the_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/ready")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ready",
        "checks": {"database": "ok", "redis": "not configured"},
    }


async def test_ready_checks_redis_when_configured(
    settings: Settings, db: Database, redis_url: str
) -> None:
    app = create_app(settings.model_copy(update={"redis_url_raw": redis_url}), db)
    async with ready_client(app) as http:
        response = await http.get("/ready")
    assert response.status_code == 200
    assert response.json()["checks"]["redis"] == "ok"


def ready_client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return _LifespanClient(app, transport)


class _LifespanClient(httpx.AsyncClient):
    def __init__(self, app: FastAPI, transport: httpx.ASGITransport) -> None:
        super().__init__(transport=transport, base_url="http://amss.test")
        self._lifespan = app.router.lifespan_context(app)

    async def __aenter__(self) -> _LifespanClient:
        await self._lifespan.__aenter__()
        await super().__aenter__()
        return self

    async def __aexit__(self, *args: object) -> None:
        await super().__aexit__(*args)  # type: ignore[arg-type]
        await self._lifespan.__aexit__(None, None, None)


async def test_ready_names_each_failing_component(settings: Settings) -> None:
    unreachable_db = Database.connect("postgresql://postgres@127.0.0.1:1/none", pool_size=1)
    broken = settings.model_copy(update={"redis_url_raw": "redis://127.0.0.1:1/0"})
    try:
        async with ready_client(create_app(broken, unreachable_db)) as http:
            response = await http.get("/ready")
    finally:
        await unreachable_db.dispose()
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == "unavailable"
    assert {d["field"] for d in body["details"]} == {"database", "redis"}
    assert "database" in body["error"] and "redis" in body["error"]


async def test_metrics_label_routes_by_template(app: FastAPI) -> None:
    router = APIRouter()

    @router.get("/api/v1/things/{thing_id}")
    async def thing(thing_id: str) -> dict[str, str]:
        return {"id": thing_id}

    app.include_router(router)
    async with ready_client(app) as http:
        await http.get("/api/v1/things/7f1d9a52")
        await http.get("/api/v1/things/0b7e6c11")
        metrics = (await http.get("/metrics")).text
    assert (
        'amss_http_requests_total{method="GET",route="/api/v1/things/{thing_id}",status="200"}'
        in metrics
    )
    assert "7f1d9a52" not in metrics
    assert (
        'amss_http_request_duration_seconds_bucket{le="0.005",route="/api/v1/things/{thing_id}"}'
        in metrics
    )


async def test_metrics_label_api_routes_with_their_full_template(app: FastAPI) -> None:
    """Routers are included under /api/v1: the label carries the prefix too, so a dashboard
    can tell /api/v1/aircraft/{aircraft_id} from any other /{id} route."""
    async with ready_client(app) as http:
        await http.get("/api/v1/aircraft/7f1d9a52-0000-4000-8000-000000000001")
        metrics = (await http.get("/metrics")).text
    assert (
        'amss_http_requests_total{method="GET",route="/api/v1/aircraft/{aircraft_id}",'
        'status="401"}' in metrics
    )
    assert "7f1d9a52" not in metrics


async def test_metrics_can_be_disabled(settings: Settings, db: Database) -> None:
    app = create_app(settings.model_copy(update={"prometheus_enabled": False}), db)
    async with ready_client(app) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_openapi_yaml_is_a_valid_openapi_3_document(client: httpx.AsyncClient) -> None:
    response = await client.get("/openapi.yaml")
    assert response.status_code == 200
    document = yaml.safe_load(response.text)
    assert str(document["openapi"]).startswith("3.")
    assert {"/health", "/ready", "/metrics", "/openapi.yaml", "/docs"} <= set(document["paths"])
    ready = document["paths"]["/ready"]["get"]["responses"]
    assert ready["503"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            assert "422" not in operation["responses"], (path, method)
            assert "500" in operation["responses"], (path, method)
    assert "ErrorEnvelope" in document["components"]["schemas"]
    same = (await client.get("/openapi.json")).json()
    assert same == document


async def test_openapi_passes_the_openapi_validator(client: httpx.AsyncClient) -> None:
    import openapi_spec_validator as validator

    document = yaml.safe_load((await client.get("/openapi.yaml")).text)
    validator.validate(document)


async def test_swagger_ui_loads_nothing_from_the_internet(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    urls = re.findall(r"""(?:src|href|url)\s*[:=]\s*['"]([^'"]+)['"]""", page.text)
    assert urls, "the page references its assets"
    assert not [u for u in urls if u.startswith(("http:", "https:", "//"))]
    assert "validatorUrl" in page.text
    for asset in ("/docs/static/swagger-ui-bundle.js", "/docs/static/swagger-ui.css"):
        served = await client.get(asset)
        assert served.status_code == 200, asset
        assert len(served.content) > 10_000


async def test_cors_is_off_unless_configured(
    client: httpx.AsyncClient, settings: Settings, db: Database
) -> None:
    plain = await client.get("/health", headers={"origin": "https://console.example"})
    assert "access-control-allow-origin" not in plain.headers
    app = create_app(
        settings.model_copy(update={"cors_allowed_origins": ["https://console.example"]}), db
    )
    async with ready_client(app) as http:
        allowed = await http.get("/health", headers={"origin": "https://console.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://console.example"
