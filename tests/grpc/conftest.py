"""A real gRPC server on an ephemeral port and a channel to it, for the test's database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from fastapi import FastAPI

from amss.config import Settings
from amss.db.engine import Database
from amss.grpc.server import start_grpc_server


@asynccontextmanager
async def grpc_channel(
    settings: Settings, database: Database, app: FastAPI
) -> AsyncIterator[grpc.aio.Channel]:
    """The gRPC server on a free port of 127.0.0.1, sharing ``app``'s keys and rate limits
    as ``amss serve`` does, and a channel to it."""
    server = await start_grpc_server(
        settings, database, app.state.signer, app.state.rate_limiter, ("127.0.0.1", 0)
    )
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            yield channel
    finally:
        await server.stop(0)


@pytest.fixture
async def channel(
    settings: Settings, db: Database, app: FastAPI
) -> AsyncIterator[grpc.aio.Channel]:
    """A channel to a server whose calls join the test's transaction (rolled back)."""
    async with grpc_channel(settings, db, app) as opened:
        yield opened
