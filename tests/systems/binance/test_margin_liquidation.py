"""Margin calls and liquidation, end to end against real liquidity on the BTCUSDT book: a
margin long bought with borrowed USDT, the index moved by real trades, the risk pass flags a
margin call once per crossing, liquidates below 1.1 with IOC orders from the margin account, and
a loss beyond the collateral lands on the house's loss account, never on a negative balance."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from casebook.engines.matching.types import Side
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import margin, spot
from casebook.systems.binance.margin_models import BinanceMarginEvent
from tests.systems.binance.margin_support import (
    books_balance,
    borrow,
    house,
    limit,
    margin_transfer,
    print_trade,
    state,
    units,
    venue_account,
)
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "margin-trading")
LONG_LOTS = 3_300
"""0.033 BTC: what 2,000 USDT buys at 60,000 with its fee."""


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def _leveraged_long(
    client: httpx.AsyncClient, platform: Platform
) -> tuple[User, margin.MarginState, int, int]:
    """A user with 1,000 USDT of collateral and 1,000 USDT borrowed, long 0.033 BTC bought at
    60,000 from a maker's ask; returns (user, state, maker account, taker account)."""
    maker = await venue_account(platform, "test:maker", {"BTC": "10", "USDT": "1000000"})
    taker = await venue_account(platform, "test:taker", {"BTC": "10", "USDT": "1000000"})
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "1000")
    opened = await margin_transfer(platform, user.user_id, "USDT", "1000")
    await borrow(platform, user.user_id, "USDT", units("1000"))
    await limit(platform, maker, Side.SELL, 60_000, LONG_LOTS)
    bought = await limit(platform, opened.account_id, Side.BUY, 60_000, LONG_LOTS, "ioc")
    assert bought.status == "filled"
    now = await state(platform, user.user_id)
    assert now.position("BTC").total == units("0.033")
    return user, now, maker, taker


async def _events(platform: Platform, user_id: int) -> list[str]:
    async with platform.db.session() as session:
        rows = await session.scalars(
            select(BinanceMarginEvent.kind)
            .where(BinanceMarginEvent.user_id == user_id)
            .order_by(BinanceMarginEvent.id)
        )
        return list(rows)


async def test_a_margin_call_is_raised_once_per_crossing_and_cleared_on_recovery(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user, _, maker, taker = await _leveraged_long(client, platform)
    venue = spot.exchange(platform)
    await print_trade(platform, maker, taker, 36_000)  # 0.033·36,000 + 18.02 = 1,206.02 → 1.206
    assert await margin.check_account(platform, venue, user.user_id) == "margin_calls"
    assert await margin.check_account(platform, venue, user.user_id) == ""
    flagged = await state(platform, user.user_id)
    assert flagged.status == "margin_call" and flagged.as_dict()["margin_call"] is True
    assert flagged.as_dict()["level"].startswith("1.20")
    await print_trade(platform, maker, taker, 50_000)
    await margin.check_account(platform, venue, user.user_id)
    assert (await state(platform, user.user_id)).status == "normal"
    await print_trade(platform, maker, taker, 36_000)
    assert await margin.check_account(platform, venue, user.user_id) == "margin_calls"
    assert await _events(platform, user.user_id) == ["margin_call", "margin_call"]
    await books_balance(platform)


async def test_below_1_1_the_engine_sells_the_collateral_and_repays_the_loan(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user, before, maker, taker = await _leveraged_long(client, platform)
    venue = spot.exchange(platform)
    resting = await limit(platform, before.account_id, Side.SELL, 70_000, 100)
    await print_trade(platform, maker, taker, 32_000)  # 1,056 + 18.02 over 1,000 → 1.074
    await limit(platform, maker, Side.BUY, 31_990, 10_000)
    counts = await margin.check_accounts(platform)
    assert counts == {"margin_calls": 0, "liquidations": 1}
    after = await state(platform, user.user_id)
    assert after.status == "normal"
    assert after.position("USDT").owed == 0 and after.position("BTC").total == 0
    # Sold 0.033 BTC at 31,990 less the 10 bps fee, plus the 18.02 left, less 1,000 repaid.
    proceeds = 3_300 * 319_9000 * 10
    expected = units("18.02") + proceeds - proceeds * 10 // 10_000 - units("1000")
    assert after.position("USDT").total == expected
    async with platform.db.session() as session:
        cancelled = await venue.order(session, before.account_id, resting.id)
    assert cancelled.status == "cancelled"
    assert await _events(platform, user.user_id) == ["liquidation", "liquidated"]
    assert await house(platform, "liquidation-loss", "USDT") == 0
    assert await house(platform, "lent", "USDT") == 0
    await books_balance(platform)


async def test_a_loss_beyond_the_collateral_is_covered_by_the_house(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user, _, maker, taker = await _leveraged_long(client, platform)
    await print_trade(platform, maker, taker, 25_000)
    await limit(platform, maker, Side.BUY, 25_000, 10_000)
    pool_before = await house(platform, "lending-pool", "USDT")
    await margin.check_accounts(platform)
    after = await state(platform, user.user_id)
    assert after.status == "normal"
    assert all(p.total == 0 and p.owed == 0 for p in after.positions.values())
    proceeds = 3_300 * 2_500_000 * 10
    recovered = units("18.02") + proceeds - proceeds * 10 // 10_000
    assert await house(platform, "liquidation-loss", "USDT") == units("1000") - recovered
    assert await house(platform, "lending-pool", "USDT") == pool_before + units("1000")
    assert await _events(platform, user.user_id) == ["liquidation", "house_loss", "liquidated"]
    await books_balance(platform)


async def test_a_thin_book_leaves_the_account_liquidating_until_liquidity_returns(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user, _, maker, taker = await _leveraged_long(client, platform)
    await print_trade(platform, maker, taker, 31_000)
    await limit(platform, maker, Side.BUY, 31_000, 1_000)  # a third of the position
    await margin.check_accounts(platform)
    partial = await state(platform, user.user_id)
    assert partial.status == "liquidating"
    assert partial.position("BTC").total == units("0.023")
    assert partial.position("USDT").total == 0  # every USDT went to the loan
    with pytest.raises(margin.MarginLevelTooLow):
        await borrow(platform, user.user_id, "USDT", 1)
    await limit(platform, maker, Side.BUY, 31_000, 5_000)
    await margin.check_accounts(platform)
    done = await state(platform, user.user_id)
    assert done.status == "normal" and done.position("USDT").owed == 0
    assert done.position("BTC").total == 0
    await books_balance(platform)


async def test_concurrent_risk_passes_liquidate_once(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user, _, maker, taker = await _leveraged_long(client, platform)
    await print_trade(platform, maker, taker, 25_000)
    await limit(platform, maker, Side.BUY, 25_000, 10_000)
    await asyncio.gather(*(margin.check_accounts(platform) for _ in range(3)))
    after = await state(platform, user.user_id)
    assert after.status == "normal"
    assert all(p.total == 0 and p.owed == 0 for p in after.positions.values())
    proceeds = 3_300 * 2_500_000 * 10
    recovered = units("18.02") + proceeds - proceeds * 10 // 10_000
    assert await house(platform, "liquidation-loss", "USDT") == units("1000") - recovered
    assert await _events(platform, user.user_id) == ["liquidation", "house_loss", "liquidated"]
    await books_balance(platform)
