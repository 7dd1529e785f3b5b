"""What every AMSS gRPC call goes through, once: request id, peer address, the caller
(JWT from ``authorization`` metadata, verified and re-read exactly as REST does), the
organization's rate limit, the unit of work, errors mapped to status codes, the access
log line and ``amss_grpc_requests_total{method,code}``.

The servicer reads the unit of work and the caller with :func:`current` and only
translates; the interceptor owns the transaction's lifetime, as REST's dependencies do.
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, cast

import grpc
import structlog
from grpc.aio import ServicerContext

from amss.auth.deps import org_rate_limit, parse_bearer, token_user
from amss.auth.rules import Caller
from amss.auth.tokens import TokenSigner
from amss.config import Settings
from amss.db.engine import Database
from amss.db.uow import UnitOfWork
from amss.grpc.errors import Failure, failure_of
from amss.kit import metrics
from amss.kit.clientip import client_ip
from amss.kit.context import accept_or_generate_request_id
from amss.kit.handlers import is_transient_conflict, sqlstate_of
from amss.kit.logging import get_logger
from amss.kit.ratelimit import RateLimiter

_access_log = get_logger("amss.access")
_error_log = get_logger("amss.error")

SERVICE_PREFIX = "/amss.v1."
# Calls that only read: no transaction, as REST's GET routes.
READ_ONLY_METHODS = frozenset({"/amss.v1.TaskService/ListDueTasks"})

_current: ContextVar[tuple[UnitOfWork, Caller]] = ContextVar("amss_grpc_call")

Unary = Callable[[Any, ServicerContext[Any, Any]], Awaitable[Any]]
Streaming = Callable[[Any, ServicerContext[Any, Any]], AsyncIterator[Any]]


def current() -> tuple[UnitOfWork, Caller]:
    """The unit of work and the authenticated caller of the call being served."""
    return _current.get()


def peer_address(peer: str | None) -> str | None:
    """The IP of a gRPC peer string (``ipv4:10.0.0.7:52100``, ``ipv6:[::1]:52100``)."""
    if not peer:
        return None
    kind, _, rest = peer.partition(":")
    if kind == "ipv6":
        host = rest[1 : rest.index("]")] if rest.startswith("[") else rest.rsplit(":", 1)[0]
    elif kind == "ipv4":
        host = rest.rsplit(":", 1)[0]
    else:
        return None
    try:
        return str(ipaddress.ip_address(host.split("%", 1)[0]))
    except ValueError:
        return None


@dataclass
class _Call:
    method: str
    request_id: str
    metadata: dict[str, str]
    ip_address: str | None
    started: float = field(default_factory=time.perf_counter)
    org_id: str | None = None
    user_id: str | None = None
    metadata_sent: bool = False


class AmssInterceptor(grpc.aio.ServerInterceptor):
    """Wraps the handlers of ``amss.v1`` services; health and reflection pass untouched."""

    def __init__(
        self, settings: Settings, database: Database, signer: TokenSigner, limiter: RateLimiter
    ) -> None:
        self.settings = settings
        self.database = database
        self.signer = signer
        self.limiter = limiter

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or not method.startswith(SERVICE_PREFIX):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary(method, cast(Unary, handler.unary_unary)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._streaming(method, cast(Streaming, handler.unary_stream)),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    # --- the call's frame -----------------------------------------------------------------

    def _begin(self, method: str, context: ServicerContext[Any, Any]) -> _Call:
        metadata = {
            key.lower(): value
            for key, value in (context.invocation_metadata() or ())
            if isinstance(value, str)
        }
        request_id = accept_or_generate_request_id(metadata.get("x-request-id"))
        structlog.contextvars.bind_contextvars(request_id=request_id)
        ip = client_ip(
            peer_address(context.peer()),
            metadata.get("x-forwarded-for"),
            self.settings.trusted_proxies,
        )
        return _Call(method, request_id, metadata, ip)

    def _finish(self, call: _Call, code: grpc.StatusCode) -> None:
        duration = time.perf_counter() - call.started
        metrics.grpc_requests_total.labels(method=call.method, code=code.name).inc()
        _access_log.info(
            "grpc request",
            method=call.method,
            status=code.name,
            duration_ms=round(duration * 1000, 2),
            org_id=call.org_id,
            user_id=call.user_id,
        )
        structlog.contextvars.unbind_contextvars("request_id")

    def _failure(self, call: _Call, error: Exception) -> Failure:
        failure = failure_of(error, call.request_id)
        if not failure.expected:
            _error_log.exception("unhandled error", method=call.method)
        return failure

    @asynccontextmanager
    async def _session(
        self, call: _Call, context: ServicerContext[Any, Any]
    ) -> AsyncIterator[None]:
        """The unit of work and the caller, published to the servicer through ``current``."""
        read_only = call.method in READ_ONLY_METHODS
        factory = self.database.read_session_factory if read_only else self.database.session_factory
        async with UnitOfWork(factory, read_only=read_only) as uow:
            token = parse_bearer(call.metadata.get("authorization", ""))
            user = await token_user(uow, self.signer, token)
            call.org_id, call.user_id = str(user["org_id"]), str(user["id"])
            decision = await org_rate_limit(self.limiter, user)
            if not call.metadata_sent:
                call.metadata_sent = True
                await context.send_initial_metadata(
                    (
                        ("x-request-id", call.request_id),
                        *((k.lower(), v) for k, v in decision.headers().items()),
                    )
                )
            caller = Caller(
                user_id=user["id"],
                org_id=user["org_id"],
                home_org_id=user["org_id"],
                role=user["role"],
                request_id=call.request_id,
                ip_address=call.ip_address,
                user_agent=call.metadata.get("user-agent"),
            )
            reset = _current.set((uow, caller))
            try:
                yield
            finally:
                _current.reset(reset)

    # --- the two kinds of calls AMSS serves ------------------------------------------------

    def _unary(self, method: str, inner: Unary) -> Unary:
        async def behavior(request: Any, context: ServicerContext[Any, Any]) -> Any:
            call = self._begin(method, context)
            code = grpc.StatusCode.OK
            try:
                try:
                    async with self._session(call, context):
                        return await inner(request, context)
                except Exception as error:
                    if not is_transient_conflict(error):
                        raise
                    # A deadlock or serialization failure rolled the transaction back
                    # whole: running the call again is safe. Once, as REST does.
                    _access_log.info(
                        "retrying after a transient conflict", sqlstate=sqlstate_of(error)
                    )
                    async with self._session(call, context):
                        return await inner(request, context)
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                failure = self._failure(call, error)
                code = failure.code
                await context.abort(failure.code, failure.message, failure.trailers)
            finally:
                self._finish(call, code)

        return behavior

    def _streaming(self, method: str, inner: Streaming) -> Streaming:
        async def behavior(request: Any, context: ServicerContext[Any, Any]) -> AsyncIterator[Any]:
            call = self._begin(method, context)
            code = grpc.StatusCode.OK
            try:
                async with self._session(call, context):
                    async for item in inner(request, context):
                        yield item
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as error:
                failure = self._failure(call, error)
                code = failure.code
                await context.abort(failure.code, failure.message, failure.trailers)
            finally:
                self._finish(call, code)

        return behavior
