"""PATCH semantics (SPEC §5): only the fields sent change; ``null`` clears a nullable one."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict

from amss.kit.errors import FieldProblem, ValidationFailed
from amss.kit.jsonable import SECRET_FIELDS, to_jsonable

# ``{field: {"old": …, "new": …}}``, as audit rows and ``task_updated`` events carry it.
Changes = dict[str, dict[str, Any]]


def document_not_nullable(schema: dict[str, Any], model: type[Any]) -> None:
    # Pydantic documents ``X | None = None`` as nullable; for these fields null is refused.
    properties = schema.get("properties", {})
    for name in getattr(model, "NOT_NULL", ()):
        prop = properties.get(name)
        if prop is None or "anyOf" not in prop:
            continue
        branches = [b for b in prop["anyOf"] if b != {"type": "null"}]
        del prop["anyOf"]
        prop.pop("default", None)
        if len(branches) == 1:
            prop.update(branches[0])
        else:
            prop["anyOf"] = branches


class PatchBody(BaseModel):
    """A PATCH body: a field not sent stays as it is; ``NOT_NULL`` fields cannot be cleared.

    The fields are declared ``X | None = None`` so that "not sent" and "sent" differ, and
    ``NOT_NULL`` is both what :func:`patch_values` refuses and what the OpenAPI document
    shows as non-nullable.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=document_not_nullable)
    NOT_NULL: ClassVar[tuple[str, ...]] = ()


def patch_values(
    data: BaseModel,
    *,
    include: Iterable[str] | None = None,
    exclude: Iterable[str] = ("org_id",),
    required: Iterable[str] | None = None,
) -> dict[str, Any]:
    """The fields the client sent, refusing ``null`` for those that cannot be cleared
    (``required``, by default the body's ``NOT_NULL``)."""
    if required is None:
        required = data.NOT_NULL if isinstance(data, PatchBody) else ()
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
