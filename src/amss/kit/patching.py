"""PATCH semantics (SPEC §5): only the fields sent change; ``null`` clears a nullable one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel

from amss.kit.errors import FieldProblem, ValidationFailed
from amss.kit.jsonable import SECRET_FIELDS, to_jsonable

# ``{field: {"old": …, "new": …}}``, as audit rows and ``task_updated`` events carry it.
Changes = dict[str, dict[str, Any]]


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


def diff(
    old: Mapping[Any, Any], new: Mapping[Any, Any], fields: Iterable[str] | None = None
) -> Changes:
    """The fields whose value differs, as JSON-safe ``old``/``new`` pairs (never secrets)."""
    names = fields if fields is not None else new.keys()
    result: Changes = {}
    for name in names:
        if name in SECRET_FIELDS:
            continue
        before, after = to_jsonable(old.get(name)), to_jsonable(new.get(name))
        if before != after:
            result[name] = {"old": before, "new": after}
    return result
