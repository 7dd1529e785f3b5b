"""The due rules as SQL fragments, for set-based statements over many tasks at once.

Each fragment implements a function of ``due.rules``; property tests feed both the same
inputs and require the same answers.
"""

from __future__ import annotations

from amss.due import rules
from amss.due.rules import MAX_FORECAST_DAYS

# The open states of a task, as an SQL list.
OPEN_STATES = "(" + ", ".join(f"'{state}'" for state in rules.OPEN_STATES) + ")"

# Effective daily rates of aircraft ``a`` under policy ``pol``: observed, else the aircraft's
# averages, else the organization's defaults.
RATE_HOURS = "COALESCE(a.observed_daily_hours, a.avg_daily_hours, pol.default_daily_hours)"
RATE_CYCLES = "COALESCE(a.observed_daily_cycles, a.avg_daily_cycles, pol.default_daily_cycles)"

# Whether program ``p`` applies to aircraft ``a``: never NULL, so it can be negated.
APPLIES = (
    "(CASE WHEN p.aircraft_id IS NOT NULL THEN p.aircraft_id = a.id "
    "WHEN p.aircraft_model IS NOT NULL THEN p.aircraft_model = a.model ELSE true END)"
)


def meter_date(due: str, current: str, rate: str) -> str:
    """When a meter reaches ``due`` at ``rate`` per day from now: now when already reached
    (never a date in the past, so no overrun overflows), NULL without a rate or beyond the
    forecast horizon."""
    return (
        f"CASE WHEN {due} IS NULL THEN NULL "
        f"WHEN {due} <= {current} THEN CAST(:now AS timestamptz) "
        f"WHEN {rate} > 0 AND ({due} - {current}) / {rate} <= {MAX_FORECAST_DAYS} THEN "
        f"CAST(:now AS timestamptz) + CAST(({due} - {current}) / {rate} AS double precision) "
        f"* interval '1 day' END"
    )


def calendar_due(basis: str, days: str, months: str, zone: str) -> str:
    """``rules.calendar_due``: the database function of migration 0006."""
    return f"amss_calendar_due({basis}, {days}, {months}, {zone})"


def next_basis(done: str, due: str, basis: str) -> str:
    """``rules.next_basis`` for one meter: under the ``scheduled`` basis, late work counts
    from the limit it was due at; otherwise from the point it was done."""
    return (
        f"CASE WHEN {basis} = 'scheduled' AND {due} IS NOT NULL AND {done} > {due} "
        f"THEN {due} ELSE {done} END"
    )


def governing(projected: str, due_at: str, by_hours: str) -> str:
    """Which limit gives the projected date; ties: calendar, then hours, then cycles."""
    return (
        f"CASE WHEN {projected} IS NULL THEN NULL WHEN {projected} = {due_at} THEN 'calendar' "
        f"WHEN {projected} = {by_hours} THEN 'hours' ELSE 'cycles' END"
    )


def planned_window(projected: str, duration: str) -> tuple[str, str]:
    """The planned window (start, end) of a program task: ``duration`` ending at the
    projected date; a task due already (or too soon to fit) is planned from now."""
    now = "CAST(:now AS timestamptz)"
    fits = f"{projected} - {duration} > {now}"
    start = (
        f"CASE WHEN {projected} IS NULL THEN NULL WHEN {fits} THEN {projected} - {duration} "
        f"ELSE {now} END"
    )
    end = (
        f"CASE WHEN {projected} IS NULL THEN NULL WHEN {fits} THEN {projected} "
        f"ELSE {now} + greatest({duration}, interval '1 hour') END"
    )
    return start, end


def duration_of(hours: str) -> str:
    """A program's ``estimated_duration_hours`` as an interval."""
    return f"make_interval(secs => CAST({hours} * 3600 AS double precision))"


def due_status(task: str = "t", craft: str = "a", policy: str = "pol") -> str:
    """``rules.due_status`` for many rows: task ``t``, aircraft ``a``, policy ``pol``, ``:now``."""
    t, a, pol = task, craft, policy
    now = "CAST(:now AS timestamptz)"
    return f"""(CASE
        WHEN ({t}.due_hours IS NOT NULL
              AND {a}.flight_hours_total > {t}.due_hours + coalesce({t}.tolerance_hours, 0))
          OR ({t}.due_cycles IS NOT NULL
              AND {a}.cycles_total > {t}.due_cycles + coalesce({t}.tolerance_cycles, 0))
          OR ({t}.due_at IS NOT NULL
              AND {now} > {t}.due_at + make_interval(days => coalesce({t}.tolerance_days, 0)))
          THEN 'overdue'
        WHEN ({t}.due_hours IS NOT NULL AND {a}.flight_hours_total >= {t}.due_hours)
          OR ({t}.due_cycles IS NOT NULL AND {a}.cycles_total >= {t}.due_cycles)
          OR ({t}.due_at IS NOT NULL AND {now} >= {t}.due_at)
          THEN 'due'
        WHEN ({t}.due_hours - {a}.flight_hours_total <= {pol}.due_soon_hours)
          OR ({t}.due_cycles - {a}.cycles_total <= {pol}.due_soon_cycles)
          OR ({t}.due_at - {now} <= make_interval(days => {pol}.due_soon_days))
          THEN 'due_soon'
        ELSE 'ok' END)"""


# The baseline of each (program, aircraft) pair in scope: its newest last-done record, and
# what the task resting on it reports as its basis source. Binds :org_id, :program_ids,
# :aircraft_ids (NULL arrays: no filter).
NEWEST_RECORDS = """
    SELECT DISTINCT ON (c.program_id, c.aircraft_id)
           c.program_id, c.aircraft_id, c.basis_at, c.basis_hours, c.basis_cycles,
           CASE WHEN c.source = 'task' THEN 'completion' ELSE 'record' END AS basis_source
    FROM compliance_records c
    WHERE c.org_id = :org_id
      AND (CAST(:program_ids AS uuid[]) IS NULL OR c.program_id = ANY(:program_ids))
      AND (CAST(:aircraft_ids AS uuid[]) IS NULL OR c.aircraft_id = ANY(:aircraft_ids))
    ORDER BY c.program_id, c.aircraft_id, c.performed_at DESC, c.created_at DESC
"""
