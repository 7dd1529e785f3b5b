"""Calling the gRPC API in tests: stubs, the bearer metadata of a tenant's user, and the
status check of a refused call."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Any

import grpc
import pytest

from amss.grpc.gen import amss_pb2_grpc as rpc
from tests.support.tenant import Tenant


@dataclass(frozen=True)
class Stubs:
    tasks: rpc.TaskServiceStub
    inventory: rpc.InventoryServiceStub
    audit: rpc.AuditServiceStub
    programs: rpc.ProgramServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            rpc.TaskServiceStub(channel),
            rpc.InventoryServiceStub(channel),
            rpc.AuditServiceStub(channel),
            rpc.ProgramServiceStub(channel),
        )


def auth(tenant: Tenant, key: str, **extra: str) -> tuple[tuple[str, str], ...]:
    """The metadata of a call by the tenant's user under ``key`` (``x_request_id=…``)."""
    pairs = [("authorization", tenant.headers(key)["Authorization"])]
    pairs += [(name.replace("_", "-"), value) for name, value in extra.items()]
    return tuple(pairs)


async def refused(call: Awaitable[Any], code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    """The call fails with ``code``; its trailers carry the request id and the REST code."""
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await call
    error = caught.value
    assert error.code() == code, (error.code(), error.details())
    trailers = dict(error.trailing_metadata() or ())
    assert trailers.get("x-request-id"), trailers
    assert trailers.get("amss-error-code"), trailers
    return error
