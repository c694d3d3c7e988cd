"""Rate limits on shortening: per IP (stricter without signing in) and per API key, answered
with a 429 problem and Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import httpx
import pytest

from tests.systems.url_shortener.conftest import Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "rate-limits")


async def test_anonymous_shortening_is_limited_per_ip(
    client: httpx.AsyncClient, configure: Callable[..., object]
) -> None:
    configure(shorten_per_minute_anonymous=3)
    statuses = [
        (await shorten(client, url=f"https://example.com/{i}")).status_code for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]
    refused = await shorten(client, url="https://example.com/again")
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.json()["type"] == "/problems/rate-limited"


async def test_signed_in_callers_have_their_own_per_ip_limit(
    client: httpx.AsyncClient, alice: Account, configure: Callable[..., object]
) -> None:
    configure(shorten_per_minute_anonymous=1, shorten_per_minute_ip=3)
    assert (await shorten(client, url="https://example.com/anon")).status_code == 201
    assert (await shorten(client, url="https://example.com/anon2")).status_code == 429
    statuses = [
        (await shorten(client, alice.headers, url=f"https://example.com/{i}")).status_code
        for i in range(4)
    ]
    assert statuses == [201, 201, 201, 429]


async def test_each_api_key_has_its_own_limit(
    client: httpx.AsyncClient,
    alice: Account,
    api_key: Callable[[Account, list[str]], Awaitable[str]],
    configure: Callable[..., object],
) -> None:
    configure(shorten_per_minute_api_key=2, shorten_per_minute_ip=100)
    first = {"X-API-Key": await api_key(alice, ["url-shortener:write"])}
    second = {"X-API-Key": await api_key(alice, ["url-shortener:write"])}
    statuses = [
        (await shorten(client, first, url=f"https://example.com/{i}")).status_code for i in range(3)
    ]
    assert statuses == [201, 201, 429]
    assert (await shorten(client, second, url="https://example.com/2nd")).status_code == 201


async def test_a_limited_request_stores_nothing(
    client: httpx.AsyncClient, alice: Account, configure: Callable[..., object]
) -> None:
    configure(shorten_per_minute_ip=1)
    await shorten(client, alice.headers, url="https://example.com/1")
    assert (
        await shorten(client, alice.headers, url="https://example.com/2", alias="later")
    ).status_code == 429
    assert (await client.get("/s/later")).status_code == 404
