"""``/api/v1/auth``: login, refresh, logout, me."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from amss.auth import service
from amss.auth.deps import AuthCallerDep, UowDep, request_client_ip
from amss.auth.schemas import LoginRequest, RefreshRequest, TokenPair
from amss.config import Settings
from amss.kit.errors import RateLimited
from amss.kit.http import JSONRoute
from amss.kit.openapi import error_responses
from amss.kit.ratelimit import RateLimiter, rate_limit_rejections_total
from amss.users import service as users_service
from amss.users.schemas import User

router = APIRouter(prefix="/auth", tags=["auth"], route_class=JSONRoute)

LOGIN_PER_IP_PER_MINUTE = 5
LOGIN_PER_EMAIL_PER_MINUTE = 10


def _client(request: Request) -> service.ClientInfo:
    return service.ClientInfo(
        request_id=getattr(request.state, "request_id", None),
        ip_address=request_client_ip(request),
        user_agent=request.headers.get("user-agent"),
    )


async def _limit_login(request: Request, email: str) -> None:
    limiter: RateLimiter = request.app.state.rate_limiter
    checks = (
        ("client IP", f"login-ip:{request_client_ip(request)}", LOGIN_PER_IP_PER_MINUTE),
        ("email", f"login-email:{email.strip().lower()}", LOGIN_PER_EMAIL_PER_MINUTE),
    )
    for scope, key, limit in checks:
        decision = await limiter.hit(key, limit)
        if not decision.allowed:
            rate_limit_rejections_total.labels(scope="login").inc()
            raise RateLimited(
                f"too many login attempts from this {scope}; try again in {decision.reset_after} s",
                headers={"Retry-After": str(max(1, decision.reset_after))},
            )


@router.post(
    "/login",
    response_model=TokenPair,
    summary="Log in with email and password",
    responses=error_responses(401, 429),
)
async def login(body: LoginRequest, request: Request, uow: UowDep) -> TokenPair:
    await _limit_login(request, body.email)
    settings: Settings = request.app.state.settings
    return await service.login(
        uow,
        request.app.state.signer,
        settings.refresh_token_ttl,
        email=body.email,
        password=body.password,
        org_id=body.org_id,
        client=_client(request),
    )


@router.post(
    "/refresh",
    response_model=TokenPair,
    summary="Rotate a refresh token for a new token pair",
    responses=error_responses(401),
)
async def refresh(body: RefreshRequest, request: Request, uow: UowDep) -> TokenPair:
    settings: Settings = request.app.state.settings
    return await service.refresh(
        uow,
        request.app.state.signer,
        settings.refresh_token_ttl,
        token=body.refresh_token,
        client=_client(request),
    )


@router.post(
    "/logout", status_code=204, summary="Revoke a refresh token's session", response_class=Response
)
async def logout(body: RefreshRequest, request: Request, uow: UowDep) -> Response:
    await service.logout(uow, token=body.refresh_token, client=_client(request))
    return Response(status_code=204)


@router.get(
    "/me", response_model=User, summary="The authenticated user", responses=error_responses(401)
)
async def me(caller: AuthCallerDep, uow: UowDep) -> User:
    return await users_service.get_own_user(uow, caller)
