"""The one helper every mutation calls: the audit row and the event, in the change's transaction."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import insert

from amss.auth.rules import Caller
from amss.db.tables import audit_logs
from amss.db.uow import UnitOfWork
from amss.events.outbox import Event, append_event
from amss.kit.jsonable import to_jsonable

Action = Literal["create", "update", "delete", "state_change", "login", "export"]

# Never written to audit details, whatever the entity.
SECRET_FIELDS = frozenset(
    {
        "password",
        "password_hash",
        "secret",
        "secret_standard",
        "token",
        "refresh_token",
        "access_token",
        "token_hash",
        "private_key",
    }
)


def _address_or_none(value: str | None) -> str | None:
    """The column is ``inet``: a peer that is not an IP address (a Unix socket) is unknown."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


def without_secrets(values: Mapping[str, Any]) -> dict[str, Any]:
    return {k: to_jsonable(v) for k, v in values.items() if k not in SECRET_FIELDS}


def changes(
    old: Mapping[Any, Any], new: Mapping[Any, Any], fields: Iterable[str] | None = None
) -> dict[str, dict[str, Any]]:
    """``{field: {"old": …, "new": …}}`` for the fields whose value changed (no secrets)."""
    names = fields if fields is not None else new.keys()
    result: dict[str, dict[str, Any]] = {}
    for name in names:
        if name in SECRET_FIELDS:
            continue
        before, after = to_jsonable(old.get(name)), to_jsonable(new.get(name))
        if before != after:
            result[name] = {"old": before, "new": after}
    return result


async def record(
    uow: UnitOfWork,
    caller: Caller,
    *,
    entity_type: str,
    entity_id: UUID | None,
    action: Action,
    details: Mapping[str, Any] | None = None,
    entity_version: int | None = None,
    events: Iterable[Event] = (),
) -> None:
    """Write one audit row (the trigger chains it) and the events, in ``uow``'s transaction."""
    await uow.session.execute(
        insert(audit_logs).values(
            org_id=caller.org_id,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            user_id=caller.user_id,
            actor=caller.actor,
            request_id=caller.request_id,
            ip_address=_address_or_none(caller.ip_address),
            user_agent=(caller.user_agent or "")[:512] or None,
            entity_version=entity_version,
            details=without_secrets(details or {}),
            prev_hash="",
            hash="",
        )
    )
    for event in events:
        await append_event(uow.session, caller.org_id, event)


async def append_events(uow: UnitOfWork, caller: Caller, events: Iterable[Event]) -> None:
    """Events of derived state (stock levels, due status) that carry no audit row of their own."""
    for event in events:
        await append_event(uow.session, caller.org_id, event)
