"""The demo data: every pair quoted on both sides, the demo user funded with a trade done and
an API key; loading twice changes nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.engines.matching.models import MatchingOrder
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import apikeys, spot
from casebook.systems.binance.demo import DEMO, load_demo
from tests.systems.binance.spot_support import binance_app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


@pytest.mark.feature("binance", "market-data")
async def test_demo_quotes_every_pair_and_funds_the_demo_user(platform: Platform) -> None:
    await load_demo(platform)
    venue = spot.exchange(platform)
    for instrument in venue.listed.values():
        quote = venue.marketdata(instrument.id).l1()
        assert quote["bid_price"] is not None and quote["ask_price"] is not None
        assert quote["bid_price"] < quote["ask_price"]
    async with platform.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(MatchingOrder))
        demo_user = await session.scalar(select(User.id).where(User.email == DEMO[0]))
        assert demo_user is not None
        demo_account = await spot.existing_account(session, demo_user)
        assert demo_account is not None
        balances = {b.asset: b.total for b in await venue.balances(session, demo_account)}
        assert balances["BTC"] == 10_000_000 + 100_000  # 0.1 funded + 0.001 bought
        assert [k.label for k in await apikeys.list_keys(session, demo_user)] == ["demo"]
    await load_demo(platform)
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(MatchingOrder)) == orders
        assert (await verify(session)).ok
