"""Pure rules of the reports: the columns of each export, and how values read on paper."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

Format = Literal["json", "csv"]
StatusFormat = Literal["json", "csv", "pdf"]

# The due list as CSV: what a planner reads first, then why (limits, what remains, rates).
DUE_LIST_COLUMNS = (
    "tail_number",
    "title",
    "state",
    "due_status",
    "governing_limit",
    "projected_due_at",
    "due_at",
    "due_hours",
    "due_cycles",
    "tolerance_hours",
    "tolerance_cycles",
    "tolerance_days",
    "remaining_hours",
    "remaining_cycles",
    "remaining_days",
    "daily_hours_rate",
    "daily_cycles_rate",
    "basis_source",
    "task_id",
    "aircraft_id",
    "program_id",
)

COMPLIANCE_COLUMNS = (
    "time",
    "tail_number",
    "task_title",
    "description",
    "result",
    "signed_off",
    "signer_name",
    "certificate_number",
    "sign_off_time",
    "supersedes_id",
    "id",
    "task_id",
    "aircraft_id",
    "created_at",
)

# The status record's one table (CSV and PDF alike).
STATUS_COLUMNS = (
    "ATA",
    "Requirement",
    "Interval",
    "Last done",
    "Hours",
    "Cycles",
    "Certified by",
    "Certificate",
    "Record",
    "Next due",
    "Remaining",
    "Status",
)

# What a last-done record rests on, as the record reads.
RESTS_ON_WORDS = {"task": "AMSS task", "record_entry": "paper record", "import": "import"}

# How each due status reads on the status record.
STATUS_WORDS = {
    "overdue": "OVERDUE",
    "due": "DUE (tolerance)",
    "due_soon": "due soon",
    "ok": "ok",
}


def interval_words(
    hours: Decimal | float | None,
    cycles: int | None,
    days: int | None,
    months: int | None,
) -> str:
    """A requirement's interval as written on a maintenance program: whichever comes first."""
    parts = []
    if hours is not None:
        parts.append(f"{number(hours)} h")
    if cycles is not None:
        parts.append(f"{cycles:,} cyc")
    if days is not None:
        parts.append(f"{days} days")
    if months is not None:
        parts.append(f"{months} months")
    return " / ".join(parts) or "-"


def number(value: Decimal | float | int | None, places: int = 1) -> str:
    """Hours as a logbook writes them (``1,234.5``); whole numbers without decimals."""
    if value is None:
        return ""
    amount = float(value)
    if amount == int(amount):
        return f"{int(amount):,}"
    return f"{amount:,.{places}f}"


def day_of(moment: datetime | None) -> str:
    """A moment as the UTC date it falls on (the record's dates); empty when there is none."""
    return moment.strftime("%Y-%m-%d") if moment is not None else ""


def remaining_words(hours: float | None, cycles: int | None, days: float | None) -> str:
    """What remains on each limit, and by how much a passed one is over: ``12.5 h / 30 cyc /
    41 d``, ``0.5 h over`` (never a leading minus, which a spreadsheet reads as a formula)."""
    parts = []
    if hours is not None:
        parts.append(_left(number(abs(hours)) + " h", hours < 0))
    if cycles is not None:
        parts.append(_left(f"{abs(cycles):,} cyc", cycles < 0))
    if days is not None:
        parts.append(_left(f"{int(abs(days))} d", days < 0))  # whole days
    return " / ".join(parts)


def _left(amount: str, over: bool) -> str:
    return f"{amount} over" if over else amount
