"""Login, refresh-token rotation (with reuse detection) and logout."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Select, insert, select, update
from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.passwords import verify_password
from amss.auth.rules import Caller
from amss.auth.schemas import TokenPair
from amss.auth.tokens import TokenSigner, hash_refresh_token, new_refresh_token
from amss.db.tables import organizations, refresh_tokens, users
from amss.db.uow import UnitOfWork
from amss.kit.errors import FieldProblem, Unauthenticated, ValidationFailed
from amss.kit.logging import get_logger
from amss.kit.timefmt import utcnow

_log = get_logger(__name__)

INVALID_CREDENTIALS = "invalid credentials"


@dataclass(frozen=True)
class ClientInfo:
    request_id: str | None
    ip_address: str | None
    user_agent: str | None


def _caller_for(user: RowMapping, client: ClientInfo) -> Caller:
    return Caller(
        user_id=user["id"],
        org_id=user["org_id"],
        home_org_id=user["org_id"],
        role=user["role"],
        request_id=client.request_id,
        ip_address=client.ip_address,
        user_agent=client.user_agent,
    )


def _live_users() -> Select[Any]:
    return (
        select(users)
        .join(organizations, organizations.c.id == users.c.org_id)
        .where(users.c.deleted_at.is_(None), organizations.c.deleted_at.is_(None))
    )


async def _issue(
    uow: UnitOfWork, signer: TokenSigner, user: RowMapping, family_id: UUID, refresh_ttl: timedelta
) -> TokenPair:
    access, expires_in = signer.issue_access(
        user_id=user["id"], org_id=user["org_id"], role=user["role"]
    )
    refresh, refresh_hash = new_refresh_token()
    await uow.session.execute(
        insert(refresh_tokens).values(
            org_id=user["org_id"],
            user_id=user["id"],
            family_id=family_id,
            token_hash=refresh_hash,
            expires_at=utcnow() + refresh_ttl,
        )
    )
    return TokenPair(access_token=access, refresh_token=refresh, expires_in=expires_in)


async def login(
    uow: UnitOfWork,
    signer: TokenSigner,
    refresh_ttl: timedelta,
    *,
    email: str,
    password: str,
    org_id: UUID | None,
    client: ClientInfo,
) -> TokenPair:
    statement = _live_users().where(users.c.email == email.strip().lower())
    if org_id is not None:
        statement = statement.where(users.c.org_id == org_id)
    candidates = (await uow.session.execute(statement)).mappings().all()
    if not candidates:
        await verify_password(None, password)  # same work as a real check: no timing oracle
        _log.warning("login failed: unknown email", org_id=str(org_id) if org_id else None)
        raise Unauthenticated(INVALID_CREDENTIALS)
    matches = [
        user for user in candidates if await verify_password(user["password_hash"], password)
    ]
    if not matches:
        for user in candidates:
            await _audit_login(uow, user, client, {"result": "failure", "reason": "wrong password"})
        await uow.commit()
        raise Unauthenticated(INVALID_CREDENTIALS)
    if len(matches) > 1:
        raise ValidationFailed(
            "org_id is required: this email belongs to several organizations",
            details=[FieldProblem("org_id", "required for this email")],
        )
    user = matches[0]
    await uow.session.execute(
        update(users).where(users.c.id == user["id"]).values(last_login=utcnow())
    )
    pair = await _issue(uow, signer, user, uuid.uuid4(), refresh_ttl)
    await _audit_login(uow, user, client, {"result": "success"})
    await uow.commit()
    return pair


async def _audit_login(
    uow: UnitOfWork, user: RowMapping, client: ClientInfo, outcome: dict[str, str]
) -> None:
    """Every login attempt on a known account is audited (SPEC §3), as that user."""
    await journal.record(
        uow,
        _caller_for(user, client),
        entity_type="user",
        entity_id=user["id"],
        action="login",
        details=outcome,
    )


async def _revoke_family(uow: UnitOfWork, family_id: UUID) -> None:
    await uow.session.execute(
        update(refresh_tokens)
        .where(refresh_tokens.c.family_id == family_id, refresh_tokens.c.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


async def _end_session(
    uow: UnitOfWork, stored: RowMapping, client: ClientInfo, reason: str
) -> None:
    """Revoke the token's whole family, audited in its owner's name."""
    await _revoke_family(uow, stored["family_id"])
    owner = (
        (await uow.session.execute(select(users).where(users.c.id == stored["user_id"])))
        .mappings()
        .one()
    )
    await journal.record(
        uow,
        _caller_for(owner, client),
        entity_type="session",
        entity_id=stored["family_id"],
        action="delete",
        details={"reason": reason},
    )


async def refresh(
    uow: UnitOfWork, signer: TokenSigner, refresh_ttl: timedelta, *, token: str, client: ClientInfo
) -> TokenPair:
    stored = (
        (
            await uow.session.execute(
                select(refresh_tokens)
                .where(refresh_tokens.c.token_hash == hash_refresh_token(token))
                .with_for_update()
            )
        )
        .mappings()
        .first()
    )
    if stored is None or stored["revoked_at"] is not None:
        raise Unauthenticated("invalid refresh token")
    if stored["used_at"] is not None:
        # A rotated token came back: someone holds a copy. End the whole session family.
        await _end_session(uow, stored, client, "refresh token reused; session family revoked")
        await uow.commit()
        raise Unauthenticated("refresh token already used; all tokens of this session are revoked")
    if stored["expires_at"] <= utcnow():
        raise Unauthenticated("refresh token expired")
    user = (
        (await uow.session.execute(_live_users().where(users.c.id == stored["user_id"])))
        .mappings()
        .first()
    )
    if user is None:
        await _revoke_family(uow, stored["family_id"])
        await uow.commit()
        raise Unauthenticated("invalid refresh token")
    await uow.session.execute(
        update(refresh_tokens).where(refresh_tokens.c.id == stored["id"]).values(used_at=utcnow())
    )
    pair = await _issue(uow, signer, user, stored["family_id"], refresh_ttl)
    await uow.commit()
    return pair


async def logout(uow: UnitOfWork, *, token: str, client: ClientInfo) -> None:
    stored = (
        (
            await uow.session.execute(
                select(refresh_tokens).where(
                    refresh_tokens.c.token_hash == hash_refresh_token(token)
                )
            )
        )
        .mappings()
        .first()
    )
    if stored is None or stored["revoked_at"] is not None:
        return
    await _end_session(uow, stored, client, "logout")
    await uow.commit()
