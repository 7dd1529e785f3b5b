"""Login, tokens and refresh rotation (SPEC §3)."""

from __future__ import annotations

import base64
import json
import time
import uuid

import httpx
import jwt
from fastapi import FastAPI
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from amss.app import create_app
from amss.config import Settings
from amss.db.engine import Database
from amss.db.tables import users
from amss.kit.keys import KeyPair
from tests.conftest import serve_app
from tests.support.factories import PASSWORD, TestUser, bearer, make_org, make_user


async def login(client: httpx.AsyncClient, user: TestUser, **extra: object) -> httpx.Response:
    body = {"email": user.email, "password": PASSWORD, **extra}
    return await client.post("/api/v1/auth/login", json=body)


async def test_login_returns_a_token_pair_and_me_works(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "scheduler")
    response = await login(client, user, org_id=str(user.org_id))
    assert response.status_code == 200, response.text
    pair = response.json()
    assert pair["token_type"] == "Bearer"
    assert pair["expires_in"] == 900
    assert pair["refresh_token"].count(".") == 0  # opaque, not a JWT
    header = jwt.get_unverified_header(pair["access_token"])
    assert header["alg"] == "RS256" and header["kid"]
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    assert claims["sub"] == str(user.id) and claims["org_id"] == str(user.org_id)
    assert claims["role"] == "scheduler" and claims["typ"] == "access"
    assert {"jti", "iat", "exp"} <= set(claims)
    me = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == user.email
    assert me.json()["last_login"] is not None


async def test_org_id_may_be_omitted_when_the_email_is_in_one_organization(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "mechanic")
    assert (await login(client, user)).status_code == 200


async def test_an_email_in_two_organizations_needs_org_id(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    first = await make_user(
        connection, await make_org(connection), "viewer", email="twin@example.com"
    )
    second = await make_user(
        connection, await make_org(connection), "viewer", email="twin@example.com"
    )
    ambiguous = await login(client, first)
    assert ambiguous.status_code == 400
    assert ambiguous.json()["details"][0]["field"] == "org_id"
    chosen = await login(client, second, org_id=str(second.org_id))
    assert chosen.status_code == 200


async def test_every_bad_login_is_the_same_401(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    user = await make_user(connection, org_id, "viewer")
    deleted = await make_user(connection, org_id, "viewer")
    await connection.execute(
        update(users).where(users.c.id == deleted.id).values(deleted_at=text("now()"))
    )
    attempts = [
        {"email": user.email, "password": "wrong password!!"},
        {"email": "nobody@example.com", "password": PASSWORD},
        {"email": user.email, "password": PASSWORD, "org_id": str(uuid.uuid4())},
        {"email": deleted.email, "password": PASSWORD},
    ]
    for body in attempts:
        response = await client.post("/api/v1/auth/login", json=body)
        assert response.status_code == 401, body
        assert response.json()["error"] == "invalid credentials"
        assert response.json()["code"] == "auth"


async def test_logins_are_audited_success_and_failure(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "auditor")
    await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "not the password"}
    )
    await login(client, user)
    rows = (
        (
            await connection.execute(
                text(
                    "SELECT details->>'result' FROM audit_logs"
                    " WHERE entity_id = :id AND action = 'login' ORDER BY seq"
                ),
                {"id": user.id},
            )
        )
        .scalars()
        .all()
    )
    assert rows == ["failure", "success"]


async def test_refresh_rotates_and_reuse_revokes_the_family(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "scheduler")
    first = (await login(client, user)).json()
    second = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert second.status_code == 200
    newest = second.json()["refresh_token"]
    assert newest != first["refresh_token"]

    reuse = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]}
    )
    assert reuse.status_code == 401
    # Theft detected: the newest token of the family stops working too.
    after = await client.post("/api/v1/auth/refresh", json={"refresh_token": newest})
    assert after.status_code == 401


