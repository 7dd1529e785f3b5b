"""Use cases of webhook subscriptions and deliveries (SPEC §7.2)."""

from __future__ import annotations

import uuid
from uuid import UUID

from sqlalchemy import insert
from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.tables import webhook_deliveries
from amss.db.uow import UnitOfWork
from amss.events import catalogue
from amss.events.outbox import append_events
from amss.events.queue import defer, delivery_jobs
from amss.kit.errors import Conflict, NotFound, invalid
from amss.kit.pagination import Page
from amss.kit.tenancy import act_in
from amss.kit.timefmt import utcnow
from amss.webhooks.guard import UnsafeDestination, check_destination
from amss.webhooks.repository import DeliveryRepository, WebhookRepository
from amss.webhooks.rules import Secret
from amss.webhooks.schemas import WebhookCreate


async def _webhook(
    uow: UnitOfWork, caller: Caller, webhook_id: UUID, *, for_update: bool = False
) -> RowMapping:
    return await WebhookRepository(uow.session, caller.org_id).get_or_404(
        webhook_id, for_update=for_update
    )


async def create_webhook(
    uow: UnitOfWork, caller: Caller, data: WebhookCreate, *, production: bool
) -> tuple[RowMapping, Secret]:
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "webhooks.write")
    try:
        await check_destination(data.url, production=production)
    except UnsafeDestination as problem:
        raise invalid("url", str(problem)) from None
    secret = Secret.new()
    row = await WebhookRepository(uow.session, caller.org_id).insert(
        url=data.url, events=data.events, secret=secret.hex, created_by=caller.user_id
    )
    await journal.record(
        uow,
        caller,
        entity_type="webhook",
        entity_id=row["id"],
        action="create",
        details={"new": {"url": data.url, "events": data.events}},
        entity_version=row["version"],
    )
    await uow.commit()
    return row, secret


async def list_webhooks(
    uow: UnitOfWork, caller: Caller, page: Page
) -> tuple[list[RowMapping], int]:
    authorize(caller, "webhooks.read")
    return await WebhookRepository(uow.session, caller.org_id).list_page(page)


async def delete_webhook(uow: UnitOfWork, caller: Caller, webhook_id: UUID) -> None:
    current = await _webhook(uow, caller, webhook_id, for_update=True)
    authorize(caller, "webhooks.write")
    row = await WebhookRepository(uow.session, caller.org_id).update(
        webhook_id, active=False, deleted_at=utcnow()
    )
    assert row is not None
    await DeliveryRepository(uow.session, caller.org_id).cancel_open(webhook_id)
    await journal.record(
        uow,
        caller,
        entity_type="webhook",
        entity_id=webhook_id,
        action="delete",
        details={"old": {"url": current["url"], "events": current["events"]}},
        entity_version=row["version"],
    )
    await uow.commit()


async def send_test(uow: UnitOfWork, caller: Caller, webhook_id: UUID) -> UUID:
    """A ``webhook.test`` event for this subscription only; repeatable."""
    hook = await _webhook(uow, caller, webhook_id)
    authorize(caller, "webhooks.write")
    event = catalogue.webhook_test(
        catalogue.WebhookTest(webhook_id=webhook_id, url=hook["url"], message="AMSS webhook test"),
        uuid.uuid4(),
    )
    await append_events(uow.session, caller.org_id, [event], dispatched=True)
    delivery_id = uuid.uuid4()
    await uow.session.execute(
        insert(webhook_deliveries).values(
            id=delivery_id,
            org_id=caller.org_id,
            webhook_id=webhook_id,
            event_id=event.id,
            event_type=event.type,
            status="pending",
            next_attempt_at=utcnow(),
        )
    )
    await journal.record(
        uow,
        caller,
        entity_type="webhook_delivery",
        entity_id=delivery_id,
        action="create",
        details={"new": {"webhook_id": webhook_id, "event_type": event.type}},
    )
    await defer(uow.session, delivery_jobs(webhook_id, [delivery_id]))
    await uow.commit()
    return delivery_id


async def list_deliveries(
    uow: UnitOfWork, caller: Caller, webhook_id: UUID, page: Page, status: str | None
) -> tuple[list[RowMapping], int]:
    await _webhook(uow, caller, webhook_id)
    authorize(caller, "webhooks.read")
    return await DeliveryRepository(uow.session, caller.org_id).of_webhook(webhook_id, page, status)


async def redeliver(uow: UnitOfWork, caller: Caller, webhook_id: UUID, delivery_id: UUID) -> None:
    hook = await _webhook(uow, caller, webhook_id)
    authorize(caller, "webhooks.write")
    repo = DeliveryRepository(uow.session, caller.org_id)
    delivery = await repo.find(webhook_id, delivery_id)
    if delivery is None:
        raise NotFound("delivery not found")
    if not hook["active"]:
        raise Conflict("the webhook is deleted; its deliveries cannot be sent again")
    row = await repo.update(delivery_id, status="pending", next_attempt_at=utcnow())
    assert row is not None
    await journal.record(
        uow,
        caller,
        entity_type="webhook_delivery",
        entity_id=delivery_id,
        action="update",
        details={
            "changes": {"status": {"old": delivery["status"], "new": "pending"}},
            "reason": "redeliver",
        },
    )
    await defer(uow.session, delivery_jobs(webhook_id, [delivery_id]))
    await uow.commit()
