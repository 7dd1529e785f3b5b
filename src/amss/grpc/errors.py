"""The shared error hierarchy mapped once to gRPC status codes, with the REST messages."""

from __future__ import annotations

from dataclasses import dataclass

import grpc

from amss.kit.errors import AppError
from amss.kit.handlers import database_error

# By the REST error code (SPEC §5) of each error class.
STATUS_CODES: dict[str, grpc.StatusCode] = {
    "validation": grpc.StatusCode.INVALID_ARGUMENT,
    "auth": grpc.StatusCode.UNAUTHENTICATED,
    "forbidden": grpc.StatusCode.PERMISSION_DENIED,
    "not_found": grpc.StatusCode.NOT_FOUND,
    # A rule of the current state, a lost race or a version mismatch: read again and
    # decide (ABORTED), as REST answers 409.
    "conflict": grpc.StatusCode.ABORTED,
    "payload_too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unsupported_media_type": grpc.StatusCode.INVALID_ARGUMENT,
    "rate_limited": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "unavailable": grpc.StatusCode.UNAVAILABLE,
    "internal": grpc.StatusCode.INTERNAL,
}

INTERNAL_MESSAGE = "internal error; quote the request id when reporting it"


@dataclass(frozen=True)
class Failure:
    """What the client is told: status code, message, and trailing metadata."""

    code: grpc.StatusCode
    message: str
    trailers: tuple[tuple[str, str], ...]
    expected: bool  # False: a bug, logged with its trace


def failure_of(error: Exception, request_id: str) -> Failure:
    """The status of any exception a call raised: app errors and database faults as over
    REST (same message), anything else INTERNAL without details."""
    mapped = error if isinstance(error, AppError) else database_error(error)
    if mapped is None:
        return Failure(
            grpc.StatusCode.INTERNAL,
            INTERNAL_MESSAGE,
            (("x-request-id", request_id), ("amss-error-code", "internal")),
            expected=False,
        )
    headers = tuple(
        (name.lower(), value)
        for name, value in mapped.headers.items()
        if name.lower() != "www-authenticate"
    )
    return Failure(
        STATUS_CODES.get(mapped.code, grpc.StatusCode.UNKNOWN),
        mapped.message,
        (("x-request-id", request_id), ("amss-error-code", mapped.code), *headers),
        expected=True,
    )
