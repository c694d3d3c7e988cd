"""Refresh tokens: rotation within a family, reuse detection, logout, expiry, storage."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
from sqlalchemy import select, update

from casebook.platform.auth import tokens
from casebook.platform.auth.models import RefreshToken
from casebook.platform.context import Platform
from casebook.platform.db import utcnow

PASSWORD = "correct horse battery"


async def login(client: httpx.AsyncClient) -> dict[str, str]:
    await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "display_name": "Ada"},
    )
    response = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    )
    assert response.status_code == 200
    body: dict[str, str] = response.json()
    return body


async def refresh(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post("/api/auth/refresh", json={"refresh_token": token})


async def stored_tokens(platform: Platform) -> list[RefreshToken]:
    async with platform.db.session() as session:
        return list((await session.scalars(select(RefreshToken))).all())


async def test_refresh_rotates_to_a_new_pair_in_the_same_family(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await login(client)
    response = await refresh(client, first["refresh_token"])
    assert response.status_code == 200
    second = response.json()
    assert second["refresh_token"] != first["refresh_token"]
    assert second["access_token"] != first["access_token"]
    me = await client.get(
        "/api/auth/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.status_code == 200
    rows = await stored_tokens(platform)
    assert len(rows) == 2
    assert len({row.family_id for row in rows}) == 1
    used = next(r for r in rows if r.token_hash == tokens.secret_digest(first["refresh_token"]))
    assert used.used_at is not None and used.revoked_at is None


async def test_refresh_tokens_are_stored_only_as_sha256(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    pair = await login(client)
    (row,) = await stored_tokens(platform)
    assert row.token_hash == tokens.secret_digest(pair["refresh_token"])
    assert pair["refresh_token"] not in row.token_hash


async def test_reused_refresh_token_revokes_the_family(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await login(client)
    second = (await refresh(client, first["refresh_token"])).json()
    third = (await refresh(client, second["refresh_token"])).json()

    replay = await refresh(client, first["refresh_token"])
    assert replay.status_code == 401
    assert replay.json()["type"] == "/problems/invalid-refresh-token"
    assert "already used" in replay.json()["detail"]

    assert (await refresh(client, third["refresh_token"])).status_code == 401
    assert all(row.revoked_at is not None for row in await stored_tokens(platform))


async def test_reuse_revokes_only_that_family(client: httpx.AsyncClient) -> None:
    laptop = await login(client)
    phone = (
        await client.post(
            "/api/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
        )
    ).json()
    await refresh(client, laptop["refresh_token"])
    assert (await refresh(client, laptop["refresh_token"])).status_code == 401
    assert (await refresh(client, phone["refresh_token"])).status_code == 200


async def test_concurrent_refreshes_of_one_token_rotate_once_then_revoke_the_family(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    pair = await login(client)
    responses = await asyncio.gather(*(refresh(client, pair["refresh_token"]) for _ in range(10)))
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [r.status_code for r in responses]
    assert all(r.status_code == 401 for r in responses if r.status_code != 200)
    # The losers presented a used token: the winner's new token dies with its family.
    assert (await refresh(client, winners[0].json()["refresh_token"])).status_code == 401
    rows = await stored_tokens(platform)
    assert len(rows) == 2
    assert all(row.revoked_at is not None for row in rows)


async def test_logout_revokes_the_family_and_is_repeatable(
    client: httpx.AsyncClient,
) -> None:
    first = await login(client)
    second = (await refresh(client, first["refresh_token"])).json()
    response = await client.post("/api/auth/logout", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 204
    assert (await refresh(client, second["refresh_token"])).status_code == 401
    again = await client.post("/api/auth/logout", json={"refresh_token": second["refresh_token"]})
    assert again.status_code == 204
    unknown = await client.post("/api/auth/logout", json={"refresh_token": "cbr_nothing"})
    assert unknown.status_code == 204


async def test_expired_refresh_token_is_refused_without_revoking_anything(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    pair = await login(client)
    async with platform.db.session() as session:
        await session.execute(
            update(RefreshToken).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    response = await refresh(client, pair["refresh_token"])
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    (row,) = await stored_tokens(platform)
    assert row.used_at is None and row.revoked_at is None


async def test_malformed_and_unknown_refresh_tokens_get_401(client: httpx.AsyncClient) -> None:
    for token in ["", "garbage", tokens.new_refresh_token(), tokens.new_api_key()]:
        response = await refresh(client, token)
        assert response.status_code == 401, token
        assert response.json()["type"] == "/problems/invalid-refresh-token"


async def test_new_refresh_token_lives_the_configured_ttl(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    before = utcnow()
    await login(client)
    (row,) = await stored_tokens(platform)
    ttl = timedelta(seconds=platform.settings.refresh_token_ttl_seconds)
    assert before + ttl <= row.expires_at <= utcnow() + ttl
