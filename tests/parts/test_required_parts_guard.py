"""A part definition a program requires cannot be deleted (starts would always fail)."""

from __future__ import annotations

from tests.support.api import assert_error, created
from tests.support.steps import add_program
from tests.support.tenant import Tenant


async def test_a_required_definition_cannot_be_deleted(tenant: Tenant) -> None:
    scheduler = tenant.as_("scheduler")
    definition = created(await scheduler.post("/part-definitions", {"name": "Gasket"}))
    program = await add_program(
        scheduler,
        name="Valve cover check",
        interval_hours=50,
        required_parts=[{"part_definition_id": definition["id"], "quantity": 1}],
    )
    refused = await scheduler.delete(f"/part-definitions/{definition['id']}")
    assert_error(refused, 409, contains="Valve cover check")
    cleared = await scheduler.patch(
        f"/maintenance-programs/{program['id']}", {"required_parts": []}
    )
    assert cleared.status_code == 200 and cleared.json()["required_parts"] == []
    assert (await scheduler.delete(f"/part-definitions/{definition['id']}")).status_code == 204
