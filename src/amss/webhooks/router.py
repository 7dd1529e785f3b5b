"""``/api/v1/webhooks``: subscriptions, test events, delivery history, redelivery."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.config import Settings
from amss.kit.http import JSONRoute
from amss.kit.idempotency import never_replay
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.webhooks import service
from amss.webhooks.guard import system_resolver
from amss.webhooks.schemas import (
    Delivery,
    DeliveryStatus,
    Queued,
    Webhook,
    WebhookCreate,
    WebhookCreated,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=JSONRoute)


def destination_policy(request: Request) -> service.DestinationPolicy:
    settings: Settings = request.app.state.settings
    return service.DestinationPolicy(
        allow_private=settings.webhook_allow_private,
        production=settings.is_production,
        # Tests map host names of their own here (app.state.webhook_resolver).
        resolver=getattr(request.app.state, "webhook_resolver", None) or system_resolver,
    )


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a URL to events; the signing secret is shown only here",
    description=(
        "At most the organization's `max_webhooks` (default 20). The URL must reach a "
        "globally routable address (private targets only with WEBHOOK_ALLOW_PRIVATE). A "
        "replay of this request under the same Idempotency-Key answers without the secret."
    ),
    responses=WRITE_ERRORS,
)
async def create_webhook(
    body: WebhookCreate, request: Request, caller: CallerDep, uow: UowDep
) -> WebhookCreated:
    # The stored response (for Idempotency-Key replays) must never hold the secret.
    never_replay(request, "secret", "secret_standard")
    return await service.create_webhook(
        uow,
        caller,
        body,
        policy=destination_policy(request),
        box=request.app.state.secret_box,
    )


@router.get(
    "",
    response_model=list[Webhook],
    summary="List webhooks (never their secrets)",
    responses=READ_ERRORS,
)
async def list_webhooks(
    caller: ActingCallerDep, uow: UowDep, page: PageDep, response: Response
) -> list[Webhook]:
    items, total = await service.list_webhooks(uow, caller, page)
    set_total(response, total)
    return items


@router.get(
    "/{webhook_id}",
    response_model=Webhook,
    summary="Read a webhook, also once deleted (active: false)",
    responses=READ_ERRORS,
)
async def get_webhook(webhook_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Webhook:
    return await service.get_webhook(uow, caller, webhook_id)


@router.delete(
    "/{webhook_id}",
    status_code=204,
    response_class=Response,
    summary="Deactivate a webhook (history kept; pending deliveries cancelled)",
    responses=WRITE_ERRORS,
)
async def delete_webhook(webhook_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Response:
    await service.delete_webhook(uow, caller, webhook_id)
    return Response(status_code=204)


@router.post(
    "/{webhook_id}/test",
    status_code=202,
    response_model=Queued,
    summary="Send a webhook.test event to this subscription (a few per minute)",
    responses=WRITE_ERRORS,
)
async def test_webhook(
    webhook_id: UUID, request: Request, caller: ActingCallerDep, uow: UowDep
) -> Queued:
    return await service.send_test(uow, caller, webhook_id, limiter=request.app.state.rate_limiter)


@router.get(
    "/{webhook_id}/deliveries",
    response_model=list[Delivery],
    summary="Deliveries of a webhook, newest first, with every attempt",
    responses=READ_ERRORS,
)
async def list_deliveries(
    webhook_id: UUID,
    caller: ActingCallerDep,
    uow: UowDep,
    page: PageDep,
    response: Response,
    status: Annotated[DeliveryStatus | None, Query()] = None,
) -> list[Delivery]:
    items, total = await service.list_deliveries(uow, caller, webhook_id, page, status)
    set_total(response, total)
    return items


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=202,
    response_model=Queued,
    summary="Queue a delivery again",
    responses=WRITE_ERRORS,
)
async def redeliver(
    webhook_id: UUID, delivery_id: UUID, caller: ActingCallerDep, uow: UowDep
) -> Queued:
    await service.redeliver(uow, caller, webhook_id, delivery_id)
    return Queued(delivery_id=delivery_id, status="pending")
