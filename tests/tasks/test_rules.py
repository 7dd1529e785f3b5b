"""The task state machine and the start/completion rules, as pure functions."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from itertools import product

import pytest
from hypothesis import given
from hypothesis import strategies as st

from amss.due.rules import Meters
from amss.kit.errors import Conflict, Forbidden, ValidationFailed
from amss.tasks import rules

STATES = ("scheduled", "in_progress", "completed", "cancelled")
MOVES = {("scheduled", "in_progress"), ("scheduled", "cancelled")} | {
    ("in_progress", "completed"),
    ("in_progress", "cancelled"),
}


@pytest.mark.parametrize(("current", "new"), list(product(STATES, STATES)))
def test_only_the_four_moves_of_the_state_machine_pass(current: str, new: str) -> None:
    if (current, new) in MOVES:
        rules.check_transition("Oil change", current, new)  # type: ignore[arg-type]
        return
    with pytest.raises(Conflict) as refused:
        rules.check_transition("Oil change", current, new)  # type: ignore[arg-type]
    assert "'Oil change'" in refused.value.message


def test_completing_a_scheduled_task_says_to_start_it_first() -> None:
    with pytest.raises(Conflict, match="start it"):
        rules.check_transition("Annual", "scheduled", "completed")


def test_open_and_final_states_partition_the_states() -> None:
    assert set(rules.OPEN_STATES) | set(rules.FINAL_STATES) == set(STATES)
    assert not set(rules.OPEN_STATES) & set(rules.FINAL_STATES)


@given(busy=st.integers(0, 50), slots=st.integers(1, 50))
def test_capacity_refuses_exactly_when_every_slot_is_taken(busy: int, slots: int) -> None:
    if busy < slots:
        rules.check_capacity("N123AB", busy, slots)
        return
    with pytest.raises(Conflict) as refused:
        rules.check_capacity("N123AB", busy, slots)
    assert refused.value.message == (
        f"aircraft N123AB has {busy} tasks in progress and capacity_slots is {slots}"
    )


@pytest.mark.parametrize("notes", [None, "", "   \n"])
def test_completion_needs_a_record_of_the_work(notes: str | None) -> None:
    with pytest.raises(ValidationFailed) as refused:
        rules.work_done(notes)
    assert refused.value.details[0].field == "notes"


def test_work_done_is_kept_trimmed() -> None:
    assert rules.work_done("  replaced filter  ") == "replaced filter"


@pytest.mark.parametrize("notes", [None, " "])
def test_cancelling_needs_a_reason(notes: str | None) -> None:
    with pytest.raises(ValidationFailed, match="reason"):
        rules.cancel_reason(notes)


meters = st.decimals(min_value=0, max_value=100_000, places=1, allow_nan=False)


@given(
    meter=meters,
    flown_since=meters,
    supplied=st.one_of(st.none(), meters),
    cycles=st.integers(0, 10_000),
)
def test_completion_meters_default_to_the_moment_and_never_exceed_todays(
    meter: Decimal, flown_since: Decimal, supplied: Decimal | None, cycles: int
) -> None:
    """A back-dated completion records the meters of its moment (today's, less what was
    flown after it); supplied meters may not pass today's."""
    then = Meters(max(meter - flown_since, Decimal(0)), cycles)
    now = Meters(meter, cycles)
    if supplied is not None and supplied > meter:
        with pytest.raises(ValidationFailed) as refused:
            rules.completion_meters(supplied, None, at_completion=then, now=now)
        assert refused.value.details[0].field == "completed_hours"
        return
    hours, done_cycles = rules.completion_meters(supplied, None, at_completion=then, now=now)
    assert hours == (supplied if supplied is not None else then.hours)
    assert done_cycles == cycles


def test_completion_cycles_above_the_meter_are_refused() -> None:
    meters_now = Meters(Decimal(100), 500)
    with pytest.raises(ValidationFailed) as refused:
        rules.completion_meters(None, 501, at_completion=meters_now, now=meters_now)
    assert refused.value.details[0].field == "completed_cycles"


NOW = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("done_at", "basis_at", "previous", "refusal"),
    [
        (NOW + timedelta(minutes=1), None, None, "in the future"),
        (NOW - timedelta(days=3), NOW - timedelta(days=2), None, "before the task's basis"),
        (NOW - timedelta(days=3), None, NOW - timedelta(days=1), "before the previous completion"),
    ],
)
def test_back_dated_completion_is_bounded(
    done_at: datetime, basis_at: datetime | None, previous: datetime | None, refusal: str
) -> None:
    """Work finished on Friday may be entered on Monday; it may not be entered as done
    tomorrow, nor before the point its limits count from, nor before the requirement was
    last done (14 CFR 43.9: a record states when the work was done)."""
    with pytest.raises(ValidationFailed, match=refusal) as refused:
        rules.check_completed_at(done_at, NOW, basis_at=basis_at, previous=previous)
    assert refused.value.details[0].field == "completed_at"


