"""Idempotency keys (SPEC §7.4): a POST/PATCH/DELETE with a key runs at most once.

The key is claimed in its own short transaction before the request runs. The business
transaction seals it (``UnitOfWork.commit`` marks it committed, atomically with the change),
and the response is stored afterwards for byte-identical replays. A process that dies
before its commit leaves an unsealed claim that expires after ``LOCK_SECONDS``; one that
dies between commit and storing the response leaves a sealed claim that is never run again.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import delete, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.sql.elements import ColumnElement
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from amss.db.tables import idempotency_keys
from amss.kit.errors import error_body
from amss.kit.http import send_json
from amss.kit.timefmt import utcnow

KEY_TTL = timedelta(hours=24)
LOCK_SECONDS = 60
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Headers that describe this delivery rather than the stored response.
NOT_REPLAYED = frozenset({"x-request-id", "date", "server", "retry-after", "idempotent-replayed"})


@dataclass
class Claim:
    org_id: UUID
    user_id: UUID
    key: str
    sealed: bool = False


def _the_key(claim: Claim) -> tuple[ColumnElement[bool], ...]:
    """The row of ``claim``: keys are unique per organization and user."""
    return (
        idempotency_keys.c.org_id == claim.org_id,
        idempotency_keys.c.user_id == claim.user_id,
        idempotency_keys.c.key == claim.key,
    )


current_claim: ContextVar[Claim | None] = ContextVar("idempotency_claim", default=None)


async def seal_current_claim(session: AsyncSession) -> Claim | None:
    """Called by the unit of work just before COMMIT: the change and the seal commit together.

    Returns the claim sealed by this call (None when there was nothing to seal).
    """
    claim = current_claim.get()
    if claim is None or claim.sealed:
        return None
    await session.execute(
        update(idempotency_keys)
        .where(
            *_the_key(claim),
            idempotency_keys.c.state == "in_progress",
        )
        .values(state="committed")
    )
    claim.sealed = True
    return claim


# scope["state"] key naming the response fields a replay must not carry (never stored).
_NEVER_REPLAYED = "idempotency_never_replayed"


def never_replay(request: Request, *fields: str) -> None:
    """The response's top-level JSON ``fields`` are shown once: not stored for replays."""
    request.scope.setdefault("state", {})[_NEVER_REPLAYED] = fields


def _without(
    body: bytes, headers: list[list[str]], fields: tuple[str, ...]
) -> tuple[bytes, list[list[str]]]:
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    stripped = (
        json.dumps({k: v for k, v in document.items() if k not in fields}).encode()
        if isinstance(document, dict)
        else b""
    )
    kept = [[name, value] for name, value in headers if name.lower() != "content-length"]
    return stripped, [*kept, ["content-length", str(len(stripped))]]


def valid_key(key: str) -> bool:
    return 1 <= len(key) <= 255 and all(0x20 <= ord(ch) <= 0x7E for ch in key)


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query, body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


Outcome = Literal["owned", "replay", "mismatch", "in_progress", "lost"]

_CLAIM = text(
    """
    INSERT INTO idempotency_keys
        (org_id, user_id, key, fingerprint, state, locked_until, expires_at)
    VALUES (:org_id, :user_id, :key, :fingerprint, 'in_progress',
            now() + make_interval(secs => :lock_seconds),
            now() + make_interval(secs => :ttl_seconds))
    ON CONFLICT (org_id, user_id, key) DO UPDATE
        SET fingerprint = EXCLUDED.fingerprint, state = 'in_progress',
            response_status = NULL, response_headers = NULL, response_body = NULL,
            created_at = now(), locked_until = EXCLUDED.locked_until,
            expires_at = EXCLUDED.expires_at
        WHERE idempotency_keys.expires_at < now()
           OR (idempotency_keys.state = 'in_progress' AND idempotency_keys.locked_until < now())
    RETURNING key
    """
)


class IdempotencyStore:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.session_factory = session_factory

    async def claim(
        self, claim: Claim, request_fingerprint: str
    ) -> tuple[Outcome, dict[str, Any] | None]:
        async with self.session_factory() as session:
            owned = (
                await session.execute(
                    _CLAIM,
                    {
                        "org_id": claim.org_id,
                        "user_id": claim.user_id,
                        "key": claim.key,
                        "fingerprint": request_fingerprint,
                        "lock_seconds": LOCK_SECONDS,
                        "ttl_seconds": int(KEY_TTL.total_seconds()),
                    },
                )
            ).first()
            await session.commit()
            if owned is not None:
                return "owned", None
            row = (
                (
                    await session.execute(
                        select(idempotency_keys).where(
                            *_the_key(claim),
                        )
                    )
                )
                .mappings()
                .first()
            )
        if row is None:  # released between our insert attempt and the read: try once more
            return await self.claim(claim, request_fingerprint)
        if row["fingerprint"] != request_fingerprint:
            return "mismatch", None
        if row["state"] == "completed":
            return "replay", dict(row)
        if row["state"] == "committed":
            return "lost", None
        return "in_progress", None

    async def complete(
        self, claim: Claim, status: int, headers: list[list[str]], body: bytes
    ) -> None:
        async with self.session_factory() as session:
            await session.execute(
                update(idempotency_keys)
                .where(
                    *_the_key(claim),
                )
                .values(
                    state="completed",
                    response_status=status,
                    response_headers=headers,
                    response_body=body,
                    expires_at=utcnow() + KEY_TTL,
                )
            )
            await session.commit()

    async def release(self, claim: Claim) -> None:
        """Forget an unsealed claim (5xx, 429, or a request that changed nothing durable)."""
        async with self.session_factory() as session:
            await session.execute(
                delete(idempotency_keys).where(
                    *_the_key(claim),
                    idempotency_keys.c.state == "in_progress",
                )
            )
            await session.commit()


