"""Hostile receivers on localhost, written on raw sockets so every byte is under control."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawReceiver:
    url: str
    port: int
    connections: int = 0
    open_connections: int = 0
    requests: list[bytes] = field(default_factory=list)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    return head + (await reader.readexactly(length) if length else b"")


@asynccontextmanager
async def raw_receiver(answer: Handler) -> AsyncIterator[RawReceiver]:
    state = RawReceiver(url="", port=0)
    tasks: set[asyncio.Task[None]] = set()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        state.connections += 1
        state.open_connections += 1
        tasks.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            state.requests.append(await read_request(reader))
            await answer(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the client hung up on us: what these receivers expect
        except asyncio.CancelledError:
            pass  # the receiver is closing: this handler's task ends here either way
        finally:
            state.open_connections -= 1
            writer.close()

    server = await asyncio.start_server(on_connection, "127.0.0.1", 0)
    state.port = server.sockets[0].getsockname()[1]
    state.url = f"http://127.0.0.1:{state.port}/hook"
    try:
        yield state
    finally:
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


# 40 MB of zeros compress to about 40 KB: harmless raw, ruinous once inflated.
GZIP_BOMB = gzip.compress(b"\0" * (40 * 1024 * 1024), compresslevel=9)


async def answer_with_gzip_bomb(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
        b"Content-Encoding: gzip\r\nContent-Length: "
        + str(len(GZIP_BOMB)).encode()
        + b"\r\n\r\n"
        + GZIP_BOMB
    )
    await writer.drain()
    await asyncio.sleep(30)  # keep the connection open: the client must stop on its own


async def answer_dripping(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A 200 whose body arrives one byte a second: each read is quick, the whole never ends."""
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 100000\r\n\r\n")
    await writer.drain()
    for _ in range(100_000):
        writer.write(b".")
        await writer.drain()
        await asyncio.sleep(1)


async def answer_ok(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
    await writer.drain()
