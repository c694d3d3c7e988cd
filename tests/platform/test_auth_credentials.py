"""Credentials to principals: order of precedence, cookies, scopes, token forgery, key usage."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import jwt
import pytest
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import event, select, update

from casebook.platform.auth import tokens
from casebook.platform.auth.cookies import ACCESS_COOKIE, REFRESH_COOKIE, set_session_cookies
from casebook.platform.auth.deps import (
    API_KEY_CACHE_SECONDS,
    ApiKeyCache,
    CurrentPrincipal,
    Principal,
    api_key_cache,
    forget_api_keys,
    optional_principal,
    require_scope,
)
from casebook.platform.auth.models import ApiKey
from casebook.platform.auth.service import TokenPair
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import install_problem_handlers
from casebook.platform.settings import Settings

PASSWORD = "correct horse battery"

probe = APIRouter()


def describe(principal: Principal | None) -> dict[str, Any]:
    if principal is None:
        return {"anonymous": True}
    return {
        "user_id": str(principal.user_id),
        "scopes": sorted(principal.scopes),
        "api_key_id": None if principal.api_key_id is None else str(principal.api_key_id),
    }


@probe.get("/optional")
async def optional(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> dict[str, Any]:
    return describe(principal)


@probe.get("/required")
async def required(principal: CurrentPrincipal) -> dict[str, Any]:
    return describe(principal)


@probe.get("/links/write")
async def links_write(
    principal: Annotated[Principal, Depends(require_scope("url-shortener:write"))],
) -> dict[str, Any]:
    return describe(principal)


@pytest.fixture
async def probe_client(platform: Platform) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a small app serving `probe`, on the same platform as `client`."""
    app = FastAPI()
    app.state.platform = platform
    install_problem_handlers(app)
    app.include_router(probe)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def login(client: httpx.AsyncClient, email: str = "ada@example.com") -> dict[str, str]:
    await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "U"}
    )
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    body: dict[str, str] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def make_key(client: httpx.AsyncClient, access_token: str, scopes: list[str]) -> str:
    response = await client.post(
        "/api/auth/api-keys", json={"name": "k", "scopes": scopes}, headers=bearer(access_token)
    )
    key: str = response.json()["key"]
    return key


async def test_access_token_gives_a_session_principal_with_every_scope(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient
) -> None:
    pair = await login(client)
    body = (await probe_client.get("/required", headers=bearer(pair["access_token"]))).json()
    assert body["scopes"] == ["*"] and body["api_key_id"] is None
    assert (await probe_client.get("/links/write", headers=bearer(pair["access_token"]))).is_success


async def test_api_key_principal_carries_the_key_and_its_scopes(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient
) -> None:
    pair = await login(client)
    key = await make_key(client, pair["access_token"], ["feed:read", "url-shortener:write"])
    body = (await probe_client.get("/required", headers={"X-API-Key": key})).json()
    assert body["scopes"] == ["feed:read", "url-shortener:write"]
    assert body["api_key_id"] is not None
    me = (await client.get("/api/auth/me", headers=bearer(pair["access_token"]))).json()
    assert body["user_id"] == me["id"]


async def test_require_scope_admits_the_scope_and_its_parents_and_refuses_others(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient
) -> None:
    pair = await login(client)
    exact = await make_key(client, pair["access_token"], ["url-shortener:write"])
    parent = await make_key(client, pair["access_token"], ["url-shortener"])
    other = await make_key(client, pair["access_token"], ["url-shortener:read", "url-shortene"])
    assert (await probe_client.get("/links/write", headers={"X-API-Key": exact})).is_success
    assert (await probe_client.get("/links/write", headers={"X-API-Key": parent})).is_success
    refused = await probe_client.get("/links/write", headers={"X-API-Key": other})
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/insufficient-scope"
    assert refused.json()["required_scope"] == "url-shortener:write"


def test_require_scope_refuses_a_malformed_scope_when_declared() -> None:
    with pytest.raises(ValueError, match="not a valid scope"):
        require_scope("Url Shortener")


async def test_access_cookie_authenticates_a_browser(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient
) -> None:
    pair = await login(client)
    probe_client.cookies.set(ACCESS_COOKIE, pair["access_token"])
    body = (await probe_client.get("/required")).json()
    assert body["scopes"] == ["*"]


