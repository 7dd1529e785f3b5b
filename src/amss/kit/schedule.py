"""Turn the configured intervals (Go durations) into the cron expressions procrastinate takes."""

from __future__ import annotations

from datetime import timedelta


def cron_for(interval: timedelta) -> str:
    """The closest cron expression that fires at least as often as ``interval``.

    Cron can only divide minutes, hours and days evenly; an interval that does not divide
    its unit runs at the next shorter period that does (never less often than asked).
    """
    seconds = int(interval.total_seconds())
    if seconds < 60:
        step = max(1, _largest_divisor_at_most(60, seconds))
        return f"* * * * * */{step}"
    minutes = seconds // 60
    if minutes < 60:
        return f"*/{_largest_divisor_at_most(60, minutes)} * * * *"
    hours = minutes // 60
    if hours < 24:
        return f"0 */{_largest_divisor_at_most(24, hours)} * * *"
    return "0 0 * * *"


def _largest_divisor_at_most(whole: int, limit: int) -> int:
    return max(d for d in range(1, whole + 1) if whole % d == 0 and d <= max(1, limit))
