"""The task state machine (SPEC §6.5): pure, no I/O."""

from __future__ import annotations

from typing import Literal

from amss.kit.errors import Conflict

TaskState = Literal["scheduled", "in_progress", "completed", "cancelled"]

ALLOWED: dict[str, frozenset[str]] = {
    "scheduled": frozenset({"in_progress", "cancelled"}),
    "in_progress": frozenset({"completed", "cancelled"}),
    "completed": frozenset(),
    "cancelled": frozenset(),
}
FINAL = frozenset({"completed", "cancelled"})
OPEN = frozenset({"scheduled", "in_progress"})


def check_transition(title: str, current: str, new: str) -> None:
    """Refuse (409) a transition the state machine does not have, saying why."""
    if current == new:
        raise Conflict(f"task {title!r} is already {current}")
    if current in FINAL:
        raise Conflict(f"task {title!r} is {current}; completed and cancelled tasks are final")
    if new not in ALLOWED[current]:
        if current == "scheduled" and new == "completed":
            raise Conflict(
                f"task {title!r} is scheduled; start it (in_progress) before completing it"
            )
        raise Conflict(f"task {title!r} cannot go from {current} to {new}")
