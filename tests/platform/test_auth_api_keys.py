"""API keys: created once in clear, stored hashed, listed by cursor, scoped, revocable by owner."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.auth import tokens
from casebook.platform.auth.models import ApiKey
from casebook.platform.context import Platform

PASSWORD = "correct horse battery"


async def session_headers(
    client: httpx.AsyncClient, email: str = "ada@example.com"
) -> dict[str, str]:
    await client.post(
        "/api/auth/register", json={"email": email, "password": PASSWORD, "display_name": "U"}
    )
    response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def create_key(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    name: str = "deploy bot",
    scopes: list[str] | None = None,
) -> httpx.Response:
    body = {"name": name, "scopes": scopes or ["url-shortener:write"]}
    return await client.post("/api/auth/api-keys", json=body, headers=headers)


async def test_created_key_is_shown_once_and_stored_only_as_hash_and_prefix(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    headers = await session_headers(client)
    response = await create_key(client, headers, scopes=["url-shortener:write", "feed:read"])
    assert response.status_code == 201
    created = response.json()
    key = created["key"]
    assert key.startswith("cbk_") and len(key) == 47
    assert created["prefix"] == key[:12]
    assert created["scopes"] == ["feed:read", "url-shortener:write"]
    assert isinstance(created["id"], str) and created["last_used_at"] is None

    async with platform.db.session() as session:
        row = (await session.scalars(select(ApiKey))).one()
    assert row.key_hash == tokens.secret_digest(key)
    assert key not in (row.key_hash, row.prefix)

    listed = (await client.get("/api/auth/api-keys", headers=headers)).json()
    assert [item["id"] for item in listed["items"]] == [created["id"]]
    assert "key" not in listed["items"][0]
    assert listed["items"][0]["prefix"] == created["prefix"]


async def test_key_authenticates_by_bearer_and_by_x_api_key(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    key = (await create_key(client, headers)).json()["key"]
    for key_headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        response = await client.get("/api/auth/me", headers=key_headers)
        assert response.status_code == 200
        assert response.json()["email"] == "ada@example.com"


async def test_revoked_key_stops_working_at_once(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    created = (await create_key(client, headers)).json()
    assert (await client.get("/api/auth/me", headers={"X-API-Key": created["key"]})).is_success
    deleted = await client.delete(f"/api/auth/api-keys/{created['id']}", headers=headers)
    assert deleted.status_code == 204
    refused = await client.get("/api/auth/me", headers={"X-API-Key": created["key"]})
    assert refused.status_code == 401
    assert refused.json()["type"] == "/problems/invalid-api-key"
    listed = (await client.get("/api/auth/api-keys", headers=headers)).json()
    assert listed["items"] == []
    again = await client.delete(f"/api/auth/api-keys/{created['id']}", headers=headers)
    assert again.status_code == 404


async def test_unknown_and_malformed_keys_get_401(client: httpx.AsyncClient) -> None:
    for key in [tokens.new_api_key(), "cbk_short", "cbk_" + "!" * 43]:
        response = await client.get("/api/auth/me", headers={"X-API-Key": key})
        assert response.status_code == 401, key


async def test_another_users_key_is_not_found_and_not_listed(client: httpx.AsyncClient) -> None:
    ada = await session_headers(client, "ada@example.com")
    bob = await session_headers(client, "bob@example.com")
    ada_key = (await create_key(client, ada)).json()
    response = await client.delete(f"/api/auth/api-keys/{ada_key['id']}", headers=bob)
    assert response.status_code == 404
    assert response.json()["type"] == "/problems/api-key-not-found"
    assert (await client.get("/api/auth/api-keys", headers=bob)).json()["items"] == []
    assert (await client.get("/api/auth/me", headers={"X-API-Key": ada_key["key"]})).is_success


async def test_an_api_key_cannot_create_list_or_revoke_keys(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    created = (await create_key(client, headers)).json()
    as_key = {"X-API-Key": created["key"]}
    assert (await create_key(client, as_key)).status_code == 403
    assert (await client.get("/api/auth/api-keys", headers=as_key)).status_code == 403
    response = await client.delete(f"/api/auth/api-keys/{created['id']}", headers=as_key)
    assert response.status_code == 403


async def test_key_management_needs_a_login(client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/auth/api-keys")).status_code == 401
    body = {"name": "x", "scopes": ["feed:read"]}
    assert (await client.post("/api/auth/api-keys", json=body)).status_code == 401


@pytest.mark.parametrize(
    "scopes",
    [[], ["URL-shortener"], ["url shortener"], ["feed:"], [":feed"], ["*"], ["a" * 65], ["x"] * 33],
)
async def test_malformed_scopes_are_422(client: httpx.AsyncClient, scopes: list[str]) -> None:
    headers = await session_headers(client)
    response = await client.post(
        "/api/auth/api-keys", json={"name": "k", "scopes": scopes}, headers=headers
    )
    assert response.status_code == 422


async def test_key_names_are_validated(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    assert (await create_key(client, headers, name="  ")).status_code == 422
    assert (await create_key(client, headers, name="x" * 101)).status_code == 422
    response = await create_key(client, headers, name="  ci  ")
    assert response.json()["name"] == "ci"


async def test_key_list_pages_newest_first_by_cursor(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    ids = [(await create_key(client, headers, name=f"k{i}")).json()["id"] for i in range(5)]
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/auth/api-keys", params=params, headers=headers)).json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == list(reversed(ids))


async def test_key_list_refuses_a_tampered_cursor(client: httpx.AsyncClient) -> None:
    headers = await session_headers(client)
    response = await client.get("/api/auth/api-keys?cursor=not-a-cursor", headers=headers)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/invalid-cursor"


async def test_delete_with_an_out_of_range_id_is_a_422_not_a_500(
    client: httpx.AsyncClient,
) -> None:
    headers = await session_headers(client)
    response = await client.delete(f"/api/auth/api-keys/{2**64}", headers=headers)
    assert response.status_code == 422
