"""A real HTTP receiver on localhost, a worker running in the test's event loop, and a
subscription attempted on an app with other settings.

Worker tests commit, so each starts and ends with an empty job queue and outbox
(``clean_queue``): their outcome never depends on what ran before them.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy.ext.asyncio import AsyncConnection
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.worker import create_worker_app, run_worker
from tests.conftest import serve_app
from tests.support.factories import bearer, make_org, make_user
from tests.support.live import free_port
from tests.support.polling import eventually
from tests.support.queue import worker_ids


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """Records each request, then answers it with the next scripted (status, headers), or
    200. While ``gate`` is closed, requests are recorded but held unanswered."""

    url: str
    requests: list[Received] = field(default_factory=list)
    script: list[tuple[int, dict[str, str]]] = field(default_factory=list)
    gate: asyncio.Event = field(default_factory=asyncio.Event)
    answered: int = 0

    def __post_init__(self) -> None:
        self.gate.set()

    async def wait_for(
        self, count: int, timeout: float, match: Callable[[Received], bool] | None = None
    ) -> list[Received]:
        """The first ``count`` matching requests; fails the test when they do not come."""

        def found() -> list[Received]:
            matching = [r for r in self.requests if match is None or match(r)]
            return matching if len(matching) >= count else []

        return await eventually(found, timeout=timeout, what=f"{count} request(s) at {self.url}")


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with _receiving() as state:
        yield state


@pytest.fixture
async def hanging_receiver() -> AsyncIterator[Receiver]:
    """Never answers while the test runs (longer than the 10 s delivery deadline)."""
    async with _receiving() as state:
        state.gate.clear()
        yield state


@asynccontextmanager
async def _receiving() -> AsyncIterator[Receiver]:
    port = free_port()
    state = Receiver(url=f"http://127.0.0.1:{port}/hook")

    async def hook(request: Request) -> Response:
        body = await request.body()
        state.requests.append(Received(dict(request.headers), body))
        await state.gate.wait()
        status, headers = state.script.pop(0) if state.script else (200, {})
        state.answered += 1
        return Response(status_code=status, headers=headers, content=b"ok")

    app = Starlette(routes=[Route("/hook", hook, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off")
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started, what="the receiver listening")
    try:
        yield state
    finally:
        state.gate.set()  # let held requests end: nothing waits on them any more
        server.should_exit = True
        server.force_exit = True
        await task


@pytest.fixture
async def worker(
    settings: Settings, database: Database, database_url: str, clean_jobs: None
) -> AsyncIterator[Any]:
    """A procrastinate worker on the committed test database, in this event loop."""
    async with running_worker(settings, database, database_url) as app:
        yield app


@asynccontextmanager
async def running_worker(
    settings: Settings, database: Database, database_url: str
) -> AsyncIterator[Any]:
    before = await worker_ids(database)
    app = create_worker_app(settings, database, database_url)
    task = asyncio.create_task(run_worker(app, name="test-worker", install_signal_handlers=False))

    async def registered() -> bool:
        if task.done():
            task.result()  # a worker that died at start-up fails the test with its error
        return bool(await worker_ids(database) - before)

    await eventually(registered, timeout=30, what="the worker registered")
    try:
        yield app
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def subscribe_on(
    settings: Settings, db: Database, connection: AsyncConnection, url: str, **overrides: Any
) -> httpx.Response:
    """A tenant_admin of a new organization subscribes ``url`` to every event, on an app
    whose settings differ by ``overrides`` (production, no private targets, …)."""
    app = create_app(settings.model_copy(update=overrides), db)
    admin = await make_user(connection, await make_org(connection), "tenant_admin")
    async with serve_app(app) as http:
        return await http.post(
            "/api/v1/webhooks",
            json={"url": url, "events": ["*"]},
            headers=bearer(app.state.signer, admin),
        )