Identify = Callable[[dict[bytes, bytes]], Awaitable[tuple[UUID, UUID] | None]]


class IdempotencyMiddleware:
    """POST/PUT/PATCH/DELETE under ``/api/v1`` (not ``/auth``) carrying an ``Idempotency-Key``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        store: Callable[[], IdempotencyStore],
        identify: Identify,
        prefix: str = "/api/v1/",
    ) -> None:
        self.app = app
        self.store = store
        self.identify = identify
        self.prefix = prefix

    def _applies(self, scope: Scope) -> bool:
        path: str = scope.get("path", "")
        return (
            scope["type"] == "http"
            and scope.get("method") in MUTATING_METHODS
            and path.startswith(self.prefix)
            and not path.startswith(self.prefix + "auth/")
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self._applies(scope):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        raw_key = headers.get(b"idempotency-key")
        if raw_key is None:
            await self.app(scope, receive, send)
            return
        request_id = scope["state"]["request_id"]
        key = raw_key.decode("latin-1")
        if not valid_key(key):
            await send_json(
                send,
                400,
                error_body(
                    message="Idempotency-Key must be 1-255 printable ASCII characters",
                    code="validation",
                    request_id=request_id,
                ),
                [],
            )
            return
        identity = await self.identify(headers)
        if identity is None:  # not authenticated: the route answers 401, nothing to remember
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        claim = Claim(org_id=identity[0], user_id=identity[1], key=key)
        store = self.store()
        outcome, stored = await store.claim(
            claim, fingerprint(scope["method"], scope["path"], scope.get("query_string", b""), body)
        )
        if outcome == "replay":
            assert stored is not None
            await _replay(send, stored)
            return
        if outcome != "owned":
            message, extra = {
                "mismatch": ("idempotency key reused with a different request", []),
                "in_progress": ("request in progress", [(b"retry-after", b"1")]),
                "lost": (
                    "the request with this idempotency key was executed but its response was not "
                    "recorded; read the resource instead of retrying",
                    [],
                ),
            }[outcome]
            await send_json(
                send,
                409,
                error_body(message=message, code="conflict", request_id=request_id),
                extra,
            )
            return
        await self._run_owned(scope, send, body, claim, store)

    async def _run_owned(
        self, scope: Scope, send: Send, body: bytes, claim: Claim, store: IdempotencyStore
    ) -> None:
        captured: dict[str, Any] = {"status": 500, "headers": [], "body": []}

        async def replay_body() -> Message:
            return {"type": "http.request", "body": body, "more_body": False}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                captured["headers"] = [
                    [name.decode("latin-1"), value.decode("latin-1")]
                    for name, value in message.get("headers", [])
                    if not _is_delivery_header(name.decode("latin-1").lower())
                ]
            elif message["type"] == "http.response.body":
                captured["body"].append(message.get("body", b""))
            await send(message)

        token = current_claim.set(claim)
        try:
            await self.app(scope, replay_body, capture)
        except BaseException:
            if not claim.sealed:
                await store.release(claim)
            raise
        finally:
            current_claim.reset(token)
        status = int(captured["status"])
        if status >= 500 or status == 429:
            if not claim.sealed:
                await store.release(claim)
            return
        body_sent, headers_sent = b"".join(captured["body"]), captured["headers"]
        secret_fields = scope.get("state", {}).get(_NEVER_REPLAYED)
        if secret_fields:
            body_sent, headers_sent = _without(body_sent, headers_sent, tuple(secret_fields))
        await store.complete(claim, status, headers_sent, body_sent)


def _is_delivery_header(name: str) -> bool:
    return name in NOT_REPLAYED or name.startswith(("ratelimit-", "x-ratelimit-"))


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


async def _replay(send: Send, stored: dict[str, Any]) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1"))
        for name, value in stored["response_headers"]
    ]
    headers.append((b"idempotent-replayed", b"true"))
    await send(
        {"type": "http.response.start", "status": stored["response_status"], "headers": headers}
    )
    await send({"type": "http.response.body", "body": bytes(stored["response_body"] or b"")})
