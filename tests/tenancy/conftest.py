"""The tenancy tests' world: organization B with one row of everything, and a platform admin
of organization A (certified at home) who may act in B."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from tests.support.api import Actor
from tests.support.factories import (
    TestUser,
    make_aircraft,
    make_compliance_item,
    make_delivery,
    make_event,
    make_import,
    make_part_definition,
    make_part_item,
    make_program,
    make_reservation,
    make_task,
    make_user,
    make_webhook,
)
from tests.support.tenant import Tenant, make_tenant


@dataclass
class Elsewhere:
    """Organization B with one row of everything, and a platform admin of organization A
    (holding a certificate at home) acting in B."""

    admin: Actor
    admin_user: TestUser
    b: UUID
    b_users: dict[str, TestUser]
    a_mechanic: TestUser
    home: Tenant
    b_tenant: Tenant
    ids: dict[str, str] = field(default_factory=dict)

    @property
    def there(self) -> dict[str, str]:
        return {"org_id": str(self.b)}

    async def send(
        self, method: str, path: str, body: dict[str, Any] | None = None
    ) -> httpx.Response:
        """As the admin, in B: ``org_id`` in the body, or the query for bodiless requests."""
        path = path.format(**self.ids)
        if method == "DELETE" or body is None:
            return await self.admin.request(method, path, params=self.there)
        return await self.admin.request(method, path, json={**body, **self.there})


@pytest.fixture
async def elsewhere(
    connection: AsyncConnection, app: FastAPI, client: httpx.AsyncClient
) -> Elsewhere:
    home = await make_tenant(
        connection, app.state.signer, client, roles=["mechanic", "tenant_admin", "viewer"]
    )
    admin_user = await make_user(
        connection, home.id, "admin", certificate_number="A&P 555", authorizations=["A&P", "IA"]
    )
    home.users["admin"] = admin_user
    b = await make_tenant(
        connection,
        app.state.signer,
        client,
        roles={"mechanic": "mechanic", "viewer": "viewer", "auditor": "auditor"},
    )
    craft = await make_aircraft(
        connection, b.id, flight_hours_total=1000, cycles_total=500, capacity_slots=5
    )
    spare_craft = await make_aircraft(connection, b.id)
    program = await make_program(connection, b.id, aircraft_id=craft, interval_hours=100)
    spare_program = await make_program(connection, b.id, aircraft_id=craft, interval_days=30)
    task = await make_task(connection, b.id, craft, title="Scheduled")
    spare_task = await make_task(connection, b.id, craft, title="To delete")
    started = await make_task(connection, b.id, craft, title="Started", state="in_progress")
    finished = await make_task(connection, b.id, craft, title="Paper", state="in_progress")
    definition = await make_part_definition(connection, b.id)
    spare_definition = await make_part_definition(connection, b.id)
    item = await make_part_item(connection, b.id, definition)
    spare_item = await make_part_item(connection, b.id, definition)
    reserved_item = await make_part_item(connection, b.id, definition)
    reservation = await make_reservation(connection, b.id, started, reserved_item)
    compliance = await make_compliance_item(connection, b.id, started, result="pass")
    upload = await make_import(connection, b.id)
    webhook = await make_webhook(connection, b.id)
    spare_webhook = await make_webhook(connection, b.id)
    event = await make_event(connection, b.id)
    delivery = await make_delivery(connection, b.id, webhook, event_id=event, status="failed")
    world = Elsewhere(
        admin=home.as_("admin"),
        admin_user=admin_user,
        b=b.id,
        b_users=b.users,
        a_mechanic=home.users["mechanic"],
        home=home,
        b_tenant=b,
    )
    world.ids.update(
        {
            name: str(value)
            for name, value in {
                "aircraft": craft,
                "spare_craft": spare_craft,
                "program": program,
                "spare_program": spare_program,
                "task": task,
                "spare_task": spare_task,
                "started": started,
                "finished": finished,
                "definition": definition,
                "spare_definition": spare_definition,
                "item": item,
                "spare_item": spare_item,
                "reservation": reservation,
                "compliance": compliance,
                "webhook": webhook,
                "import": upload,
                "spare_webhook": spare_webhook,
                "delivery": delivery,
                "b_mechanic": b.users["mechanic"].id,
                "b_viewer": b.users["viewer"].id,
                "a_mechanic": home.users["mechanic"].id,
            }.items()
        }
    )
    return world