async def test_header_credential_wins_over_the_cookie(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient
) -> None:
    ada = await login(client, "ada@example.com")
    bob = await login(client, "bob@example.com")
    probe_client.cookies.set(ACCESS_COOKIE, ada["access_token"])
    as_bob = (await probe_client.get("/required", headers=bearer(bob["access_token"]))).json()
    as_ada = (await probe_client.get("/required")).json()
    assert as_bob["user_id"] != as_ada["user_id"]
    bob_me = (await client.get("/api/auth/me", headers=bearer(bob["access_token"]))).json()
    assert as_bob["user_id"] == bob_me["id"]


async def test_bad_header_credential_is_401_even_where_auth_is_optional(
    probe_client: httpx.AsyncClient,
) -> None:
    for headers in (bearer("not.a.jwt"), {"X-API-Key": tokens.new_api_key()}):
        response = await probe_client.get("/optional", headers=headers)
        assert response.status_code == 401, headers
    assert (await probe_client.get("/optional")).json() == {"anonymous": True}


async def test_stale_cookie_is_anonymous_where_optional_and_401_where_required(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    expired = forged_token(settings.signing_key, exp=datetime.now(UTC) - timedelta(seconds=5))
    probe_client.cookies.set(ACCESS_COOKIE, expired)
    assert (await probe_client.get("/optional")).json() == {"anonymous": True}
    assert (await probe_client.get("/required")).status_code == 401


def forged_token(key: str, *, algorithm: str = "HS256", **claims: Any) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "sub": "123",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": "x",
        "typ": "access",
    }
    payload.update(claims)
    return jwt.encode({k: v for k, v in payload.items() if v is not None}, key, algorithm=algorithm)


@pytest.mark.parametrize(
    ("case", "claims"),
    [
        ("expired", {"exp": datetime.now(UTC) - timedelta(seconds=1)}),
        ("wrong type", {"typ": "refresh"}),
        ("no jti", {"jti": None}),
        ("non-numeric subject", {"sub": "admin"}),
    ],
)
async def test_access_tokens_with_bad_claims_are_refused(
    probe_client: httpx.AsyncClient, settings: Settings, case: str, claims: dict[str, Any]
) -> None:
    token = forged_token(settings.signing_key, **claims)
    response = await probe_client.get("/required", headers=bearer(token))
    assert response.status_code == 401, case
    assert response.json()["type"] == "/problems/invalid-token"


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
async def test_tokens_signed_with_another_key_or_algorithm_are_refused(
    probe_client: httpx.AsyncClient, settings: Settings
) -> None:
    other_key = forged_token("another-secret-that-is-long-enough-for-hs256!")
    unsigned = jwt.encode({"sub": "123", "typ": "access"}, None, algorithm="none")
    hs512 = forged_token(settings.signing_key, algorithm="HS512")
    for token in (other_key, unsigned, hs512):
        assert (await probe_client.get("/required", headers=bearer(token))).status_code == 401


def test_issued_access_token_carries_the_documented_claims(settings: Settings) -> None:
    now = utcnow().replace(microsecond=0)
    token = tokens.issue_access_token(settings, 42, now)
    claims = jwt.decode(token, settings.signing_key, algorithms=["HS256"])
    assert set(claims) == {"sub", "iat", "exp", "jti", "typ"}
    assert claims["sub"] == "42" and claims["typ"] == "access"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    decoded = tokens.decode_access_token(settings, token)
    assert decoded.user_id == 42 and decoded.issued_at == now
    assert tokens.issue_access_token(settings, 42, now) != token, "every token has its own jti"


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient, platform: Platform
) -> None:
    pair = await login(client)
    key = await make_key(client, pair["access_token"], ["feed:read"])

    async def last_used() -> datetime | None:
        async with platform.db.session() as session:
            return await session.scalar(select(ApiKey.last_used_at))

    responses = await asyncio.gather(
        *(probe_client.get("/required", headers={"X-API-Key": key}) for _ in range(10))
    )
    assert all(r.status_code == 200 for r in responses)
    first = await last_used()
    assert first is not None and utcnow() - first < timedelta(seconds=10)
    await probe_client.get("/required", headers={"X-API-Key": key})
    assert await last_used() == first, "used again within the minute: no write"

    async with platform.db.session() as session:
        await session.execute(update(ApiKey).values(last_used_at=first - timedelta(minutes=2)))
    forget_api_keys(platform)  # as if the key's 1-s cache entry had aged out, without waiting
    await probe_client.get("/required", headers={"X-API-Key": key})
    later = await last_used()
    assert later is not None and later > first