def test_friday_work_entered_on_monday_is_accepted() -> None:
    friday = NOW - timedelta(days=3)
    rules.check_completed_at(
        friday, NOW, basis_at=friday - timedelta(days=90), previous=friday - timedelta(days=95)
    )


@given(
    reserved=st.sets(st.uuids(), max_size=6),
    used=st.lists(st.uuids(), max_size=6),
)
def test_parts_used_must_be_reserved_and_count_once(
    reserved: set[uuid.UUID], used: list[uuid.UUID]
) -> None:
    picked = [*used, *list(reserved)[:2]]
    if all(item in reserved for item in picked):
        assert rules.check_parts_used(picked, reserved) == list(dict.fromkeys(picked))
        return
    with pytest.raises(Conflict, match="not reserved for this task"):
        rules.check_parts_used(picked, reserved)


def _item(result: str, signed: bool, supersedes: rules.ItemState | None = None) -> rules.ItemState:
    return rules.ItemState(
        uuid.uuid4(), "Compression check", result, signed, supersedes.id if supersedes else None
    )


@pytest.mark.parametrize(
    ("item", "refusal"),
    [
        (_item("pending", False), "is pending"),
        (_item("fail", True), "is a finding"),
        (_item("fail", False), "is not signed off"),
        (_item("pass", False), "is not signed off"),
    ],
)
def test_completion_refuses_open_compliance_items(item: rules.ItemState, refusal: str) -> None:
    with pytest.raises(Conflict, match=refusal):
        rules.check_compliance_items([_item("pass", True), item])


def test_signed_passing_items_let_the_task_complete() -> None:
    rules.check_compliance_items([_item("pass", True), _item("pass", True)])


def test_a_finding_is_cleared_only_by_a_signed_pass_that_supersedes_it() -> None:
    """SPEC §6.8: the failed item stays; its rectification, signed pass, clears it."""
    finding = _item("fail", True)
    rules.check_compliance_items([finding, _item("pass", True, finding)])
    # Not yet signed, not a pass, or superseding something else: the finding still blocks.
    for rectification in (_item("pass", False, finding), _item("pass", True)):
        with pytest.raises(Conflict, match=r"is a finding|is not signed off"):
            rules.check_compliance_items([finding, rectification])


def test_a_failed_re_inspection_is_itself_a_finding_to_clear() -> None:
    finding = _item("fail", True)
    again = _item("fail", True, finding)
    with pytest.raises(Conflict, match="is a finding"):
        rules.check_compliance_items([finding, again])
    rules.check_compliance_items([finding, again, _item("pass", True, again)])


@pytest.mark.parametrize("role", ["scheduler", "tenant_admin"])
def test_planners_complete_by_record_entry(role: str) -> None:
    assert rules.completion_form(role, {}) == "record_entry"


def test_a_mechanic_signs_and_never_transcribes() -> None:
    assert rules.completion_form("mechanic", {}) == "sign_off"
    with pytest.raises(Forbidden, match="paper record"):
        rules.completion_form("mechanic", {"certificate_number": "3412876"})


def test_an_admin_signs_unless_it_transcribes() -> None:
    assert rules.completion_form("admin", {}) == "sign_off"
    assert rules.completion_form("admin", {"record_reference": "WO-1"}) == "record_entry"


def test_a_record_entry_names_every_missing_field() -> None:
    with pytest.raises(ValidationFailed) as refused:
        rules.record_entry({"certified_by_name": "J. Rivera"})
    assert [problem.field for problem in refused.value.details] == [
        "certificate_number",
        "record_reference",
    ]
    entry = rules.record_entry(
        {"certified_by_name": "J. Rivera", "certificate_number": "1", "record_reference": "WO-1"}
    )
    assert entry.record_entry and entry.certified_by_user_id is None


@pytest.mark.parametrize(
    ("status", "early"), [("ok", True), ("due_soon", False), ("due", False), ("overdue", False)]
)
def test_early_means_no_limit_had_reached_its_window(status: str, early: bool) -> None:
    assert rules.is_early(status) is early
