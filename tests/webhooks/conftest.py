"""A real HTTP receiver on localhost, and a worker running in the test's event loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amss.config import Settings
from amss.db.engine import Database
from amss.worker import create_worker_app, run_worker
from tests.test_cli import free_port


@dataclass
class Received:
    at: float
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Answers each request with the next scripted (status, headers), then 200."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    hang_seconds: float = 0.0

    async def wait_for(
        self, count: int, timeout: float, match: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = [r for r in self.requests if match is None or match(r)]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)
        return [r for r in self.requests if match is None or match(r)]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with _receiving() as state:
        yield state


@pytest.fixture
async def hanging_receiver() -> AsyncIterator[Receiver]:
    """Answers nothing for 30 s: longer than the delivery timeout."""
    async with _receiving(hang_seconds=30) as state:
        yield state


@asynccontextmanager
async def _receiving(hang_seconds: float = 0.0) -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook", hang_seconds=hang_seconds)

    async def hook(request: Request) -> Response:
        body = await request.body()
        state.requests.append(Received(time.monotonic(), dict(request.headers), body))
        if state.hang_seconds:
            await asyncio.sleep(state.hang_seconds)
        status, headers = state.script.pop(0) if state.script else (200, {})
        return Response(status_code=status, headers=headers, content=b"ok")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield state
    finally:
        server.should_exit = True
        server.force_exit = True
        await task


@pytest.fixture
async def worker(settings: Settings, database: Database, database_url: str) -> AsyncIterator[Any]:
    """A procrastinate worker on the committed test database, in this event loop."""
    app = create_worker_app(settings, database, database_url)
    task = asyncio.create_task(run_worker(app, name="test-worker", install_signal_handlers=False))
    await asyncio.sleep(0.3)
    try:
        yield app
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
