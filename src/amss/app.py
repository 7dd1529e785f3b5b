"""create_app(): routers, middleware, error handlers and lifespan of the REST API."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from redis.asyncio import Redis

from amss import __version__
from amss.audit.router import router as audit_router
from amss.auth.router import router as auth_router
from amss.auth.tokens import TokenSigner, signing_keys
from amss.compliance.router import router as compliance_router
from amss.config import Settings
from amss.db.engine import Database
from amss.due.router import router as due_router
from amss.fleet.router import router as fleet_router
from amss.health.router import SWAGGER_ASSETS, metrics_router
from amss.health.router import router as health_router
from amss.imports.router import router as imports_router
from amss.kit.errors import Unauthenticated
from amss.kit.handlers import install_error_handlers
from amss.kit.http import JSON_BODY_LIMIT, BodySizeLimitMiddleware, RequestContextMiddleware
from amss.kit.idempotency import IdempotencyMiddleware, IdempotencyStore
from amss.kit.logging import get_logger
from amss.kit.openapi import build_openapi
from amss.kit.ratelimit import RateLimiter
from amss.kit.secretbox import secret_box
from amss.kit.tracing import instrument_app
from amss.orgs.router import router as orgs_router
from amss.parts.router import router as parts_router
from amss.programs.router import router as programs_router
from amss.reports.router import router as reports_router
from amss.tasks.router import router as tasks_router
from amss.users.router import router as users_router
from amss.webhooks.router import router as webhooks_router

API_PREFIX = "/api/v1"

_log = get_logger(__name__)


def create_app(settings: Settings, database: Database, *, api: bool = True) -> FastAPI:
    """Build the REST application around an already connected database.

    The caller owns the database (and the embedded server behind it); the app owns the
    Redis client it opens for readiness checks. ``api=False`` gives the worker's listener:
    ``/health``, ``/ready`` and ``/metrics`` only.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        redis: Redis | None = None
        if settings.redis_url:
            redis = Redis.from_url(settings.redis_url, socket_connect_timeout=1, socket_timeout=1)
        else:
            _log.info("REDIS_URL not set: rate limits and locks use in-process implementations")
        app.state.redis = redis
        try:
            yield
        finally:
            if redis is not None:
                await redis.aclose()

    app = FastAPI(
        title="AMSS — Aircraft Maintenance Scheduling System",
        version=__version__,
        description=(
            "Multi-tenant maintenance planning: due forecasting by hours, cycles and calendar, "
            "task execution, parts, sign-offs, signed webhooks and a verifiable audit trail. "
            "Every error uses the envelope `{error, code, request_id, details?}`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    signer = TokenSigner(signing_keys(settings), settings.access_token_ttl)
    app.state.settings = settings
    app.state.database = database
    app.state.redis = None
    app.state.signer = signer
    app.state.rate_limiter = RateLimiter(settings.redis_url)
    app.state.secret_box = secret_box(settings)

    install_error_handlers(app)
    app.include_router(health_router)
    for router in (
        ()
        if not api
        else (
            auth_router,
            orgs_router,
            users_router,
            fleet_router,
            due_router,
            programs_router,
            tasks_router,
            parts_router,
            compliance_router,
            imports_router,
            webhooks_router,
            audit_router,
            reports_router,
        )
    ):
        app.include_router(router, prefix=API_PREFIX)
    if settings.prometheus_enabled:
        app.include_router(metrics_router)
    app.mount("/docs/static", StaticFiles(directory=SWAGGER_ASSETS), name="swagger-assets")

    def openapi() -> dict[str, Any]:
        return build_openapi(app)

    app.openapi = openapi  # type: ignore[method-assign]

    def body_limit(path: str) -> int:
        if path.endswith("/imports/csv"):
            return settings.import_max_bytes + 64 * 1024  # multipart framing around the file
        return JSON_BODY_LIMIT

    if settings.cors_allowed_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_allowed_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["X-Request-ID", "X-Total-Count", "Retry-After"],
        )

    async def identify(headers: dict[bytes, bytes]) -> tuple[UUID, UUID] | None:
        scheme, _, token = headers.get(b"authorization", b"").decode("latin-1").partition(" ")
        if scheme.lower() != "bearer":
            return None
        try:
            claims = signer.verify_access(token.strip())
        except Unauthenticated:
            return None
        return claims.org_id, claims.user_id

    app.add_middleware(
        IdempotencyMiddleware,
        store=lambda: IdempotencyStore(app.state.database.session_factory),
        identify=identify,
        prefix=API_PREFIX + "/",
    )
    app.add_middleware(
        BodySizeLimitMiddleware,
        limit_for_path=body_limit,
        # Uploads stream to the route, which authenticates before reading them.
        streamed=lambda path: path.endswith("/imports/csv"),
    )
    # Added last, so outermost: it sees every response, including the ones refused above.
    app.add_middleware(RequestContextMiddleware)
    instrument_app(app, database)
    return app
