"""The one error hierarchy of AMSS, mapped once to HTTP (here) and once to gRPC (later)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

from pydantic import BaseModel


@dataclass
class FieldProblem:
    field: str
    message: str


@dataclass
class AppError(Exception):
    """Base of every error a caller is meant to see. ``message`` is safe to show to clients."""

    message: str
    details: list[FieldProblem] = field(default_factory=list)
    headers: dict[str, str] = field(default_factory=dict)

    code: ClassVar[str] = "internal"
    status: ClassVar[int] = 500

    def __str__(self) -> str:
        return self.message


class ValidationFailed(AppError):
    code = "validation"
    status = 400


class Unauthenticated(AppError):
    code = "auth"
    status = 401


class Forbidden(AppError):
    code = "forbidden"
    status = 403


class NotFound(AppError):
    code = "not_found"
    status = 404


class Conflict(AppError):
    code = "conflict"
    status = 409


class PayloadTooLarge(AppError):
    code = "payload_too_large"
    status = 413


class UnsupportedMediaType(AppError):
    code = "unsupported_media_type"
    status = 415


class RateLimited(AppError):
    code = "rate_limited"
    status = 429


class Unavailable(AppError):
    code = "unavailable"
    status = 503


class ErrorDetail(BaseModel):
    field: str
    message: str


class ErrorEnvelope(BaseModel):
    """The body of every error response (SPEC §5)."""

    error: str
    code: str
    request_id: str
    details: list[ErrorDetail] | None = None


def error_body(
    *, message: str, code: str, request_id: str, details: list[FieldProblem] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"error": message, "code": code, "request_id": request_id}
    if details:
        body["details"] = [{"field": d.field, "message": d.message} for d in details]
    return body


def invalid(field: str, message: str) -> ValidationFailed:
    """A 400 naming one field: ``"<field>: <message>"`` with the same in ``details``."""
    return ValidationFailed(f"{field}: {message}", details=[FieldProblem(field, message)])
