"""The SSRF guard: in production a webhook may only reach public addresses."""

from __future__ import annotations

import asyncio
import socket
from urllib.parse import urlsplit

from amss.webhooks.rules import forbidden_address, url_problem


class UnsafeDestination(Exception):
    """The URL's host is, or resolves to, an address AMSS must not call."""


async def check_destination(url: str, *, production: bool) -> None:
    problem = url_problem(url, production=production)
    if problem:
        raise UnsafeDestination(problem)
    if not production:
        return
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as error:
        raise UnsafeDestination(
            f"host {host} does not resolve ({error.strerror or error})"
        ) from None
    for info in infos:
        address = str(info[4][0])
        if forbidden_address(address):
            raise UnsafeDestination(f"host {host} resolves to {address}, a non-public address")
