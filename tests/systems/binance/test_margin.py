"""Cross margin's core: the margin account is a second venue account, transfers and borrows
keep the level at 2.0 or more, the pool cannot over-lend, repay pays interest first, interest
is charged once per loan and hour, and concurrent borrows cannot break the level rule."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching.models import MatchingAccount
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput
from casebook.platform.settings import Settings
from casebook.systems.binance import margin, spot
from casebook.systems.binance.margin_models import BinanceMarginInterest
from tests.systems.binance.margin_support import (
    SCALE,
    books_balance,
    borrow,
    house,
    margin_transfer,
    repay,
    state,
    units,
)
from tests.systems.binance.spot_support import binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "margin-trading")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def test_the_margin_account_is_a_second_venue_account_funded_from_spot(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "1000")
    after = await margin_transfer(platform, user.user_id, "USDT", "400")
    assert after.position("USDT").total == units("400")
    assert after.account_id != user.account_id
    async with platform.db.session() as session:
        owner = await session.scalar(
            select(MatchingAccount.owner).where(MatchingAccount.id == after.account_id)
        )
        balances = await spot.exchange(platform).balances(session, user.account_id)
    assert owner == f"binance:margin:{user.user_id}"
    assert {b.asset: b.total for b in balances}["USDT"] == units("600")
    back = await margin_transfer(platform, user.user_id, "USDT", "100", to_margin=False)
    assert back.position("USDT").total == units("300")
    with pytest.raises(InsufficientFunds):
        await margin_transfer(platform, user.user_id, "USDT", "301", to_margin=False)
    await books_balance(platform)


async def test_borrowing_stops_at_level_two_and_transfers_out_cannot_go_below_it(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "1000")
    await margin_transfer(platform, user.user_id, "USDT", "1000")
    before = await state(platform, user.user_id)
    assert before.level is None
    # 1000 USDT of collateral lets the account owe 1000 USDT: (1000 + 1000) / 1000 = 2.0.
    assert margin.max_borrow(before, "USDT", SCALE) == units("1000")
    # BTC at its reference price, 60,000 USDT: 1000 / 60000 BTC, rounded down to a satoshi.
    assert margin.max_borrow(before, "BTC", 60_000 * SCALE) == units("1000") * SCALE // (
        60_000 * SCALE
    )
    with pytest.raises(margin.MarginLevelTooLow):
        await borrow(platform, user.user_id, "USDT", units("1000") + 1)
    await borrow(platform, user.user_id, "USDT", units("600"))
    await borrow(platform, user.user_id, "USDT", units("400"))
    full = await state(platform, user.user_id)
    assert full.level == Fraction(2)
    assert full.position("USDT").borrowed == units("1000")
    assert await house(platform, "lent", "USDT") == units("1000")
    assert await house(platform, "lending-pool", "USDT") == margin.POOL_FUNDING["USDT"] - units(
        "1000"
    )
    with pytest.raises(margin.MarginLevelTooLow):
        await borrow(platform, user.user_id, "BTC", 1)
    with pytest.raises(margin.MarginLevelTooLow):
        await margin_transfer(platform, user.user_id, "USDT", "0.00000001", to_margin=False)
    await repay(platform, user.user_id, "USDT", units("500"))
    # Now 1500 / 500 = 3.0: 500 USDT may leave and keep the level at 2.0.
    await margin_transfer(platform, user.user_id, "USDT", "500", to_margin=False)
    assert (await state(platform, user.user_id)).level == Fraction(2)
    await books_balance(platform)


async def test_the_pool_cannot_lend_more_than_it_holds(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "9000000")
    await margin_transfer(platform, user.user_id, "USDT", "9000000")
    too_much = margin.POOL_FUNDING["BTC"] + 1
    with pytest.raises(InsufficientFunds):
        await borrow(platform, user.user_id, "BTC", too_much)
    after = await state(platform, user.user_id)
    assert after.position("BTC").borrowed == 0 and after.position("BTC").total == 0
    await borrow(platform, user.user_id, "BTC", margin.POOL_FUNDING["BTC"])
    assert await house(platform, "lending-pool", "BTC") == 0
    await books_balance(platform)


async def test_interest_is_charged_once_per_hour_and_repaid_before_principal(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "2000")
    await margin_transfer(platform, user.user_id, "USDT", "2000")
    await borrow(platform, user.user_id, "USDT", units("1000"))
    hour = datetime(2030, 1, 1, 10, 0, 5, tzinfo=UTC)
    charged = await asyncio.gather(
        *(margin.accrue_interest(platform.db, hour + timedelta(minutes=i)) for i in range(4))
    )
    assert sum(charged) == 1
    per_hour = -(-units("1000") * margin.HOURLY_RATE["USDT"] // margin.RATE_SCALE)
    assert (await state(platform, user.user_id)).position("USDT").interest == per_hour
    assert await margin.accrue_interest(platform.db, hour + timedelta(hours=1)) == 1
    owed = await state(platform, user.user_id)
    assert owed.position("USDT").interest == 2 * per_hour
    async with platform.db.session() as session:
        rows = await session.scalar(
            select(func.count())
            .select_from(BinanceMarginInterest)
            .where(BinanceMarginInterest.account_id == owed.account_id)
        )
    assert rows == 2
    with pytest.raises(margin.RepayExceedsDebt):
        await repay(platform, user.user_id, "USDT", units("1000") + 2 * per_hour + 1)
    interest_paid, principal_paid = await repay(platform, user.user_id, "USDT", units("10"))
    assert (interest_paid, principal_paid) == (2 * per_hour, units("10") - 2 * per_hour)
    after = await state(platform, user.user_id)
    assert after.position("USDT").interest == 0
    assert after.position("USDT").borrowed == units("1000") - principal_paid
    assert await house(platform, "interest-income", "USDT") == 2 * per_hour
    await books_balance(platform)


async def test_concurrent_borrows_never_take_the_level_below_two(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "1000")
    await margin_transfer(platform, user.user_id, "USDT", "1000")

    async def attempt() -> bool:
        try:
            await borrow(platform, user.user_id, "USDT", units("300"))
        except margin.MarginLevelTooLow:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    assert sum(results) == 3  # 900 fits under the 1000 allowed, a fourth 300 does not
    after = await state(platform, user.user_id)
    assert after.position("USDT").borrowed == units("900")
    assert after.level is not None and after.level >= 2
    await books_balance(platform)


async def test_bad_input_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    with pytest.raises(margin.NoMarginAccount):
        await state(platform, user.user_id)
    await fund(platform, user, "USDT", "10")
    await margin_transfer(platform, user.user_id, "USDT", "10")
    with pytest.raises(margin.UnknownAsset):
        await borrow(platform, user.user_id, "DOGE", 1)
    with pytest.raises(margin.RepayExceedsDebt):
        await repay(platform, user.user_id, "USDT", 1)
    for text in ("0", "-1", "1.000000001", "abc", "1e30"):
        with pytest.raises(InvalidInput):
            margin.parse_amount(text)
    assert margin.parse_amount("1.5") == units("1.5")
    after = await state(platform, user.user_id)
    assert after.position("USDT").total == units("10") and after.position("USDT").owed == 0
