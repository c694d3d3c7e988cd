"""The demo data beyond spot: every perpetual quoted on both sides by the maker (the demo user
trades against it over HTTP), an open Launchpad sale the demo user committed to, and a margin
account with a level; loading twice adds nothing and the ledger verifies."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from casebook.engines.ledger.models import LedgerTransfer
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.models import MatchingOrder
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import demo_more, futures
from casebook.systems.binance.demo import DEMO, DEMO_PASSWORD, MAKER, load_demo
from casebook.systems.binance.launchpad_models import LaunchpadProject
from tests.systems.binance.spot_support import binance_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def _counts(platform: Platform) -> tuple[int, int, int]:
    async with platform.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(MatchingOrder))
        transfers = await session.scalar(select(func.count()).select_from(LedgerTransfer))
        projects = await session.scalar(select(func.count()).select_from(LaunchpadProject))
    return int(orders or 0), int(transfers or 0), int(projects or 0)


async def _demo_headers(client: httpx.AsyncClient) -> dict[str, str]:
    login = await client.post("/api/auth/login", json={"email": DEMO[0], "password": DEMO_PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.mark.feature("binance", "futures-trading")
async def test_loading_twice_adds_nothing_and_the_ledger_verifies(platform: Platform) -> None:
    await load_demo(platform)
    loaded = await _counts(platform)
    assert loaded[2] == 1
    await load_demo(platform)
    assert await _counts(platform) == loaded
    # The extension is idempotent on its own too, not only behind load_demo's spot check.
    async with platform.db.session() as session:
        ids = {
            email: await session.scalar(select(User.id).where(User.email == email))
            for email in (MAKER[0], DEMO[0])
        }
    maker_user, demo_user = ids[MAKER[0]], ids[DEMO[0]]
    assert maker_user is not None and demo_user is not None
    await demo_more.load_more(platform, maker_user, demo_user, DEMO_PASSWORD)
    assert await _counts(platform) == loaded
    async with platform.db.session() as session:
        # The maker and the demo user were funded through the futures transfer, once each.
        funded = await session.scalar(
            select(func.count())
            .select_from(LedgerTransfer)
            .where(LedgerTransfer.code == "futures-transfer-in")
        )
        assert funded == 2
        assert (await verify(session)).ok


@pytest.mark.feature("binance", "futures-trading")
async def test_every_perpetual_is_quoted_and_the_demo_user_trades_against_it(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    await load_demo(platform)
    venue = futures.futures_venue(platform)
    assert {i.symbol for i in venue.listed.values()} == {c.spec.symbol for c in futures.CONTRACTS}
    for instrument in venue.listed.values():
        book = venue.marketdata(instrument.id).l2(10)
        assert len(book["bids"]) == demo_more.LEVELS and len(book["asks"]) == demo_more.LEVELS
        quote = futures.prices(platform, instrument)
        assert quote.mid is not None
        assert book["bids"][0][0] < quote.index < book["asks"][0][0]
    headers = await _demo_headers(client)
    account = await client.get("/api/binance/futures/account", headers=headers)
    assert account.status_code == 200, account.text
    assert account.json()["wallet_balance"] == demo_more.FUTURES_USDT
    bought = await client.post(
        "/api/binance/futures/orders",
        json={"symbol": "BTCUSDT-PERP", "side": "buy", "type": "market", "qty": 3},
        headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert bought.status_code == 201, bought.text
    assert bought.json()["status"] == "filled"
    positions = await client.get("/api/binance/futures/positions", headers=headers)
    assert [(p["symbol"], p["qty"]) for p in positions.json()["items"]] == [("BTCUSDT-PERP", 3)]
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("binance", "launchpad")
async def test_the_demo_sale_is_open_with_the_demo_users_commitment(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    await load_demo(platform)
    listed = await client.get("/api/binance/launchpad/projects")
    assert listed.status_code == 200, listed.text
    (sale,) = listed.json()["items"]
    assert (sale["symbol"], sale["phase"], sale["participants"]) == ("CASE", "committing", 1)
    assert sale["total_committed"] == "100.00000000"
    mine = await client.get(
        f"/api/binance/launchpad/projects/{sale['id']}/my", headers=await _demo_headers(client)
    )
    assert mine.status_code == 200, mine.text
    assert mine.json()["committed"] == "100.00000000" and len(mine.json()["commits"]) == 1
    page = await client.get("/binance/launchpad")
    assert page.status_code == 200 and "Casebook Token" in page.text


@pytest.mark.feature("binance", "margin-trading")
async def test_the_demo_margin_account_shows_a_level(
    platform: Platform, client: httpx.AsyncClient
) -> None:
    await load_demo(platform)
    account = await client.get("/api/binance/margin/account", headers=await _demo_headers(client))
    assert account.status_code == 200, account.text
    body = account.json()
    assert body["status"] == "normal" and body["level"] is not None
    assert 4 < float(body["level"]) < 5  # (1,000 USDT + 0.005 BTC) / 0.005 BTC at about 60,000
    owed = {a["asset"]: a["borrowed"] for a in body["assets"]}
    assert owed["BTC"] == "0.00500000"
