"""House crosses (crossing.py): two customers' orders on opposite sides are matched inside the
broker at the exchange's best price, so the exchange never prints a trade of the omnibus
account with itself (a trade surveillance flags as a wash trade), the custody mirror still
equals the house's shares at the exchange, and a crash mid-cross settles exactly once."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from casebook.engines.matching.models import MatchingTrade
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.robinhood import brokerage, crossing, house
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.brokerage import OrderRequest
from casebook.systems.robinhood.errors import OrderBusy
from casebook.systems.robinhood.models import Order
from tests.systems.robinhood.conftest import aapl, customer, market_maker, rest
from tests.systems.robinhood.test_brokerage import assert_books, balances, settled

FEATURE = "robinhood"


async def self_trades(platform: Platform) -> int:
    """Exchange trades of the house account with itself."""
    found = house.house(platform)
    async with platform.db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(MatchingTrade)
            .where(
                MatchingTrade.maker_account_id == found.account_id,
                MatchingTrade.taker_account_id == found.account_id,
            )
        )
    return int(count or 0)


async def holder(platform: Platform, venue: Venue, shares: int) -> int:
    """A customer who bought `shares` AAPL at $150.00 from the market maker (cash left)."""
    user_id = await customer(platform, 1_000_000)
    order = await brokerage.place(
        platform, user_id, OrderRequest("AAPL", "buy", micro_shares=shares * MICRO)
    )
    assert order.status == "filled"
    return user_id


async def sell_limit(platform: Platform, user_id: int, shares: int, cents: int) -> Order:
    order = await brokerage.place(
        platform,
        user_id,
        OrderRequest("AAPL", "sell", type="limit", micro_shares=shares * MICRO, limit_price=cents),
    )
    assert order.status == "open"
    return order


@pytest.mark.feature(FEATURE, "orders")
@pytest.mark.feature(FEATURE, "commission-free")
async def test_two_customers_cross_inside_the_broker_without_an_exchange_print(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100, USD=10_000_000)
    await rest(started, maker, instrument, "sell", 10, 15_000)
    await rest(started, maker, instrument, "buy", 10, 14_000)
    alice = await holder(platform, started, 3)
    alice_cash = (await balances(platform, alice))[0]
    resting = await sell_limit(platform, alice, 3, 14_900)
    first_venue_id = resting.venue_order_id

    # Bob's market buy of 2 meets Alice's sell at the best ask ($149.00): crossed inside.
    bob = await customer(platform, 100_000)
    two = OrderRequest("AAPL", "buy", micro_shares=2 * MICRO)
    bought = await brokerage.place(platform, bob, two)
    assert (bought.status, bought.amount, bought.internal_filled) == ("filled", 29_800, 2)
    assert bought.venue_order_id is None  # nothing went to the exchange
    assert await balances(platform, bob) == (100_000 - 29_800, 2 * MICRO)
    async with platform.db.session() as session:
        alice_order = await session.get(Order, resting.id)
        assert alice_order is not None
    assert (alice_order.status, alice_order.amount, alice_order.reposts) == (
        "partially_filled",
        29_800,
        1,
    )
    # Her last share is back on the book at her limit, as a new exchange order.
    assert alice_order.venue_order_id not in (None, first_venue_id)
    assert started.book(instrument.id).best_ask() == 14_900
    await assert_books(platform, started)

    # Carol buys 2: one crossed with Alice's rest at $149.00, one from the maker at $150.00.
    carol = await customer(platform, 100_000)
    both = await brokerage.place(platform, carol, two)
    assert (both.status, both.internal_filled, both.exchange_filled) == ("filled", 1, 1)
    assert both.amount == 14_900 + 15_000
    done = await settled(platform, resting.id, "filled")
    assert (done.amount, done.closed) == (3 * 14_900, True)
    assert await balances(platform, alice) == (alice_cash + 3 * 14_900, 0)

    assert await self_trades(platform) == 0
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "fractional-shares")
async def test_a_marketable_limit_and_a_fractional_market_order_cross_exactly(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100, USD=10_000_000)
    await rest(started, maker, instrument, "sell", 10, 15_000)
    alice = await holder(platform, started, 5)
    resting = await sell_limit(platform, alice, 5, 14_900)
    inventory_before = await _inventory(platform)

    # A limit buy at $149.50 crosses at the best ask, $149.00 (the better price is Dan's).
    dan = await customer(platform, 100_000)
    limit = await brokerage.place(
        platform,
        dan,
        OrderRequest("AAPL", "buy", type="limit", micro_shares=2 * MICRO, limit_price=14_950),
    )
    assert (limit.status, limit.amount, limit.closed) == ("filled", 29_800, True)
    assert await balances(platform, dan) == (100_000 - 29_800, 2 * MICRO)

    # 1.5 shares at market: 1 whole + 1 more for the inventory, both crossed with Alice.
    erin = await customer(platform, 100_000)
    frac = await brokerage.place(
        platform, erin, OrderRequest("AAPL", "buy", micro_shares=1_500_000)
    )
    assert (frac.status, frac.internal_filled) == ("filled", 2)
    assert frac.amount == 22_350  # 1.5 x $149.00, exactly
    assert await balances(platform, erin) == (100_000 - 22_350, 1_500_000)
    assert await _inventory(platform) == inventory_before + 500_000
    alice_order = await settled(platform, resting.id, "partially_filled")
    assert alice_order.filled_micro == 4 * MICRO
    assert await self_trades(platform) == 0
    await assert_books(platform, started)


async def _inventory(platform: Platform) -> int:
    from tests.systems.robinhood.test_brokerage import house_account

    return await house_account(platform, "inventory", "AAPL")


@pytest.mark.feature(FEATURE, "orders")
async def test_a_customer_never_crosses_their_own_order_and_the_exchange_prevents_it(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15_000)
    alice = await holder(platform, started, 2)
    resting = await sell_limit(platform, alice, 2, 14_900)
    cash = (await balances(platform, alice))[0]

    # Her own buy is not internalised with her own sell; at the exchange self-trade
    # prevention ends the incoming house order instead of printing a wash trade.
    mine = await brokerage.place(platform, alice, OrderRequest("AAPL", "buy", micro_shares=MICRO))
    assert (mine.status, mine.amount, mine.closed) == ("cancelled", 0, True)
    assert await balances(platform, alice) == (cash, 0)
    async with platform.db.session() as session:
        still = await session.get(Order, resting.id)
        assert still is not None and still.status == "open"
    assert await self_trades(platform) == 0
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "orders")
async def test_concurrent_buyers_cross_resting_sellers_exactly_once(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 40, 15_000)
    sellers = [await holder(platform, started, 2) for _ in range(3)]
    resting = [await sell_limit(platform, s, 2, 14_900) for s in sellers]
    buyers = [await customer(platform, 100_000) for _ in range(5)]

    placed = await asyncio.gather(
        *(
            brokerage.place(platform, b, OrderRequest("AAPL", "buy", micro_shares=2 * MICRO))
            for b in buyers
        )
    )
    # 6 house shares at $149.00 crossed, the other 4 from the maker at $150.00.
    assert {o.status for o in placed} == {"filled"}
    assert sum(o.internal_filled for o in placed) == 6
    assert sum(o.amount for o in placed) == 6 * 14_900 + 4 * 15_000
    for order in resting:
        assert (await settled(platform, order.id, "filled")).amount == 2 * 14_900
    assert await self_trades(platform) == 0
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "orders")
async def test_a_crash_after_the_cancel_of_a_claimed_order_settles_it_once(
    platform: Platform, started: Venue
) -> None:
    """The broker claimed Alice's resting order and cancelled it at the exchange, then died
    before matching: at startup reconcile ends it with its escrow returned, exactly once."""
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15_000)
    alice = await holder(platform, started, 2)
    resting = await sell_limit(platform, alice, 2, 14_900)
    bob = await customer(platform, 100_000)
    incoming = await brokerage.place(
        platform,
        bob,
        OrderRequest("AAPL", "buy", type="limit", micro_shares=MICRO, limit_price=14_000),
    )
    claimed = await crossing._claim(platform, incoming, 14_900)
    assert claimed == (resting.id, resting.venue_order_id)
    await started.cancel(house.house(platform).account_id, claimed[1])
    async with platform.db.session() as session:
        held = await session.get(Order, resting.id)
        assert held is not None and (held.closed, held.crossing_id) == (False, incoming.id)
    with pytest.raises(OrderBusy):  # the customer cannot cancel it while the cross holds it
        await brokerage.cancel(platform, alice, resting.id)

    assert await brokerage.reconcile(platform) >= 1
    assert await brokerage.reconcile(platform) >= 1  # a second run changes nothing
    async with platform.db.session() as session:
        ended = await session.get(Order, resting.id)
        assert ended is not None
    assert (ended.status, ended.closed, ended.crossing_id) == ("cancelled", True, None)
    assert (await balances(platform, alice))[1] == 2 * MICRO
    await assert_books(platform, started)
