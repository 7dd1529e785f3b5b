"""One SSRF policy in every environment (SPEC §7.2, §10): the address rules, refusal at
creation, and delivery that connects to the address it checked — proven with a resolver
the test controls, not by mocking HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.config import Settings
from amss.db.engine import Database
from amss.events.stream import StreamPublisher
from amss.webhooks.guard import UnsafeDestination, check_destination
from amss.webhooks.jobs import deliver, shared_client
from amss.webhooks.rules import address_problem
from tests.support.factories import bearer, make_org, make_user
from tests.webhooks.conftest import Receiver, subscribe_on
from tests.webhooks.test_bounded_delivery import deliveries_to, delivery_row

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.216.34",
    "100.63.255.255",  # just below the shared range
    "100.128.0.0",  # just above it
    "172.15.255.255",
    "172.32.0.0",
    "192.0.1.1",
    "2606:4700:4700::1111",
    "2001:4860:4860::8888",
    "::ffff:8.8.8.8",  # IPv4-mapped form of a public address
]

PRIVATE = [
    ("127.0.0.1", "loopback"),
    ("127.255.255.254", "loopback"),
    ("::1", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.255", "private"),
    ("192.168.1.1", "private"),
    ("169.254.1.1", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "shared"),
    ("100.127.255.255", "shared"),
    ("192.0.0.8", "IETF protocol"),
    ("192.0.0.170", "IETF protocol"),
    ("192.0.2.1", "documentation"),
    ("198.51.100.7", "documentation"),
    ("203.0.113.9", "documentation"),
    ("2001:db8::1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("fc00::1", "unique-local"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("2002:7f00:1::1", "6to4"),
    ("2002:0808:0808::1", "6to4"),
    ("2001:0:4136:e378::1", "Teredo"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1, a loopback"),
    ("::ffff:10.1.2.3", "IPv4-mapped form of 10.1.2.3, a private"),
    ("::ffff:100.64.0.1", "IPv4-mapped form of 100.64.0.1, a shared"),
    ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1, a loopback"),
    ("::10.0.0.1", "IPv4-compatible form of 10.0.0.1, a private"),
]

NEVER = [
    ("169.254.169.254", "metadata"),
    ("::ffff:169.254.169.254", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("100.100.100.200", "metadata"),
    ("192.0.0.192", "metadata"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("255.255.255.255", "broadcast"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("240.0.0.1", "reserved"),
]


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_are_allowed(address: str) -> None:
    assert address_problem(address, allow_private=False) is None


@pytest.mark.parametrize(("address", "reason"), PRIVATE)
def test_private_addresses_need_webhook_allow_private(address: str, reason: str) -> None:
    problem = address_problem(address, allow_private=False)
    assert problem is not None and reason in problem
    assert address_problem(address, allow_private=True) is None


@pytest.mark.parametrize(("address", "reason"), NEVER)
def test_metadata_and_special_addresses_are_never_allowed(address: str, reason: str) -> None:
    for allow_private in (False, True):
        problem = address_problem(address, allow_private=allow_private)
        assert problem is not None and reason in problem


class MappedResolver:
    """A DNS of the test's own: names it maps, and a count of every lookup."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        replies = self.answers[host]
        # Each lookup may answer differently (DNS rebinding): the next reply, then the last.
        return replies[min(len(self.lookups) - 1, len(replies) - 1)]


async def test_a_name_with_any_private_answer_is_refused() -> None:
    resolver = MappedResolver({"mixed.amss.test": [["8.8.8.8", "10.0.0.5"]]})
    with pytest.raises(UnsafeDestination, match=r"resolves to 10\.0\.0\.5, a private address"):
        await check_destination(
            "https://mixed.amss.test/hook", allow_private=False, production=True, resolver=resolver
        )


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://127.0.0.1:8080/hook", "127.0.0.1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped form of 127.0.0.1"),
        ("http://[::1]:9000/hook", "::1 is a loopback address"),
        ("http://10.1.2.3/hook", "10.1.2.3 is a private address"),
        ("http://169.254.169.254/latest/meta-data", "a cloud metadata address"),
        ("http://localhost:9000/hook", "resolves to"),
        ("ftp://example.com/hook", "must be an http(s) URL"),
        ("http://user:pw@example.com/hook", "must not carry credentials"),
        ("http://example.com:99999/hook", "is not a valid URL"),
    ],
)
async def test_creation_refuses_private_targets_without_the_switch(
    settings: Settings, db: Database, connection: AsyncConnection, url: str, message: str
) -> None:
    response = await subscribe_on(settings, db, connection, url, webhook_allow_private=False)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "validation" and body["details"][0]["field"] == "url"
    assert message in body["error"]


