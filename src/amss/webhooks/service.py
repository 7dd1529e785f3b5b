"""Use cases of webhook subscriptions and deliveries (SPEC §7.2)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from uuid import UUID

from sqlalchemy import insert, select, text, update
from sqlalchemy.engine import RowMapping

from amss.audit import journal
from amss.auth.rules import Caller, authorize
from amss.db.engine import Database
from amss.db.tables import webhook_deliveries, webhooks
from amss.db.uow import UnitOfWork
from amss.events import catalogue
from amss.events.outbox import append_events
from amss.events.queue import defer, delivery_jobs
from amss.kit.errors import Conflict, NotFound, RateLimited, invalid
from amss.kit.pagination import Page
from amss.kit.ratelimit import RateLimiter, rate_limit_rejections_total
from amss.kit.secretbox import SecretBox
from amss.kit.tenancy import act_in
from amss.kit.timefmt import utcnow
from amss.orgs.repository import OrganizationRepository
from amss.webhooks.guard import Resolver, UnsafeDestination, check_destination, system_resolver
from amss.webhooks.repository import DeliveryRepository, WebhookRepository
from amss.webhooks.rules import Secret
from amss.webhooks.schemas import (
    Delivery,
    Queued,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    to_delivery,
)

# POST /webhooks/{id}/test: each one makes a real request to the receiver.
TESTS_PER_MINUTE = 5


@dataclass(frozen=True)
class DestinationPolicy:
    """How webhook URLs are judged in this process (settings, plus a resolver for tests)."""

    allow_private: bool
    production: bool
    resolver: Resolver = system_resolver


async def _webhook(
    uow: UnitOfWork, caller: Caller, webhook_id: UUID, *, for_update: bool = False
) -> RowMapping:
    return await WebhookRepository(uow.session, caller.org_id).get_or_404(
        webhook_id, for_update=for_update
    )


async def _webhook_with_deleted(uow: UnitOfWork, caller: Caller, webhook_id: UUID) -> RowMapping:
    row = await WebhookRepository(uow.session, caller.org_id).get_with_deleted(webhook_id)
    if row is None:
        raise NotFound("webhook not found")
    return row


async def create_webhook(
    uow: UnitOfWork,
    caller: Caller,
    data: WebhookCreate,
    *,
    policy: DestinationPolicy,
    box: SecretBox,
) -> WebhookCreated:
    """The new subscription with its signing secret: the only time the secret is shown."""
    caller = await act_in(uow, caller, data.org_id)
    authorize(caller, "webhooks.write")
    try:
        await check_destination(
            data.url,
            allow_private=policy.allow_private,
            production=policy.production,
            resolver=policy.resolver,
        )
    except UnsafeDestination as problem:
        raise invalid("url", str(problem)) from None
    # The policy row is locked so two concurrent creations cannot both pass the quota.
    org_policy = await OrganizationRepository(uow.session).policy(caller.org_id, for_update=True)
    repo = WebhookRepository(uow.session, caller.org_id)
    limit = int(org_policy["max_webhooks"]) if org_policy is not None else 0
    existing = await repo.count_live()
    if existing >= limit:
        raise Conflict(
            f"the organization has {existing} webhooks and its policy allows {limit} "
            "(max_webhooks, set by an admin); delete one first"
        )
    secret = Secret.new()
    row = await repo.insert(
        url=data.url,
        events=data.events,
        secret_ciphertext=box.encrypt(secret.hex),
        created_by=caller.user_id,
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
    return WebhookCreated.model_validate(
        {**dict(row), "secret": secret.hex, "secret_standard": secret.standard}
    )


async def get_webhook(uow: UnitOfWork, caller: Caller, webhook_id: UUID) -> Webhook:
    """A webhook, also once deleted (``active: false``)."""
    row = await _webhook_with_deleted(uow, caller, webhook_id)
    authorize(caller, "webhooks.read")
    return Webhook.model_validate(dict(row))


async def list_webhooks(uow: UnitOfWork, caller: Caller, page: Page) -> tuple[list[Webhook], int]:
    authorize(caller, "webhooks.read")
    rows, total = await WebhookRepository(uow.session, caller.org_id).list_page(page)
    return [Webhook.model_validate(dict(row)) for row in rows], total


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


async def send_test(
    uow: UnitOfWork, caller: Caller, webhook_id: UUID, *, limiter: RateLimiter
) -> Queued:
    """A ``webhook.test`` event for this subscription only; repeatable, a few a minute."""
    hook = await _webhook_with_deleted(uow, caller, webhook_id)
    authorize(caller, "webhooks.write")
    if not hook["active"] or hook["deleted_at"] is not None:
        raise Conflict("the webhook is deleted; it cannot be tested")
    decision = await limiter.hit(f"webhook-test:{webhook_id}", TESTS_PER_MINUTE)
    if not decision.allowed:
        rate_limit_rejections_total.labels(scope="webhook_test").inc()
        raise RateLimited(
            f"at most {TESTS_PER_MINUTE} test deliveries per minute to one webhook",
            headers={"Retry-After": decision.headers()["Retry-After"]},
        )
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
    return Queued(delivery_id=delivery_id, status="pending")


async def list_deliveries(
    uow: UnitOfWork, caller: Caller, webhook_id: UUID, page: Page, status: str | None
) -> tuple[list[Delivery], int]:
    await _webhook_with_deleted(uow, caller, webhook_id)
    authorize(caller, "webhooks.read")
    rows, total = await DeliveryRepository(uow.session, caller.org_id).of_webhook(
        webhook_id, page, status
    )
    return [to_delivery(row) for row in rows], total


async def redeliver(uow: UnitOfWork, caller: Caller, webhook_id: UUID, delivery_id: UUID) -> None:
    hook = await _webhook_with_deleted(uow, caller, webhook_id)
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


async def seal_plaintext_secrets(database: Database, box: SecretBox) -> int:
    """Encrypt the secrets of rows written before encryption at rest; how many (idempotent)."""
    async with UnitOfWork(database.session_factory) as uow:
        rows = (
            await uow.session.execute(
                select(webhooks.c.id, webhooks.c.secret)
                .where(webhooks.c.secret.is_not(None))
                .with_for_update(skip_locked=True)
            )
        ).all()
        for webhook_id, plaintext in rows:
            await uow.session.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id)
                .values(secret=None, secret_ciphertext=box.encrypt(plaintext))
            )
        await uow.commit()
    return len(rows)


async def rotate_secrets(database: Database, box: SecretBox) -> int:
    """Re-encrypt every secret with the first key, so older keys can leave SECRETS_KEY."""
    await seal_plaintext_secrets(database, box)
    async with UnitOfWork(database.session_factory) as uow:
        rows = (
            await uow.session.execute(
                text(
                    "SELECT id, secret_ciphertext FROM webhooks"
                    " WHERE secret_ciphertext IS NOT NULL FOR UPDATE"
                )
            )
        ).all()
        for webhook_id, token in rows:
            await uow.session.execute(
                update(webhooks)
                .where(webhooks.c.id == webhook_id)
                .values(secret_ciphertext=box.rotate(token))
            )
        await uow.commit()
    return len(rows)
