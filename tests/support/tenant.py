"""A tenant: an organization with one user per role and their bearer tokens, the starting
point of most API tests (``tenant`` fixture, or ``make_tenant`` for a second one)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.auth.rules import ROLES, Role
from amss.auth.tokens import TokenSigner
from tests.support.api import Actor, ok
from tests.support.factories import TestUser, bearer, make_org, make_user

# What a tenant's mechanics hold: enough to sign items and complete tasks (SPEC §3).
MECHANIC_CERTIFICATE: dict[str, object] = {
    "certificate_number": "A&P 1000001",
    "authorizations": ["A&P"],
}


@dataclass(frozen=True)
class Tenant:
    """Users by key: the role's name, or a name of the test's (``"mechanic2"``)."""

    id: UUID
    users: dict[str, TestUser]
    signer: TokenSigner
    client: httpx.AsyncClient | None = None

    def headers(self, key: str) -> dict[str, str]:
        """The bearer header of the user under ``key``."""
        return bearer(self.signer, self.users[key])

    def as_(self, key: str) -> Actor:
        """The user under ``key`` talking to the API through the tenant's client."""
        assert self.client is not None, "make_tenant(..., client=) for actors"
        return Actor(self.client, self.headers(key), self.users[key])


async def make_tenant(
    conn: AsyncConnection,
    signer: TokenSigner,
    client: httpx.AsyncClient | None = None,
    *,
    roles: Iterable[Role] | Mapping[str, Role] = ROLES,
    name: str | None = None,
    **policy: object,
) -> Tenant:
    """A new organization (``policy`` overrides its policy columns) with a user for each of
    ``roles``: every role by default; a mapping names extra users (``{"mechanic2":
    "mechanic"}``). Its mechanics are certifying users (a certificate number and ``A&P``),
    as a maintenance organization's are; nobody else holds a certificate."""
    by_key: Mapping[str, Role] = roles if isinstance(roles, Mapping) else {r: r for r in roles}
    org_id = await make_org(conn, name, **policy)
    users = {
        key: await make_user(
            conn, org_id, role, **(MECHANIC_CERTIFICATE if role == "mechanic" else {})
        )
        for key, role in by_key.items()
    }
    return Tenant(org_id, users, signer, client)


@dataclass
class Scenario:
    """Base of an area's scenario fixture (a tenant and what the test starts from): calls
    as one of the tenant's users, by key. Subclasses add the rows and steps of the area."""

    tenant: Tenant
    conn: AsyncConnection

    @property
    def org_id(self) -> UUID:
        return self.tenant.id

    @property
    def users(self) -> dict[str, TestUser]:
        return self.tenant.users

    async def call(
        self,
        method: str,
        path: str,
        role: str = "scheduler",
        json: Any = None,
        params: dict[str, Any] | None = None,
    ) -> httpx.Response:
        """A request under /api/v1 as the user under ``role``."""
        return await self.tenant.as_(role).request(method, path, json=json, params=params)

    async def ok(
        self,
        method: str,
        path: str,
        role: str = "scheduler",
        json: Any = None,
        expect: int = 200,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """The body of a request that must answer ``expect``."""
        return ok(await self.call(method, path, role, json, params), expect)
