"""Cache-first redirect: the lean ASGI handler answers from the cache without touching the
database, remembers unknown codes briefly, and forgets a link when it changes."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import REGISTRY
from starlette.routing import Route

from casebook.platform.context import Platform
from casebook.platform.metrics import fold_all
from casebook.platform.settings import Settings
from casebook.systems.url_shortener.linkcache import cache_key, encode_target
from casebook.systems.url_shortener.runtime import Shortener
from tests.systems.url_shortener.conftest import API, Account, StatementCounter, shorten

pytestmark = pytest.mark.feature("url-shortener", "cache-first-redirect")


async def test_a_cached_code_is_redirected_without_any_sql(
    client: httpx.AsyncClient, alice: Account, sql: StatementCounter
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/hot")).json()
    first = await client.get(f"/s/{link['code']}")  # fills the cache
    assert first.status_code == 302
    before = sql.count
    for _ in range(50):
        response = await client.get(f"/s/{link['code']}")
        assert response.status_code == 302
        assert response.headers["location"] == "https://example.com/hot"
    assert sql.count == before


async def test_a_cold_code_costs_one_query_then_none(
    client: httpx.AsyncClient, alice: Account, sql: StatementCounter
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/cold")).json()
    before = sql.count
    await client.get(f"/s/{link['code']}")
    assert sql.count == before + 1
    await client.get(f"/s/{link['code']}")
    assert sql.count == before + 1


async def test_unknown_codes_are_cached_as_unknown(
    client: httpx.AsyncClient, sql: StatementCounter
) -> None:
    assert (await client.get("/s/bogus12")).status_code == 404
    before = sql.count
    for _ in range(20):
        assert (await client.get("/s/bogus12")).status_code == 404
    assert sql.count == before


async def test_a_code_created_after_a_miss_resolves_at_once(
    client: httpx.AsyncClient, alice: Account
) -> None:
    assert (await client.get("/s/later")).status_code == 404
    await shorten(client, alice.headers, url="https://example.com/later", alias="later")
    assert (await client.get("/s/later")).status_code == 302


async def test_editing_the_target_takes_effect_on_the_next_redirect(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/v1")).json()
    assert (await client.get(f"/s/{link['code']}")).headers["location"] == "https://example.com/v1"
    changed = await client.patch(
        f"{API}/links/{link['code']}",
        json={"url": "https://example.com/v2", "redirect_type": 301},
        headers=alice.headers,
    )
    assert changed.status_code == 200
    response = await client.get(f"/s/{link['code']}")
    assert response.status_code == 301
    assert response.headers["location"] == "https://example.com/v2"


async def test_changing_the_expiry_takes_effect_on_the_next_redirect(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/e")).json()
    path, edit = f"/s/{link['code']}", f"{API}/links/{link['code']}"
    assert (await client.get(path)).status_code == 302  # cached with no expiry
    soon = datetime.now(UTC) + timedelta(milliseconds=150)
    await client.patch(edit, json={"expires_at": soon.isoformat()}, headers=alice.headers)
    assert (await client.get(path)).status_code == 302
    await asyncio.sleep(0.2)
    assert (await client.get(path)).status_code == 410
    await client.patch(edit, json={"expires_at": None}, headers=alice.headers)
    assert (await client.get(path)).status_code == 302


async def test_deleting_takes_effect_on_the_next_redirect(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/del")).json()
    assert (await client.get(f"/s/{link['code']}")).status_code == 302
    await client.delete(f"{API}/links/{link['code']}", headers=alice.headers)
    assert (await client.get(f"/s/{link['code']}")).status_code == 410


def test_no_fastapi_route_serves_redirects(app: FastAPI) -> None:
    """The redirect is the fast path's alone: FastAPI has no route for /s/… to fall back on."""
    paths = [r.path for r in app.routes if isinstance(r, Route)]
    assert not [p for p in paths if p.startswith("/s/") or p == "/{code}"]