def test_api_key_cache_staleness_is_bounded_by_one_second() -> None:
    assert API_KEY_CACHE_SECONDS <= 1.0


async def test_a_key_revoked_elsewhere_stops_working_within_the_cache_ttl(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient, platform: Platform
) -> None:
    """Another process revoking the key (here: the row updated behind this process's back)
    takes effect once this process's cache entry ages out, and not before."""
    pair = await login(client)
    key = await make_key(client, pair["access_token"], ["feed:read"])
    api_key_cache(platform).ttl = 0.1
    assert (await probe_client.get("/required", headers={"X-API-Key": key})).status_code == 200
    async with platform.db.session() as session:
        await session.execute(update(ApiKey).values(revoked_at=utcnow()))
    cached = await probe_client.get("/required", headers={"X-API-Key": key})
    assert cached.status_code == 200, "served from the cache within its TTL"
    await asyncio.sleep(0.15)
    refused = await probe_client.get("/required", headers={"X-API-Key": key})
    assert refused.status_code == 401


async def test_concurrent_requests_of_one_uncached_key_share_one_lookup(
    client: httpx.AsyncClient, probe_client: httpx.AsyncClient, platform: Platform
) -> None:
    pair = await login(client)
    key = await make_key(client, pair["access_token"], ["feed:read"])
    forget_api_keys(platform)
    lookups: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().startswith("SELECT") and "FROM auth_api_keys" in statement:
            lookups.append(statement)

    engine = platform.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", count)
    try:
        responses = await asyncio.gather(
            *(probe_client.get("/required", headers={"X-API-Key": key}) for _ in range(10))
        )
    finally:
        event.remove(engine, "before_cursor_execute", count)
    assert [r.status_code for r in responses] == [200] * 10
    assert len(lookups) == 1


def test_a_lookup_that_raced_a_revocation_is_not_cached() -> None:
    cache = ApiKeyCache(ttl=60)
    principal = Principal(user_id=1, scopes=frozenset({"feed:read"}), api_key_id=2)
    generation = cache.generation  # a lookup starts…
    cache.clear()  # …a revocation commits in this process…
    cache.put("digest", principal, generation)  # …and the lookup's answer arrives
    assert cache.get("digest") is None
    cache.put("digest", principal, cache.generation)
    assert cache.get("digest") == principal


def test_a_full_cache_starts_over_instead_of_growing() -> None:
    cache = ApiKeyCache(ttl=60, max_entries=3)
    principal = Principal(user_id=1, scopes=frozenset(), api_key_id=2)
    for digest in ("a", "b", "c", "d"):
        cache.put(digest, principal, cache.generation)
    assert [cache.get(d) for d in ("a", "b", "c", "d")] == [None, None, None, principal]


def test_session_cookies_are_httponly_lax_and_secure_over_https(settings: Settings) -> None:
    from starlette.responses import Response

    pair = TokenPair(access_token="a.b.c", refresh_token="cbr_x", expires_in=900)
    response = Response()
    set_session_cookies(response, pair, settings.model_copy(update={"base_url": "https://x.io"}))
    cookies = response.headers.getlist("set-cookie")
    access = next(c for c in cookies if c.startswith(f"{ACCESS_COOKIE}="))
    refresh = next(c for c in cookies if c.startswith(f"{REFRESH_COOKIE}="))
    assert "HttpOnly" in access and "SameSite=lax" in access and "Secure" in access
    assert "Max-Age=900" in access
    assert "HttpOnly" in refresh and "SameSite=strict" in refresh
    assert f"Max-Age={settings.refresh_token_ttl_seconds}" in refresh

    plain = Response()
    set_session_cookies(plain, pair, settings.model_copy(update={"base_url": "http://x.io"}))
    assert all("Secure" not in c for c in plain.headers.getlist("set-cookie"))
