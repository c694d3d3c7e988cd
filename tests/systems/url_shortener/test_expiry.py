"""Link expiry: at an explicit `expires_at`, or after `inactivity_days` without a click (365 by
default, per link or globally); the last click time comes from the click flush. Expired: 410."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select, update

from casebook.platform.context import Platform
from casebook.systems.url_shortener import api, service
from casebook.systems.url_shortener import redirect as redirect_module
from casebook.systems.url_shortener.models import Link
from casebook.systems.url_shortener.runtime import Shortener
from tests.systems.url_shortener.conftest import API, Account, ShiftedClock, shorten

pytestmark = pytest.mark.feature("url-shortener", "link-expiry")


async def age(
    platform: Platform, code: str, *, created: timedelta, clicked: timedelta | None = None
) -> None:
    """Move a link's creation (and last click) into the past, as if time had passed."""
    now = datetime.now(UTC)
    async with platform.db.session() as session:
        await session.execute(
            update(Link)
            .where(Link.code == code)
            .values(created_at=now - created, last_click_at=now - clicked if clicked else None)
        )


async def test_an_explicit_expiry_answers_410_once_past(
    client: httpx.AsyncClient, alice: Account, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The link expires in an hour; the clocks of the redirect path, of expand and of the link
    # view are then moved past it, so the test does not race the real clock on a loaded machine.
    soon = datetime.now(UTC) + timedelta(hours=1)
    link = (
        await shorten(
            client, alice.headers, url="https://example.com/t", expires_at=soon.isoformat()
        )
    ).json()
    assert link["expires_at"] is not None
    assert (await client.get(f"/s/{link['code']}")).status_code == 302
    assert (await client.get(f"{API}/links/{link['code']}", headers=alice.headers)).json()[
        "expired"
    ] is False
    monkeypatch.setattr(redirect_module, "time", ShiftedClock(3601))
    monkeypatch.setattr(service, "time", ShiftedClock(3601))
    monkeypatch.setattr(api, "utcnow", lambda: datetime.now(UTC) + timedelta(seconds=3601))
    assert (await client.get(f"/s/{link['code']}")).status_code == 410
    assert (await client.get(f"{API}/links/{link['code']}/expand")).status_code == 410
    mine = (await client.get(f"{API}/links/{link['code']}", headers=alice.headers)).json()
    assert mine["expired"] is True


async def test_an_expiry_in_the_past_is_refused(client: httpx.AsyncClient, alice: Account) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    response = await shorten(client, alice.headers, url="https://example.com/", expires_at=past)
    assert response.status_code == 422
    assert response.json()["type"] == "/problems/url-shortener/invalid-expiry"
    naive = await shorten(
        client, alice.headers, url="https://example.com/", expires_at="2030-01-01T00:00:00"
    )
    assert naive.status_code == 422


async def test_a_year_without_clicks_expires_a_link(
    client: httpx.AsyncClient, alice: Account, platform: Platform
) -> None:
    idle = (await shorten(client, alice.headers, url="https://example.com/idle")).json()["code"]
    busy = (await shorten(client, alice.headers, url="https://example.com/busy")).json()["code"]
    await age(platform, idle, created=timedelta(days=366))
    await age(platform, busy, created=timedelta(days=400), clicked=timedelta(days=10))
    assert (await client.get(f"/s/{idle}")).status_code == 410
    assert (await client.get(f"/s/{busy}")).status_code == 302


async def test_the_inactivity_period_is_per_link_or_global(
    client: httpx.AsyncClient,
    alice: Account,
    platform: Platform,
    state: Shortener,
    configure: Callable[..., object],
) -> None:
    short = (
        await shorten(client, alice.headers, url="https://example.com/1", inactivity_days=1)
    ).json()["code"]
    default = (await shorten(client, alice.headers, url="https://example.com/2")).json()["code"]
    await age(platform, short, created=timedelta(days=2))
    await age(platform, default, created=timedelta(days=40))
    assert (await client.get(f"/s/{short}")).status_code == 410
    assert (await client.get(f"/s/{default}")).status_code == 302
    # Back to the global default (365 days): the link works again.
    await client.patch(
        f"{API}/links/{short}", json={"inactivity_days": None}, headers=alice.headers
    )
    assert (await client.get(f"/s/{short}")).status_code == 302
    configure(inactivity_days=30)
    await state.links.invalidate(0, default)  # a settings change applies as entries refresh
    assert (await client.get(f"/s/{default}")).status_code == 410


async def test_the_click_flush_sets_the_last_click_time(
    client: httpx.AsyncClient, alice: Account, platform: Platform, state: Shortener
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/c")).json()["code"]
    await client.get(f"/s/{code}")
    async with platform.db.session() as session:
        assert await session.scalar(select(Link.last_click_at).where(Link.code == code)) is None
    await state.clicks.flush()
    async with platform.db.session() as session:
        last = await session.scalar(select(Link.last_click_at).where(Link.code == code))
    assert last is not None and datetime.now(UTC) - last < timedelta(seconds=5)


async def test_a_cached_link_expires_when_its_inactivity_deadline_passes(
    client: httpx.AsyncClient, alice: Account, platform: Platform
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/d")).json()["code"]
    await age(platform, code, created=timedelta(days=365) - timedelta(milliseconds=150))
    assert (await client.get(f"/s/{code}", headers={"user-agent": "bot"})).status_code == 302
    await asyncio.sleep(0.2)
    assert (await client.get(f"/s/{code}")).status_code == 410


async def test_a_click_flushed_before_the_deadline_keeps_a_cached_link_alive(
    client: httpx.AsyncClient, alice: Account, platform: Platform, state: Shortener
) -> None:
    code = (await shorten(client, alice.headers, url="https://example.com/k")).json()["code"]
    await age(platform, code, created=timedelta(days=365) - timedelta(milliseconds=150))
    assert (await client.get(f"/s/{code}")).status_code == 302  # cached; one click buffered
    await state.clicks.flush()
    await asyncio.sleep(0.2)
    assert (await client.get(f"/s/{code}")).status_code == 302
