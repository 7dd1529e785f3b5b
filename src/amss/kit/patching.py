"""PATCH semantics (SPEC §5): only the fields sent change; ``null`` clears a nullable one."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel

from amss.kit.errors import FieldProblem, ValidationFailed


def patch_values(
    data: BaseModel,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = ("org_id",),
    required: Iterable[str] = (),
) -> dict[str, Any]:
    """The fields the client sent, refusing ``null`` for those that cannot be cleared."""
    sent = data.model_dump(
        include=set(include) if include is not None else None,
        exclude=set(exclude),
        exclude_unset=True,
    )
    cleared = sorted(name for name in required if name in sent and sent[name] is None)
    if cleared:
        raise ValidationFailed(
            f"{', '.join(cleared)} cannot be cleared",
            details=[FieldProblem(name, "cannot be null") for name in cleared],
        )
    return sent
