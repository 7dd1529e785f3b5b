"""The one helper every mutation calls: audit rows and events, in the change's transaction."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

from sqlalchemy import insert

from amss.auth.rules import Caller
from amss.db.tables import audit_logs
from amss.db.uow import UnitOfWork
from amss.events.catalogue import Event
from amss.events.outbox import append_events
from amss.kit.jsonable import without_secrets

Action = Literal["create", "update", "delete", "state_change", "login", "export"]


@dataclass(frozen=True)
class Entry:
    """One audit row and the events of the same change."""

    entity_type: str
    entity_id: UUID | None
    action: Action
    details: Mapping[str, Any] = field(default_factory=dict)
    entity_version: int | None = None
    events: Sequence[Event] = ()


def _address_or_none(value: str | None) -> str | None:
    """The column is ``inet``: a peer that is not an IP address (a Unix socket) is unknown."""
    if not value:
        return None
    try:
        return str(ipaddress.ip_address(value))
    except ValueError:
        return None


async def record_many(uow: UnitOfWork, caller: Caller, entries: Sequence[Entry]) -> None:
    """Write the audit rows (one statement; the trigger chains them in order) and all their
    events (one statement), in ``uow``'s transaction."""
    if not entries:
        return
    user_agent = (caller.user_agent or "")[:512] or None
    await uow.session.execute(
        insert(audit_logs),
        [
            {
                "org_id": caller.org_id,
                "entity_type": entry.entity_type,
                "entity_id": entry.entity_id,
                "action": entry.action,
                "user_id": caller.user_id,
                "actor": caller.actor,
                "request_id": caller.request_id,
                "ip_address": _address_or_none(caller.ip_address),
                "user_agent": user_agent,
                "entity_version": entry.entity_version,
                "details": without_secrets(entry.details),
                "prev_hash": "",
                "hash": "",
            }
            for entry in entries
        ],
    )
    await append_events(
        uow.session, caller.org_id, [event for entry in entries for event in entry.events]
    )


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
    """One audit row (the trigger chains it) and the change's events."""
    await record_many(
        uow,
        caller,
        [Entry(entity_type, entity_id, action, details or {}, entity_version, tuple(events))],
    )


async def announce(uow: UnitOfWork, caller: Caller, events: Sequence[Event]) -> None:
    """Events of derived state (stock levels, due status) that carry no audit row of their own."""
    await append_events(uow.session, caller.org_id, events)
