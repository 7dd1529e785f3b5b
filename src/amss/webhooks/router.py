"""``/api/v1/webhooks``: subscriptions, test events, delivery history, redelivery."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request, Response

from amss.auth.deps import ActingCallerDep, CallerDep, UowDep
from amss.config import Settings
from amss.kit.http import JSONRoute
from amss.kit.openapi import READ_ERRORS, WRITE_ERRORS
from amss.kit.pagination import PageDep, set_total
from amss.webhooks import service
from amss.webhooks.schemas import (
    Delivery,
    DeliveryStatus,
    Queued,
    Webhook,
    WebhookCreate,
    WebhookCreated,
    to_delivery,
)

router = APIRouter(prefix="/webhooks", tags=["webhooks"], route_class=JSONRoute)


@router.post(
    "",
    status_code=201,
    response_model=WebhookCreated,
    summary="Subscribe a URL to events; the signing secret is shown only here",
    responses=WRITE_ERRORS,
)
async def create_webhook(
    body: WebhookCreate, request: Request, caller: CallerDep, uow: UowDep
) -> WebhookCreated:
    settings: Settings = request.app.state.settings
    row, secret = await service.create_webhook(uow, caller, body, production=settings.is_production)
    return WebhookCreated.model_validate(
        {**dict(row), "secret": secret.hex, "secret_standard": secret.standard}
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
    rows, total = await service.list_webhooks(uow, caller, page)
    set_total(response, total)
    return [Webhook.model_validate(dict(row)) for row in rows]


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
    summary="Send a webhook.test event to this subscription",
    responses=WRITE_ERRORS,
)
async def test_webhook(webhook_id: UUID, caller: ActingCallerDep, uow: UowDep) -> Queued:
    delivery_id = await service.send_test(uow, caller, webhook_id)
    return Queued(delivery_id=delivery_id, status="pending")


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
    rows, total = await service.list_deliveries(uow, caller, webhook_id, page, status)
    set_total(response, total)
    return [to_delivery(row) for row in rows]


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