async def test_fast_path_errors_are_problem_json(client: httpx.AsyncClient) -> None:
    response = await client.get("/s/x")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json() == {
        "type": "/problems/url-shortener/link-not-found",
        "title": "No such short link",
        "status": 404,
        "detail": "There is no short link 'x'.",
    }


async def test_an_entry_cached_from_a_read_racing_an_edit_is_dropped_again(
    client: httpx.AsyncClient,
    alice: Account,
    state: Shortener,
    configure: Callable[..., object],
) -> None:
    """A redirect that read the row just before an edit committed may write the old target to
    the cache just after the edit's invalidation; the second drop removes it."""
    configure(cache_redelete_seconds=0.05)
    link = (await shorten(client, alice.headers, url="https://example.com/old")).json()
    code = link["code"]
    old = await state.links.resolve(0, code)  # what the racing read saw
    assert old is not None
    await client.patch(
        f"{API}/links/{code}", json={"url": "https://example.com/new"}, headers=alice.headers
    )
    await state.platform.cache.set(cache_key(0, code), encode_target(old), 300)  # its late write
    assert (await client.get(f"/s/{code}")).headers["location"] == "https://example.com/old"
    await asyncio.sleep(0.1)
    assert (await client.get(f"/s/{code}")).headers["location"] == "https://example.com/new"


async def test_with_redis_another_process_sees_an_edit_within_its_local_ttl(
    settings: Settings, client: httpx.AsyncClient, alice: Account, state: Shortener
) -> None:
    if not settings.uses_redis:
        pytest.skip("embedded processes share no cache; this needs the Redis backend")
    other = Platform.start(settings)
    peer = Shortener(other, state.config.model_copy(update={"local_cache_ttl_seconds": 0.1}))
    try:
        code = (await shorten(client, alice.headers, url="https://example.com/v1")).json()["code"]
        seen = await peer.links.resolve(0, code)
        assert seen is not None and seen.location == b"https://example.com/v1"
        await client.patch(
            f"{API}/links/{code}", json={"url": "https://example.com/v2"}, headers=alice.headers
        )
        await asyncio.sleep(0.15)
        seen = await peer.links.resolve(0, code)
        assert seen is not None and seen.location == b"https://example.com/v2"
    finally:
        await peer.links.close()
        await other.close()


@pytest.mark.feature("url-shortener", "cache-first-redirect")
async def test_fast_path_redirects_are_counted_under_their_route(client: httpx.AsyncClient) -> None:
    missing = await client.get("/s/nosuchcode")
    assert missing.status_code == 404
    metrics = (await client.get("/metrics")).text
    assert 'route="/s/{code}"' in metrics


def _redirect_count(status: int) -> float:
    fold_all()  # as rendering /metrics does
    labels = {"method": "GET", "route": "/s/{code}", "status": str(status)}
    return REGISTRY.get_sample_value("casebook_http_requests_total", labels) or 0.0


async def test_redirects_are_answered_in_front_of_every_framework_middleware(
    client: httpx.AsyncClient, alice: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/front")).json()
    before = _redirect_count(302)
    redirect = await client.get(f"/s/{link['code']}")
    assert redirect.status_code == 302
    # The request-id middleware never saw the redirect; it still serves everything else.
    assert "x-request-id" not in redirect.headers
    assert "x-request-id" in (await client.get("/healthz")).headers
    # The fast path counted its own answer in the platform's series.
    assert _redirect_count(302) == before + 1


async def test_a_failed_lookup_is_answered_with_a_problem_500_and_counted(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # A corrupt shared entry makes the lookup raise, like an unreachable database on a miss.
    await platform.cache.set(cache_key(0, "brokenx"), b"not an entry")
    before = _redirect_count(500)
    response = await client.get("/s/brokenx")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"] == "/problems/internal-error"
    assert _redirect_count(500) == before + 1