async def test_refresh_rereads_the_user(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    org_id = await make_org(connection)
    user = await make_user(connection, org_id, "viewer")
    pair = (await login(client, user)).json()
    await connection.execute(update(users).where(users.c.id == user.id).values(role="scheduler"))
    refreshed = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refreshed.status_code == 200
    claims = jwt.decode(refreshed.json()["access_token"], options={"verify_signature": False})
    assert claims["role"] == "scheduler"

    await connection.execute(
        update(users).where(users.c.id == user.id).values(deleted_at=text("now()"))
    )
    gone = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": refreshed.json()["refresh_token"]}
    )
    assert gone.status_code == 401


async def test_deleting_a_user_through_the_api_revokes_refresh(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    admin = await make_user(connection, org_id, "tenant_admin")
    user = await make_user(connection, org_id, "mechanic")
    pair = (await login(client, user)).json()
    deleted = await client.delete(
        f"/api/v1/users/{user.id}", headers=bearer(app.state.signer, admin)
    )
    assert deleted.status_code == 204
    refused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refused.status_code == 401
    access = await client.get(
        "/api/v1/auth/me", headers={"Authorization": f"Bearer {pair['access_token']}"}
    )
    assert access.status_code == 401


async def test_logout_ends_the_session(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "viewer")
    pair = (await login(client, user)).json()
    out = await client.post("/api/v1/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert out.status_code == 204
    refused = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert refused.status_code == 401


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_forged_and_wrong_tokens_are_401(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI, signing_keys: KeyPair
) -> None:
    user = await make_user(connection, await make_org(connection), "admin")
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "org_id": str(user.org_id),
        "role": "admin",
        "typ": "access",
        "jti": "x",
        "iat": now,
        "exp": now + 600,
    }
    kid = app.state.signer.kid
    alg_none = f"{_b64({'alg': 'none', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}."
    # The classic confusion attack: HS256 keyed with the public key text.
    import hashlib
    import hmac

    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    mac = hmac.new(
        signing_keys.public_pem.encode(), signing_input.encode(), hashlib.sha256
    ).digest()
    hs256 = f"{signing_input}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    private = signing_keys.private_pem
    expired = jwt.encode(
        {**claims, "exp": now - 5}, private, algorithm="RS256", headers={"kid": kid}
    )
    refresh_typed = jwt.encode(
        {**claims, "typ": "refresh"}, private, algorithm="RS256", headers={"kid": kid}
    )
    foreign_key = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "someone-else"})
    for name, token in {
        "alg none": alg_none,
        "HS256 with the public key": hs256,
        "expired": expired,
        "refresh-typed": refresh_typed,
        "unknown kid": foreign_key,
        "garbage": "abc.def",
    }.items():
        response = await client.get("/api/v1/users", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 401, name
        assert response.json()["code"] == "auth", name
    valid = await client.get("/api/v1/users", headers=bearer(app.state.signer, user))
    assert valid.status_code == 200


async def test_missing_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/organizations")
    assert response.status_code == 401
    assert response.json()["error"] == "missing bearer token"


async def test_login_is_limited_per_client_ip(
    client: httpx.AsyncClient, connection: AsyncConnection
) -> None:
    user = await make_user(connection, await make_org(connection), "viewer")
    statuses = []
    for attempt in range(6):
        response = await client.post(
            "/api/v1/auth/login",
            json={"email": f"x{attempt}-{user.email}", "password": "nope nope nope"},
        )
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429]
    assert int(response.headers["retry-after"]) >= 1
    assert response.json()["code"] == "rate_limited"


async def test_login_is_limited_per_email(
    settings: Settings, db: Database, connection: AsyncConnection
) -> None:
    import ipaddress

    user = await make_user(connection, await make_org(connection), "viewer")
    behind_proxy = settings.model_copy(
        update={"trusted_proxies": [ipaddress.ip_network("127.0.0.0/8")]}
    )
    statuses = []
    async with serve_app(create_app(behind_proxy, db)) as http:
        for attempt in range(11):
            # A different real client each time (via the trusted proxy): only the per-email
            # limit can trigger.
            response = await http.post(
                "/api/v1/auth/login",
                json={"email": user.email, "password": "wrong password!"},
                headers={"x-forwarded-for": f"203.0.113.{attempt}"},
            )
            statuses.append(response.status_code)
    assert statuses == [401] * 10 + [429]
    assert "email" in response.json()["error"]


