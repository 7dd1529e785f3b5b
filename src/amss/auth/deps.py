"""FastAPI dependencies: the unit of work and the one way to get the caller."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any, TypeVar
from uuid import UUID

from fastapi import Depends, Query, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import bindparam, select
from sqlalchemy.engine import RowMapping

from amss.auth.rules import Caller
from amss.auth.tokens import TokenSigner
from amss.config import Settings
from amss.db.engine import Database
from amss.db.tables import org_policies, organizations, users
from amss.db.uow import UnitOfWork
from amss.kit.clientip import client_ip
from amss.kit.errors import RateLimited, Unauthenticated
from amss.kit.ratelimit import Decision, RateLimiter, rate_limit_rejections_total
from amss.kit.tenancy import act_in

# Reads (GET, HEAD) run without a transaction: no BEGIN or ROLLBACK round trip. A read
# route that also writes (an audited export) says so with ``@writes``.
READ_METHODS = frozenset({"GET", "HEAD"})

Endpoint = TypeVar("Endpoint", bound=Callable[..., Any])


def writes(endpoint: Endpoint) -> Endpoint:
    """Mark a GET route that writes: its unit of work is a transaction like any change's."""
    endpoint.amss_writes = True  # type: ignore[attr-defined]
    return endpoint


def writes_when(exporting: Callable[[Request], bool]) -> Callable[[Endpoint], Endpoint]:
    """Mark a GET route that writes only for some requests (a report audited when exported
    as a file, a plain read as JSON): ``exporting(request)`` says which."""

    def mark(endpoint: Endpoint) -> Endpoint:
        endpoint.amss_writes = exporting  # type: ignore[attr-defined]
        return endpoint

    return mark


def _writes(request: Request) -> bool:
    route = request.scope.get("route")
    marker = getattr(getattr(route, "endpoint", None), "amss_writes", False)
    return bool(marker(request) if callable(marker) else marker)


async def get_uow(request: Request) -> AsyncIterator[UnitOfWork]:
    database: Database = request.app.state.database
    reads_only = request.method in READ_METHODS and not _writes(request)
    if reads_only:
        async with UnitOfWork(database.read_session_factory, read_only=True) as uow:
            yield uow
    else:
        async with UnitOfWork(database.session_factory) as uow:
            yield uow


UowDep = Annotated[UnitOfWork, Depends(get_uow)]


# Declares the bearer scheme on every authenticated operation of the OpenAPI document (the
# Authorize button of /docs, generated clients); the token itself is read by bearer_token so
# that a missing or malformed header gets AMSS's own 401.
_BEARER = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="An access token from `POST /api/v1/auth/login`.",
    auto_error=False,
)
BearerDep = Annotated[HTTPAuthorizationCredentials | None, Security(_BEARER)]


def bearer_token(request: Request) -> str:
    return parse_bearer(request.headers.get("authorization", ""))


def parse_bearer(header: str) -> str:
    """The token of an ``authorization: Bearer …`` header or metadata value; 401 without."""
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated(
            "missing bearer token", headers={"WWW-Authenticate": 'Bearer realm="amss"'}
        )
    return token.strip()


def request_client_ip(request: Request) -> str | None:
    settings: Settings = request.app.state.settings
    peer = request.client.host if request.client else None
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)


# Built once: the caller is re-read on every request.
_CALLER = (
    select(users.c.id, users.c.org_id, users.c.role, org_policies.c.api_rate_limit_per_min)
    .join(organizations, organizations.c.id == users.c.org_id)
    .join(org_policies, org_policies.c.org_id == users.c.org_id)
    .where(
        users.c.id == bindparam("user_id"),
        users.c.deleted_at.is_(None),
        organizations.c.deleted_at.is_(None),
    )
)


async def token_user(uow: UnitOfWork, signer: TokenSigner, token: str) -> RowMapping:
    """Verify an access token and re-read its user (REST and gRPC alike): a deleted user or
    a changed role takes effect at once. The row: ``id``, ``org_id``, ``role`` and the
    organization's ``api_rate_limit_per_min``."""
    claims = signer.verify_access(token)
    row = (await uow.session.execute(_CALLER, {"user_id": claims.user_id})).mappings().first()
    if row is None or row["org_id"] != claims.org_id:
        raise Unauthenticated("the user of this token no longer exists")
    return row


async def org_rate_limit(limiter: RateLimiter, user: RowMapping) -> Decision:
    """Count one request against the organization's limit (SPEC §7.5); 429 past it."""
    decision = await limiter.hit(f"org:{user['org_id']}", int(user["api_rate_limit_per_min"]))
    if not decision.allowed:
        rate_limit_rejections_total.labels(scope="organization").inc()
        raise RateLimited(
            f"rate limit of {decision.limit} requests per minute reached for this organization",
            headers=decision.headers(),
        )
    return decision


async def _authenticate(request: Request, uow: UnitOfWork, *, rate_limit: bool) -> Caller:
    row = await token_user(uow, request.app.state.signer, bearer_token(request))
    request.state.org_id = str(row["org_id"])
    request.state.user_id = str(row["id"])
    if rate_limit:
        decision = await org_rate_limit(request.app.state.rate_limiter, row)
        request.state.response_headers = decision.headers()
    return Caller(
        user_id=row["id"],
        org_id=row["org_id"],
        home_org_id=row["org_id"],
        role=row["role"],
        request_id=getattr(request.state, "request_id", None),
        ip_address=request_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


async def get_caller(request: Request, uow: UowDep, _bearer: BearerDep) -> Caller:
    return await _authenticate(request, uow, rate_limit=True)


async def get_auth_caller(request: Request, uow: UowDep, _bearer: BearerDep) -> Caller:
    """For ``/auth/*``: authenticated, but outside the API rate limit (SPEC §5)."""
    return await _authenticate(request, uow, rate_limit=False)


CallerDep = Annotated[Caller, Depends(get_caller)]
AuthCallerDep = Annotated[Caller, Depends(get_auth_caller)]


async def get_acting_caller(
    caller: CallerDep,
    uow: UowDep,
    org_id: Annotated[
        UUID | None, Query(description="admin only: act in this organization")
    ] = None,
) -> Caller:
    return await act_in(uow, caller, org_id)


ActingCallerDep = Annotated[Caller, Depends(get_acting_caller)]
