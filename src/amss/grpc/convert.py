"""Protobuf messages to and from the REST views and request bodies, by field name.

The proto's field names are the REST resources' (checked by tests/grpc/test_proto.py), so
one generic walk over a message's descriptor converts every message: timestamps to
aware datetimes, decimals and ids to text, structs to dicts. Requests are validated by
the same pydantic models as the REST bodies, so a bad field gets the same message.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC
from functools import cache
from typing import Any, TypeVar
from uuid import UUID

from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from google.protobuf.struct_pb2 import Struct
from google.protobuf.timestamp_pb2 import Timestamp
from pydantic import BaseModel, ValidationError, create_model

from amss.kit.errors import FieldProblem, ValidationFailed
from amss.kit.handlers import invalid_request
from amss.kit.jsonable import to_jsonable

Model = TypeVar("Model", bound=BaseModel)
Out = TypeVar("Out", bound=Message)

_TIMESTAMP = Timestamp.DESCRIPTOR.full_name
_STRUCT = Struct.DESCRIPTOR.full_name
# A field's descriptor: the stubs name the pure-Python class, the runtime is upb's.
Field = Any
_NUL_MESSAGE = "text may not contain NUL (\\u0000) characters"


def _values(source: BaseModel | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, BaseModel):
        return {name: getattr(source, name) for name in type(source).model_fields}
    return source


def _scalar(field: Field, value: Any) -> Any:
    if field.type == FieldDescriptor.TYPE_STRING:
        return str(value)
    if field.type == FieldDescriptor.TYPE_BOOL:
        return bool(value)
    if field.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return float(value)
    return int(value)


def fill(message: Out, source: BaseModel | Mapping[str, Any]) -> Out:
    """Set every field of ``message`` that ``source`` has a non-null value for."""
    values = _values(source)
    for field in message.DESCRIPTOR.fields:
        value = values.get(field.name)
        if value is None:
            continue
        kind = field.message_type.full_name if field.message_type else None
        if field.is_repeated:
            target = getattr(message, field.name)
            if kind is None:
                target.extend(_scalar(field, item) for item in value)
            else:
                for item in value:
                    fill(target.add(), item)
        elif kind == _TIMESTAMP:
            getattr(message, field.name).FromDatetime(value.astimezone(UTC))
        elif kind == _STRUCT:
            getattr(message, field.name).update(to_jsonable(value))
        elif kind is not None:
            fill(getattr(message, field.name), value)
        else:
            setattr(message, field.name, _scalar(field, value))
    return message


def to_message(source: BaseModel | Mapping[str, Any], kind: type[Out]) -> Out:
    return fill(kind(), source)


def _has(message: Message, field: Field) -> bool:
    if field.is_repeated:
        return len(getattr(message, field.name)) > 0
    return message.HasField(field.name) if field.has_presence else True


def _plain(field: Field, value: Any) -> Any:
    kind = field.message_type.full_name if field.message_type else None
    if kind == _TIMESTAMP:
        return value.ToDatetime(tzinfo=UTC)
    if kind == _STRUCT:
        return json_format.MessageToDict(value)
    if kind is not None:
        return fields_of(value)
    if isinstance(value, str) and "\x00" in value:
        raise ValidationFailed(
            f"{field.name}: {_NUL_MESSAGE}", details=[FieldProblem(field.name, _NUL_MESSAGE)]
        )
    return value


def fields_of(message: Message, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The fields a client sent, as the JSON body of the same REST request would hold them
    (a field not sent is absent, not empty)."""
    skipped = set(exclude)
    sent: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        if field.name in skipped or not _has(message, field):
            continue
        value = getattr(message, field.name)
        if field.is_repeated:
            sent[field.name] = [_plain(field, item) for item in value]
        else:
            sent[field.name] = _plain(field, value)
    return sent


def parse(model: type[Model], data: Mapping[str, Any]) -> Model:
    """Validate a request with the REST body's model; the same message on failure."""
    try:
        return model.model_validate(dict(data))
    except ValidationError as error:
        raise invalid_request([dict(e) for e in error.errors()]) from None


@cache
def _id_model(name: str) -> type[BaseModel]:
    """A model of one required UUID named like the REST path parameter it stands for."""
    fields: dict[str, Any] = {name: (UUID, ...)}
    return create_model(f"Path_{name}", **fields)


def parse_id(message: Message, name: str) -> UUID:
    """The id in field ``name``, validated as REST validates the same path parameter."""
    value: UUID = getattr(parse(_id_model(name), fields_of(message)), name)
    return value
