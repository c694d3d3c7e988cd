"""Analytics: clicks are buffered off the redirect path and written in batches (with the link's
counter) by a background task; the owner alone reads clicks over time, referrers, countries and
user agents."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import func, select

from casebook.app import create_app
from casebook.platform.context import Platform
from casebook.platform.db import Database
from casebook.platform.settings import Settings
from casebook.systems.url_shortener import service
from casebook.systems.url_shortener.clicks import (
    ClickRecorder,
    agent_family,
    country_code,
    referrer_host,
)
from casebook.systems.url_shortener.models import ClickCount, Link
from casebook.systems.url_shortener.runtime import Shortener, shortener
from tests.systems.url_shortener.conftest import API, Account, shorten

pytestmark = pytest.mark.feature("url-shortener", "analytics")

CHROME = (
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)
FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0"


async def click_rows(platform: Platform) -> int:
    """Clicks written to the rollup table."""
    async with platform.db.session() as session:
        return int(await session.scalar(select(func.sum(ClickCount.clicks))) or 0)


@pytest.mark.usefixtures("manual_flush")
async def test_a_click_is_buffered_then_written_with_the_link_counter(
    client: httpx.AsyncClient, alice: Account, state: Shortener, platform: Platform
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/a")).json()
    await client.get(f"/s/{link['code']}")
    assert state.clicks.pending == 1
    assert await click_rows(platform) == 0  # nothing written on the redirect path
    assert await state.clicks.flush() == 1
    assert await click_rows(platform) == 1
    mine = (await client.get(f"{API}/links/{link['code']}", headers=alice.headers)).json()
    assert mine["click_count"] == 1
    assert mine["last_click_at"] is not None


@pytest.mark.usefixtures("manual_flush")
async def test_one_flush_counts_every_link_of_the_batch(
    client: httpx.AsyncClient, alice: Account, state: Shortener
) -> None:
    first = (await shorten(client, alice.headers, url="https://example.com/1")).json()
    second = (await shorten(client, alice.headers, url="https://example.com/2")).json()
    await asyncio.gather(
        *(client.get(f"/s/{first['code']}") for _ in range(20)),
        *(client.get(f"/s/{second['code']}") for _ in range(10)),
    )
    assert await state.clicks.flush() == 30
    counts = {}
    for link in (first, second):
        body = (await client.get(f"{API}/links/{link['code']}", headers=alice.headers)).json()
        counts[link["code"]] = body["click_count"]
    assert counts == {first["code"]: 20, second["code"]: 10}


async def test_the_background_task_flushes_once_enough_distinct_counters_wait(
    client: httpx.AsyncClient,
    alice: Account,
    state: Shortener,
    platform: Platform,
    configure: Callable[..., object],
) -> None:
    # The early flush counts distinct counters, not clicks: repeats of one key never trigger it.
    configure(click_flush_keys=5, click_flush_interval_seconds=30)
    link = (await shorten(client, alice.headers, url="https://example.com/batch")).json()
    for _ in range(10):
        await client.get(f"/s/{link['code']}", headers={"User-Agent": "same"})
    await asyncio.sleep(0.1)
    assert await click_rows(platform) == 0
    for agent in range(4):
        await client.get(f"/s/{link['code']}", headers={"User-Agent": f"agent {agent}"})
    for _ in range(50):
        if await click_rows(platform) == 14:
            break
        await asyncio.sleep(0.02)
    assert await click_rows(platform) == 14


async def test_the_background_task_flushes_on_its_interval(
    client: httpx.AsyncClient,
    alice: Account,
    platform: Platform,
    configure: Callable[..., object],
) -> None:
    configure(click_flush_interval_seconds=0.05)
    link = (await shorten(client, alice.headers, url="https://example.com/tick")).json()
    await client.get(f"/s/{link['code']}")
    await asyncio.sleep(0.2)  # the task's wait set before configure() may still be running
    for _ in range(50):
        if await click_rows(platform) == 1:
            break
        await asyncio.sleep(0.02)
    assert await click_rows(platform) == 1


async def test_shutdown_flushes_the_buffer(settings: Settings) -> None:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        state = shortener(application.state.platform)
        state.configure(
            state.config.model_copy(
                update={"click_flush_interval_seconds": 3600, "click_flush_keys": 10_000}
            )
        )
        code = (await service.shorten(state, None, "https://example.com/")).link.code
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            for _ in range(3):
                assert (await http.get(f"/s/{code}")).status_code == 302
        assert state.clicks.pending == 3
    database = Database(settings.resolved_database_url)
    try:
        async with database.session() as session:
            count = await session.scalar(select(Link.click_count).where(Link.code == code))
            rows = await session.scalar(select(func.sum(ClickCount.clicks)))
    finally:
        await database.dispose()
    assert count == 3
    assert rows == 3


@pytest.mark.usefixtures("manual_flush")
async def test_clicks_of_a_link_deleted_before_the_flush_are_dropped(
    client: httpx.AsyncClient, alice: Account, state: Shortener, platform: Platform
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/gone")).json()
    await client.get(f"/s/{link['code']}")
    await client.delete(f"{API}/links/{link['code']}", headers=alice.headers)
    assert await state.clicks.flush() == 0
    assert await click_rows(platform) == 0


@pytest.mark.usefixtures("manual_flush")
async def test_analytics_report_time_buckets_referrers_countries_and_agents(
    client: httpx.AsyncClient, alice: Account, state: Shortener
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/stats")).json()
    path = f"/s/{link['code']}"
    for _ in range(3):
        await client.get(
            path,
            headers={
                "referer": "https://news.ycombinator.com/item?id=1",
                "user-agent": CHROME,
                "cf-ipcountry": "de",
            },
        )
    await client.get(path, headers={"user-agent": FIREFOX, "cf-ipcountry": "US"})
    await client.get(path, headers={"user-agent": "curl/8.5.0", "x-country": "FR"})
    await state.clicks.flush()

    daily = await client.get(f"{API}/links/{link['code']}/analytics", headers=alice.headers)
    assert daily.status_code == 200, daily.text
    body = daily.json()
    assert body["total_clicks"] == 5
    assert body["clicks_in_range"] == 5
    assert body["bucket"] == "day"
    assert len(body["series"]) in {30, 31}
    assert body["series"][-1]["clicks"] == 5
    assert sum(b["clicks"] for b in body["series"]) == 5
    assert body["referrers"] == [
        {"value": "news.ycombinator.com", "clicks": 3},
        {"value": None, "clicks": 2},
    ]
    assert {c["value"]: c["clicks"] for c in body["countries"]} == {"DE": 3, "US": 1, None: 1}
    assert {a["value"]: a["clicks"] for a in body["agents"]} == {
        "chrome": 3,
        "firefox": 1,
        "cli": 1,
    }

    hourly = await client.get(
        f"{API}/links/{link['code']}/analytics", params={"bucket": "hour"}, headers=alice.headers
    )
    series = hourly.json()["series"]
    assert len(series) in {48, 49}
    assert series[-1]["clicks"] == 5
    start = datetime.fromisoformat(series[-1]["start"])
    assert start.minute == 0 and start <= datetime.now(UTC) < start + timedelta(hours=1)

    seed_style = await client.get(
        f"{API}/analytics", params={"short_url": link["short_url"]}, headers=alice.headers
    )
    assert seed_style.json()["total_clicks"] == 5


async def test_only_the_owner_reads_analytics(
    client: httpx.AsyncClient, alice: Account, bob: Account
) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/private")).json()
    theirs = await client.get(f"{API}/links/{link['code']}/analytics", headers=bob.headers)
    assert theirs.status_code == 404
    by_url = await client.get(
        f"{API}/analytics", params={"short_url": link["short_url"]}, headers=bob.headers
    )
    assert by_url.status_code == 404
    assert (await client.get(f"{API}/links/{link['code']}/analytics")).status_code == 401


async def test_too_long_a_range_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    link = (await shorten(client, alice.headers, url="https://example.com/r")).json()
    response = await client.get(
        f"{API}/links/{link['code']}/analytics",
        params={"bucket": "hour", "since": "2024-01-01T00:00:00Z", "until": "2024-03-01T00:00:00Z"},
        headers=alice.headers,
    )
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/url-shortener/invalid-range"
    backwards = await client.get(
        f"{API}/links/{link['code']}/analytics",
        params={"since": "2024-03-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
        headers=alice.headers,
    )
    assert backwards.status_code == 422


def test_click_fields_are_parsed_from_raw_headers() -> None:
    assert referrer_host(b"https://Sub.Example.COM:8443/path?q") == "sub.example.com"
    assert referrer_host(b"not a url") is None
    assert referrer_host(None) is None
    assert country_code(b"gb") == "GB"
    assert country_code(b"Germany") is None
    assert country_code(b"1A") is None
    assert agent_family(CHROME.encode()) == "chrome"
    assert agent_family(FIREFOX.encode()) == "firefox"
    assert agent_family(b"Mozilla/5.0 ... Chrome/126.0 Safari/537.36 Edg/126.0") == "edge"
    assert agent_family(b"Mozilla/5.0 (compatible; Googlebot/2.1)") == "bot"
    assert (
        agent_family(
            b"Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17 Safari/604.1"
        )
        == "safari"
    )
    assert agent_family(None) == "other"


@pytest.mark.usefixtures("manual_flush")
async def test_two_processes_flushing_the_same_links_at_once_both_count(
    state: Shortener, platform: Platform
) -> None:
    """Two workers' batches touch the same links, clicked in opposite orders; each flush locks
    the rows in id order, so one waits for the other instead of the two deadlocking (in click
    order, PostgreSQL detected a deadlock on 300 links and failed one flush)."""
    links = [
        (await service.shorten(state, None, f"https://example.com/{n}")).link for n in range(300)
    ]
    ids = [link.id for link in links]
    other = ClickRecorder(platform.db, state.config)  # the second worker's buffer
    rounds = 5
    for _ in range(rounds):
        now = time.time()
        for link_id in ids:
            state.clicks.record(link_id, now, None, None, None)
        for link_id in reversed(ids):
            other.record(link_id, now, None, None, None)
        assert await asyncio.gather(state.clicks.flush(), other.flush()) == [300, 300]
    async with platform.db.session() as session:
        counts = set(await session.scalars(select(Link.click_count).where(Link.id.in_(ids))))
    assert counts == {2 * rounds}


async def rollup(platform: Platform, link_id: int) -> list[tuple[object, ...]]:
    async with platform.db.session() as session:
        rows = await session.execute(
            select(
                ClickCount.referrer_host, ClickCount.country, ClickCount.agent, ClickCount.clicks
            )
            .where(ClickCount.link_id == link_id)
            .order_by(ClickCount.referrer_host, ClickCount.country, ClickCount.agent)
        )
        return [tuple(row) for row in rows]


@pytest.mark.usefixtures("manual_flush")
async def test_clicks_are_stored_rolled_up_per_hour_referrer_country_and_agent(
    state: Shortener, platform: Platform
) -> None:
    """A batch writes one row per distinct (hour, referrer host, country, agent family); raw
    headers that parse alike share a row, and a later batch adds to the rows it shares."""
    link = (await service.shorten(state, None, "https://example.com/rollup")).link
    now = time.time()
    chrome = CHROME.encode()
    for _ in range(500):
        state.clicks.record(link.id, now, b"https://t.co/abc", b"de", chrome)
    state.clicks.record(link.id, now, b"https://T.co:443/other?x", b"DE", chrome)
    state.clicks.record(link.id, now, None, None, b"curl/8.5.0")
    assert state.clicks.pending == 502
    assert len(state.clicks.counts) == 3
    assert await state.clicks.flush() == 502
    assert await rollup(platform, link.id) == [("", "", "cli", 1), ("t.co", "DE", "chrome", 501)]

    state.clicks.record(link.id, now, b"https://t.co/", b"DE", chrome)
    assert await state.clicks.flush() == 1
    assert await rollup(platform, link.id) == [("", "", "cli", 1), ("t.co", "DE", "chrome", 502)]
    async with platform.db.session() as session:
        count = await session.scalar(select(Link.click_count).where(Link.id == link.id))
    assert count == 503


@pytest.mark.usefixtures("manual_flush")
async def test_a_failed_flush_keeps_its_clicks_and_the_buffer_limit_drops_the_oldest(
    state: Shortener,
    platform: Platform,
    configure: Callable[..., object],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    configure(click_buffer_limit=5)
    old = (await service.shorten(state, None, "https://example.com/old")).link
    new = (await service.shorten(state, None, "https://example.com/new")).link
    now = time.time()
    for _ in range(4):
        state.clicks.record(old.id, now, None, None, None)

    async def unreachable(*_: object) -> int:
        state.clicks.record(new.id, now, None, None, None)  # arrives during the flush
        state.clicks.record(new.id, now, None, None, None)
        raise ConnectionError("database down")

    monkeypatch.setattr(state.clicks, "_write", unreachable)
    with pytest.raises(ConnectionError):
        await state.clicks.flush()
    assert state.clicks.pending == 5
    assert state.clicks.dropped == 1
    monkeypatch.undo()
    assert await state.clicks.flush() == 5
    async with platform.db.session() as session:
        counts = dict(
            (
                await session.execute(
                    select(Link.id, Link.click_count).where(Link.id.in_([old.id, new.id]))
                )
            ).all()
        )
    assert counts == {old.id: 3, new.id: 2}