async def test_a_demoted_users_live_access_token_carries_the_new_role_at_once(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    user = await make_user(connection, org_id, "scheduler")
    access = {"Authorization": f"Bearer {(await login(client, user)).json()['access_token']}"}

    async def new_aircraft() -> httpx.Response:
        return await client.post(
            "/api/v1/aircraft",
            json={"tail_number": f"N{uuid.uuid4().hex[:5].upper()}", "model": "C172"},
            headers=access,
        )

    assert (await new_aircraft()).status_code == 201  # the token works for a scheduler
    demoted = await client.patch(f"/api/v1/users/{user.id}", json={"role": "viewer"}, headers=admin)
    assert demoted.status_code == 200, demoted.text
    # The same, unexpired token: the next request is judged by the role now on record.
    refused = await new_aircraft()
    assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    assert (await client.get("/api/v1/aircraft", headers=access)).status_code == 200
    me = await client.get("/api/v1/auth/me", headers=access)
    assert me.json()["role"] == "viewer"


async def test_a_deleted_users_live_access_token_is_refused_at_once(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    user = await make_user(connection, org_id, "scheduler")
    access = {"Authorization": f"Bearer {(await login(client, user)).json()['access_token']}"}
    assert (await client.get("/api/v1/aircraft", headers=access)).status_code == 200
    deleted = await client.delete(f"/api/v1/users/{user.id}", headers=admin)
    assert deleted.status_code == 204, deleted.text
    for method, path in (("GET", "/api/v1/aircraft"), ("GET", "/api/v1/auth/me")):
        refused = await client.request(method, path, headers=access)
        assert refused.status_code == 401, (path, refused.text)
        assert refused.json()["code"] == "auth"
    created = await client.post(
        "/api/v1/aircraft", json={"tail_number": "N1DEL", "model": "C172"}, headers=access
    )
    assert created.status_code == 401
    assert (
        await connection.scalar(
            text("SELECT count(*) FROM aircraft WHERE org_id = :o"), {"o": org_id}
        )
        == 0
    )


async def test_changing_a_password_revokes_every_refresh_token_of_the_user(
    client: httpx.AsyncClient, connection: AsyncConnection, app: FastAPI
) -> None:
    org_id = await make_org(connection)
    admin = bearer(app.state.signer, await make_user(connection, org_id, "tenant_admin"))
    user = await make_user(connection, org_id, "mechanic")
    other = await make_user(connection, org_id, "mechanic")
    sessions = [(await login(client, user)).json() for _ in range(2)]  # two devices
    bystander = (await login(client, other)).json()
    changed = await client.patch(
        f"/api/v1/users/{user.id}", json={"password": "a-brand-new-secret"}, headers=admin
    )
    assert changed.status_code == 200, changed.text
    for session in sessions:
        refused = await client.post(
            "/api/v1/auth/refresh", json={"refresh_token": session["refresh_token"]}
        )
        assert refused.status_code == 401, refused.text
    revoked = await connection.scalar(
        text("SELECT count(*) FROM refresh_tokens WHERE user_id = :u AND revoked_at IS NULL"),
        {"u": user.id},
    )
    assert revoked == 0
    # Only that user's sessions: another user's refresh still works, and the new password too.
    kept = await client.post(
        "/api/v1/auth/refresh", json={"refresh_token": bystander["refresh_token"]}
    )
    assert kept.status_code == 200, kept.text
    fresh = await client.post(
        "/api/v1/auth/login", json={"email": user.email, "password": "a-brand-new-secret"}
    )
    assert fresh.status_code == 200
    old = await login(client, user)
    assert old.status_code == 401
