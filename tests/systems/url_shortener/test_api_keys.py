"""API: programmatic shorten, expand and analytics with scoped API keys, and Idempotency-Key on
create."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.systems.url_shortener.conftest import API, Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "api")

MakeKey = Callable[[Account, list[str]], Awaitable[str]]


async def test_a_write_key_shortens_and_a_read_key_reads(
    client: httpx.AsyncClient, alice: Account, api_key: MakeKey
) -> None:
    writer = {"X-API-Key": await api_key(alice, ["url-shortener:write"])}
    reader = {"Authorization": f"Bearer {await api_key(alice, ['url-shortener:read'])}"}
    created = await shorten(client, writer, url="https://example.com/api")
    assert created.status_code == 201
    code = created.json()["code"]
    listed = await client.get(f"{API}/links", headers=reader)
    assert [item["code"] for item in listed.json()["items"]] == [code]
    stats = await client.get(f"{API}/links/{code}/analytics", headers=reader)
    assert stats.status_code == 200
    expanded = await client.get(f"{API}/links/{code}/expand", headers=reader)
    assert expanded.json()["url"] == "https://example.com/api"


async def test_a_key_without_the_scope_is_refused(
    client: httpx.AsyncClient, alice: Account, api_key: MakeKey
) -> None:
    reader = {"X-API-Key": await api_key(alice, ["url-shortener:read"])}
    writer = {"X-API-Key": await api_key(alice, ["url-shortener:write"])}
    other = {"X-API-Key": await api_key(alice, ["another-system:write"])}
    refused = await shorten(client, reader, url="https://example.com/nope")
    assert refused.status_code == 403
    assert refused.json()["required_scope"] == "url-shortener:write"
    code = (await shorten(client, writer, url="https://example.com/w")).json()["code"]
    assert (await client.get(f"{API}/links/{code}/analytics", headers=writer)).status_code == 403
    assert (await client.get(f"{API}/links", headers=other)).status_code == 403
    assert (await client.delete(f"{API}/links/{code}", headers=reader)).status_code == 403
    assert (await client.delete(f"{API}/links/{code}", headers=writer)).status_code == 204


async def test_a_bad_key_is_a_401_even_where_anonymous_is_allowed(
    client: httpx.AsyncClient,
) -> None:
    response = await shorten(
        client, {"X-API-Key": "cbk_not-a-real-key"}, url="https://example.com/"
    )
    assert response.status_code == 401


async def test_idempotency_key_replays_the_first_link(
    client: httpx.AsyncClient, alice: Account, api_key: MakeKey
) -> None:
    headers = {"X-API-Key": await api_key(alice, ["url-shortener:write"]), "Idempotency-Key": "k-1"}
    first = await shorten(client, headers, url="https://example.com/once")
    again = await shorten(client, headers, url="https://example.com/once")
    assert first.status_code == again.status_code == 201
    assert again.json()["code"] == first.json()["code"]
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await shorten(client, headers, url="https://example.com/other")
    assert other_body.status_code == 422
    listed = await client.get(f"{API}/links", headers=alice.headers)
    assert len(listed.json()["items"]) == 1


async def test_the_openapi_document_describes_the_api(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        f"{API}/links",
        f"{API}/links/{{code}}",
        f"{API}/links/{{code}}/expand",
        f"{API}/links/{{code}}/analytics",
        f"{API}/expand",
        f"{API}/analytics",
        f"{API}/domains",
        f"{API}/domains/{{host}}/verify",
    ):
        assert path in paths, path
    assert "409" in paths[f"{API}/links"]["post"]["responses"]
    assert "429" in paths[f"{API}/links"]["post"]["responses"]
