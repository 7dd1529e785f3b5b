"""Bodies rendered by PostgreSQL (db/jsonview) are exactly what the Pydantic views would
serialize: the views stay the contract, and a second rendering may never drift from it."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import TypeAdapter
from sqlalchemy import Engine, create_engine, text

from amss.db.engine import connection_options, sqlalchemy_url
from amss.db.jsonview import field_sql, json_time, select_list
from amss.due import rules
from amss.due.schemas import DueListItem
from amss.kit.types import Hours
from amss.tasks.schemas import Task, TaskDetail
from tests.support.api import ok
from tests.support.steps import add_aircraft, add_program, add_task
from tests.support.tenant import Tenant

MOMENTS = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@pytest.fixture(scope="module")
def engine(database_url: str) -> Iterator[Engine]:
    """A synchronous engine with the application's session options: hypothesis drives
    plain functions (as in tests/due/test_sql_matches_rules.py)."""
    made = create_engine(
        sqlalchemy_url(database_url), connect_args={"options": connection_options()}
    )
    yield made
    made.dispose()


def _render(engine: Engine, expression: str, values: list[Any], cast: str) -> list[str]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                f"SELECT x.i, to_json({expression})::text AS v"
                f" FROM unnest(CAST(:v AS {cast}[])) WITH ORDINALITY AS x(v, i) ORDER BY x.i"
            ),
            {"v": values},
        )
        return [row.v for row in rows]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moments=st.lists(MOMENTS, min_size=1, max_size=50))
def test_times_read_as_pydantic_writes_them(engine: Engine, moments: list[datetime]) -> None:
    rendered = _render(engine, json_time("x.v"), moments, "timestamptz")
    assert rendered == [TypeAdapter(datetime).dump_json(m).decode() for m in moments]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    hours=st.lists(
        st.decimals(
            min_value=Decimal("-99999.9"), max_value=Decimal("99999.9"), places=1, allow_nan=False
        ),
        min_size=1,
        max_size=50,
    )
)
def test_hours_are_json_numbers_as_pydantic_writes_them(
    engine: Engine, hours: list[Decimal]
) -> None:
    rendered = _render(engine, field_sql(Hours, "x.v"), hours, "numeric(10,1)")
    assert [json.loads(v) for v in rendered] == [
        json.loads(TypeAdapter(Hours).dump_json(h)) for h in hours
    ]


def test_every_field_of_a_view_is_rendered_in_order() -> None:
    for view in (DueListItem, Task, TaskDetail):
        names = re.findall(r' AS "(\w+)"', select_list(view))
        assert names == list(view.model_fields), view.__name__


async def test_a_rendered_due_list_is_the_view_and_its_answers_are_the_rules(
    tenant: Tenant,
) -> None:
    """Parsed into the view and dumped again, the body is unchanged; what remains is what
    ``due.rules.remaining`` computes."""
    planner = tenant.as_("scheduler")
    craft = await add_aircraft(
        planner, flight_hours_total=1234.5, cycles_total=900, avg_daily_hours=3.3
    )
    await add_program(planner, aircraft_id=craft["id"], interval_hours=100, interval_months=7)
    await add_program(planner, aircraft_id=craft["id"], interval_cycles=50, tolerance_cycles=5)
    await add_task(planner, craft["id"], title="Overdue AD", due_hours=1000, mandatory=True)
    await add_task(
        planner,
        craft["id"],
        title="Dated",
        due_at=(datetime.now(UTC) + timedelta(days=3)).isoformat(),
    )
    response = await planner.get(f"/aircraft/{craft['id']}/due-list")
    body = ok(response)
    assert response.headers["x-total-count"] == "4"
    items = TypeAdapter(list[DueListItem]).validate_json(response.content)
    assert [item.model_dump(mode="json") for item in items] == body
    now = datetime.now(UTC)
    for item in items:
        left = rules.remaining(
            rules.Limits(item.due_at, item.due_hours, item.due_cycles),
            rules.Meters(Decimal("1234.5"), 900),
            now,
        )
        assert item.remaining_hours == (float(left.hours) if left.hours is not None else None)
        assert item.remaining_cycles == left.cycles
        if left.days is None:
            assert item.remaining_days is None
        else:
            assert item.remaining_days is not None
            assert abs(item.remaining_days - left.days) < 0.01  # rounded to 3 places, then
    detail = ok(await planner.get(f"/maintenance-tasks/{items[0].task_id}"))
    assert TaskDetail.model_validate(detail).model_dump(mode="json") == detail
