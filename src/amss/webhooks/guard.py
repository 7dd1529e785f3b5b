"""The SSRF guard: resolve once, refuse what is not globally routable, connect to what was checked.

One policy in every environment (SPEC §7.2, §10). The delivery client's network backend
does the resolving itself: for each new connection it resolves the host once, checks every
address, and opens the TCP connection to a checked address — never to the name, so no
second lookup can answer differently (DNS rebinding). The ``Host`` header and the TLS SNI
and certificate check still use the host name, because httpcore takes them from the URL.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable, Iterable
from urllib.parse import urlsplit

import httpcore2
import httpx2

from amss.webhooks.rules import address_problem, literal_address, url_problem

# (host, port) → the addresses to try, in order. Tests pass a resolver of their own.
Resolver = Callable[[str, int], Awaitable[list[str]]]


class UnsafeDestination(Exception):
    """The URL's host is, or resolves to, an address AMSS must not call."""


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's resolver (getaddrinfo), addresses in its order, no duplicates."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def resolve_checked(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver
) -> list[str]:
    """Resolve ``host`` once; every address must pass the policy (one bad answer refuses all:
    a name that resolves to a public and a private address is not safe to call)."""
    literal = literal_address(host)
    if literal is not None:
        addresses = [literal]
    else:
        try:
            addresses = await resolver(host, port)
        except OSError as error:
            raise UnsafeDestination(
                f"host {host} does not resolve ({error.strerror or error})"
            ) from None
        except UnicodeError:  # a label too long for IDNA, say
            raise UnsafeDestination(f"host {host[:80]} is not a valid host name") from None
        if not addresses:
            raise UnsafeDestination(f"host {host} does not resolve")
    for address in addresses:
        problem = address_problem(address, allow_private=allow_private)
        if problem and literal is not None:
            raise UnsafeDestination(f"{host} is {problem}")
        if problem:
            raise UnsafeDestination(f"host {host} resolves to {address}, {problem}")
    return addresses


async def check_destination(
    url: str,
    *,
    allow_private: bool,
    production: bool,
    resolver: Resolver = system_resolver,
) -> list[str]:
    """The URL rules and the address policy; the checked addresses."""
    problem = url_problem(url, production=production)
    if problem:
        raise UnsafeDestination(problem)
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return await resolve_checked(
        parts.hostname or "", port, allow_private=allow_private, resolver=resolver
    )


class GuardedBackend(httpcore2.AsyncNetworkBackend):
    """Connects to a checked address of the host instead of letting anyio resolve it again."""

    def __init__(self, *, allow_private: bool, resolver: Resolver = system_resolver) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self._inner = httpcore2.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        addresses = await resolve_checked(
            host, port, allow_private=self.allow_private, resolver=self.resolver
        )
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address,
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore2.ConnectError, httpcore2.ConnectTimeout) as error:
                failure = error
        assert failure is not None
        raise failure

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        raise UnsafeDestination("webhooks never connect to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx2.AsyncHTTPTransport):
    """httpx2's transport on a connection pool whose every connection is guarded."""

    def __init__(
        self, *, limits: httpx2.Limits, allow_private: bool, resolver: Resolver = system_resolver
    ) -> None:
        super().__init__(trust_env=False, limits=limits)
        # The pool built above resolves names itself; this one connects only to checked
        # addresses. No proxy: a proxy would make the connection, not us.
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=httpx2.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=GuardedBackend(allow_private=allow_private, resolver=resolver),
        )