async def test_webhook_allow_private_lets_loopback_through(
    client: httpx.AsyncClient, app: Any, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    response = await client.post(
        "/api/v1/webhooks",
        json={"url": "http://127.0.0.1:9000/hook", "events": ["*"]},
        headers=bearer(app.state.signer, admin),
    )
    assert response.status_code == 201, response.text


async def test_production_requires_https_even_when_private_targets_are_allowed(
    settings: Settings, db: Database, connection: AsyncConnection
) -> None:
    response = await subscribe_on(
        settings, db, connection, "http://127.0.0.1:9000/hook", app_env="production"
    )
    assert response.status_code == 400
    assert "https" in response.json()["error"]


async def test_delivery_connects_to_the_address_its_one_lookup_checked(
    settings: Settings, database: Database, receiver: Receiver
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    name = f"receiver-{uuid.uuid4().hex[:6]}.amss.test"
    # First lookup: where the receiver listens. Any later lookup: an address where nothing
    # listens. Only a client that connects to the first answer reaches the receiver.
    resolver = MappedResolver({name: [["127.0.0.1"], ["127.0.0.2"]]})
    [(_, delivery)] = await deliveries_to(database, [f"http://{name}:{port}/hook"], 1)
    async with shared_client(allow_private=True, resolver=resolver) as client:
        status = await deliver(database, settings, client, StreamPublisher(None), delivery)
    assert status == "delivered"
    assert resolver.lookups == [name]
    [request] = receiver.requests
    assert request.headers["host"] == f"{name}:{port}"  # the name, not the address


async def test_delivery_refuses_a_name_that_now_resolves_inside(
    settings: Settings, database: Database, receiver: Receiver
) -> None:
    port = receiver.url.split(":")[2].split("/")[0]
    name = f"rebound-{uuid.uuid4().hex[:6]}.amss.test"
    resolver = MappedResolver({name: [["127.0.0.1"]]})
    [(_, delivery)] = await deliveries_to(database, [f"http://{name}:{port}/hook"], 1)
    async with shared_client(allow_private=False, resolver=resolver) as client:
        status = await deliver(database, settings, client, StreamPublisher(None), delivery)
    assert status == "failed" and not receiver.requests
    row = await delivery_row(database, delivery)
    assert row.last_error == f"refused: host {name} resolves to 127.0.0.1, a loopback address"


async def test_delivery_ignores_proxies_from_the_environment(
    settings: Settings,
    database: Database,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "HTTPS_PROXY"):
        monkeypatch.setenv(variable, "http://127.0.0.1:9/")  # nothing listens there
    [(_, delivery)] = await deliveries_to(database, [receiver.url], 1)
    async with shared_client(allow_private=True) as client:
        status = await deliver(database, settings, client, StreamPublisher(None), delivery)
    assert status == "delivered" and len(receiver.requests) == 1


async def test_delivery_does_not_follow_redirects(
    settings: Settings, database: Database, receiver: Receiver
) -> None:
    receiver.script = [(302, {"Location": "http://169.254.169.254/latest/meta-data"})]
    [(_, delivery)] = await deliveries_to(database, [receiver.url], 1)
    async with shared_client(allow_private=True) as client:
        status = await deliver(database, settings, client, StreamPublisher(None), delivery)
    assert status == "failed" and len(receiver.requests) == 1
    row = await delivery_row(database, delivery)
    assert row.last_response_code == 302 and row.last_error == "HTTP 302"


async def test_the_redirect_target_would_have_been_refused() -> None:
    with pytest.raises(UnsafeDestination):
        await check_destination(
            "http://169.254.169.254/latest/meta-data", allow_private=True, production=False
        )
