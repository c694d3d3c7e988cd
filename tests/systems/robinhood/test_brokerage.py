"""The brokerage on the real exchange venue and ledger: fractional and dollar orders filled from
the exchange and the house inventory, exact to the cent and commission-free; limit orders
settled by the venue listener; cancels; the onboarding gate; concurrency; crash reconciliation;
and, after every scenario, the books: the ledger verifies, the custody mirror equals the house
account's shares at the exchange, and escrow holds exactly what open orders reserved."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import InsufficientFunds, Ledger
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.robinhood import books, brokerage, house
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.brokerage import OrderRequest
from casebook.systems.robinhood.errors import (
    InsufficientShares,
    OnboardingRequired,
    OrderClosed,
    OrderNotFound,
)
from casebook.systems.robinhood.models import Order
from tests.systems.robinhood.conftest import NewUser, aapl, customer, market_maker, rest

FEATURE = "robinhood"


async def balances(platform: Platform, user_id: int, symbol: str = "AAPL") -> tuple[int, int]:
    async with platform.db.session() as session:
        ledger = Ledger(session)
        cash = await ledger.account(await books.cash(ledger, user_id))
        shares = await ledger.account(await books.position(ledger, user_id, symbol))
        return cash.posted, shares.posted


async def house_account(platform: Platform, name: str, currency: str) -> int:
    async with platform.db.session() as session:
        ledger = Ledger(session)
        return (await ledger.account(await books.house(ledger, name, currency))).posted


async def settled(platform: Platform, order_id: int, status: str) -> Order:
    """The order once the venue listener (which runs after the writer's commit, so after the
    exchange call returned) has brought it to `status`; fails after 2 s."""
    seen = "missing"
    for _ in range(200):
        async with platform.db.session() as session:
            order = await session.get(Order, order_id)
            assert order is not None
            if order.status == status:
                return order
            seen = order.status
        await asyncio.sleep(0.01)
    raise AssertionError(f"order {order_id} is {seen}, not {status}")


async def assert_books(platform: Platform, venue: Venue, symbol: str = "AAPL") -> None:
    """The ledger verifies; custody mirrors the house's shares at the exchange; every
    micro-share issued is a customer's, the inventory's or escrowed; escrow holds exactly what
    open orders reserved."""
    found = house.house(platform)
    async with platform.db.session() as session:
        report = await verify(session)
        assert report.ok, report.breaks
        at_exchange = {
            b.asset: b.total for b in await venue.balances(session, found.account_id)
        }.get(symbol, 0)
        ledger = Ledger(session)
        custody = (await ledger.account(await books.house(ledger, "custody", symbol))).posted
        assert -custody == at_exchange * MICRO
        positions = await ledger.accounts_named(name="position", currency=symbol)
        held = sum(a.posted for a in positions)
        inventory = (await ledger.account(await books.house(ledger, "inventory", symbol))).posted
        escrow = (await ledger.account(await books.house(ledger, "escrow", symbol))).posted
        assert held + inventory + escrow == -custody
        escrow_cash = (await ledger.account(await books.house(ledger, "escrow", "USD"))).posted
        open_cash = await session.scalar(
            select(func.coalesce(func.sum(Order.reserved_cash - Order.amount), 0)).where(
                Order.closed.is_(False), Order.side == "buy"
            )
        )
        assert escrow_cash == open_cash


@pytest.mark.feature(FEATURE, "fractional-shares")
@pytest.mark.feature(FEATURE, "commission-free")
async def test_fractional_buy_charges_exactly_the_fraction_and_the_house_keeps_the_rest(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15000)
    alice = await customer(platform, 100_000)

    order = await brokerage.place(
        platform, alice, OrderRequest("AAPL", "buy", micro_shares=2_500_000)
    )

    # 2 whole shares plus one more for the inventory (it was empty): 3 bought at $150.00.
    assert (order.status, order.exchange_qty, order.exchange_filled) == ("filled", 3, 3)
    assert order.exchange_notional == 45_000
    assert order.amount == 37_500  # 2.5 x $150.00, no commission
    assert await balances(platform, alice) == (100_000 - 37_500, 2_500_000)
    assert await house_account(platform, "inventory", "AAPL") == 500_000
    assert order.venue_order_id is not None
    async with platform.db.session() as session:
        view = await started.order(session, house.house(platform).account_id, order.venue_order_id)
    assert view.fees_paid > 0  # the exchange's fee is the house's, not the customer's

    # A quarter share comes from the inventory at the best ask: no exchange trade.
    bob = await customer(platform, 100_000)
    small = await brokerage.place(platform, bob, OrderRequest("AAPL", "buy", micro_shares=250_000))
    assert (small.status, small.exchange_qty, small.amount) == ("filled", 0, 3_750)
    assert await balances(platform, bob) == (100_000 - 3_750, 250_000)
    assert await house_account(platform, "inventory", "AAPL") == 250_000
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "fractional-shares")
async def test_dollar_buy_and_fractional_sell_at_the_quote(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100, USD=10_000_000)
    await rest(started, maker, instrument, "sell", 10, 15000)
    await rest(started, maker, instrument, "buy", 10, 14900)
    alice = await customer(platform, 50_000)

    ten = await brokerage.place(platform, alice, OrderRequest("AAPL", "buy", dollars=1_000))
    # $10 at $150.00 = 0.066666 share (floor to the micro-share); the house bought one whole
    # share for the inventory; the customer pays the fraction's value, half up: $10.00.
    assert ten.micro_shares == 66_666
    assert (ten.status, ten.exchange_qty, ten.amount) == ("filled", 1, 1_000)
    assert await balances(platform, alice) == (49_000, 66_666)

    sold = await brokerage.place(platform, alice, OrderRequest("AAPL", "sell", micro_shares=66_666))
    # Sold to the inventory at the best bid: 0.066666 x $149.00 = $9.933234 -> $9.93.
    assert (sold.status, sold.exchange_qty, sold.amount) == ("filled", 0, 993)
    assert await balances(platform, alice) == (49_993, 0)
    with pytest.raises(InsufficientShares):
        await brokerage.place(platform, alice, OrderRequest("AAPL", "sell", micro_shares=MICRO))
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "orders")
async def test_limit_orders_are_settled_by_the_venue_listener_and_cancel_refunds(
    platform: Platform, started: Venue, new_user: NewUser
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100, USD=10_000_000)
    alice = await customer(platform, 100_000)

    resting = await brokerage.place(
        platform,
        alice,
        OrderRequest("AAPL", "buy", type="limit", micro_shares=3 * MICRO, limit_price=14_800),
    )
    assert (resting.status, resting.reserved_cash) == ("open", 44_400)
    assert await balances(platform, alice) == (100_000 - 44_400, 0)

    # The market maker sells 2 into it: the listener settles the fill to Alice.
    await rest(started, maker, instrument, "sell", 2, 14_800)
    after = await settled(platform, resting.id, "partially_filled")
    assert (after.filled_micro, after.amount) == (2 * MICRO, 29_600)

    cancelled = await brokerage.cancel(platform, alice, resting.id)
    assert (cancelled.status, cancelled.closed) == ("partially_filled", True)
    assert await balances(platform, alice) == (100_000 - 29_600, 2 * MICRO)
    with pytest.raises(OrderClosed):
        await brokerage.cancel(platform, alice, resting.id)

    # Another customer can neither see nor cancel Alice's orders.
    mallory = await customer(platform, 10_000)
    other = await brokerage.place(
        platform,
        alice,
        OrderRequest("AAPL", "buy", type="limit", micro_shares=MICRO, limit_price=10_000),
    )
    with pytest.raises(OrderNotFound):
        await brokerage.cancel(platform, mallory, other.id)
    async with platform.db.session() as session:
        with pytest.raises(OrderNotFound):
            await brokerage.order_of(session, mallory, other.id)
    gone = await brokerage.cancel(platform, alice, other.id)
    assert (gone.status, gone.amount) == ("cancelled", 0)

    # An omnibus cross: Alice's resting sell is taken by Bob's market buy (both house orders).
    sell = await brokerage.place(
        platform,
        alice,
        OrderRequest("AAPL", "sell", type="limit", micro_shares=MICRO, limit_price=14_900),
    )
    bob = await customer(platform, 100_000)
    bought = await brokerage.place(platform, bob, OrderRequest("AAPL", "buy", micro_shares=MICRO))
    assert (bought.status, bought.amount) == ("filled", 14_900)
    sold = await settled(platform, sell.id, "filled")
    assert sold.amount == 14_900
    assert await balances(platform, alice) == (100_000 - 29_600 + 14_900, MICRO)
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "account-setup")
async def test_trading_needs_onboarding_and_a_refused_order_writes_nothing(
    platform: Platform, started: Venue, new_user: NewUser
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15000)
    stranger = await new_user()
    with pytest.raises(OnboardingRequired):
        await brokerage.place(platform, stranger, OrderRequest("AAPL", "buy", micro_shares=MICRO))
    poor = await customer(platform, 1_000)
    with pytest.raises(InsufficientFunds):
        await brokerage.place(platform, poor, OrderRequest("AAPL", "buy", micro_shares=MICRO))
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0
    assert await balances(platform, poor) == (1_000, 0)
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "fractional-shares")
async def test_concurrent_fractional_buys_and_sells_keep_the_books_exact(
    platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=1_000, USD=10_000_000)
    await rest(started, maker, instrument, "sell", 200, 15000)
    await rest(started, maker, instrument, "buy", 200, 14900)
    people = [await customer(platform, 200_000) for _ in range(8)]

    async def trade(user_id: int, index: int) -> None:
        await brokerage.place(
            platform, user_id, OrderRequest("AAPL", "buy", micro_shares=1_300_000 + index)
        )
        await brokerage.place(
            platform, user_id, OrderRequest("AAPL", "sell", micro_shares=700_000 + index)
        )

    await asyncio.gather(*(trade(u, i) for i, u in enumerate(people)))
    for user_id in people:
        assert (await balances(platform, user_id))[1] == 600_000
    async with platform.db.session() as session:
        statuses = set(await session.scalars(select(Order.status)))
    assert statuses == {"filled"}
    await assert_books(platform, started)


@pytest.mark.feature(FEATURE, "orders")
async def test_reconcile_settles_an_order_whose_settlement_was_lost(
    platform: Platform, started: Venue
) -> None:
    """A crash after the exchange filled the house order but before Robinhood settled it (the
    listener gone, the request dead): at startup `reconcile` settles it from the venue's rows,
    and an order that never reached the exchange is rejected with its escrow returned."""
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15000)
    alice = await customer(platform, 100_000)
    found = house.house(platform)
    listener = platform.state["robinhood:house:listener"]
    started.listeners.remove(listener.on_commit)  # the crash: nobody settles what follows

    async with platform.db.session(write=True) as session:
        lost = await brokerage._accept(
            session,
            started,
            instrument,
            alice,
            1001,
            OrderRequest("AAPL", "buy", micro_shares=MICRO),
        )
        command = brokerage.venue_order(lost, instrument, found)
    await started.place(command)
    async with platform.db.session(write=True) as session:
        await brokerage._accept(
            session,
            started,
            instrument,
            alice,
            1002,
            OrderRequest("AAPL", "buy", micro_shares=MICRO),
        )
    assert (await balances(platform, alice))[1] == 0

    assert await brokerage.reconcile(platform) == 2
    async with platform.db.session() as session:
        settled = await session.get(Order, 1001)
        never = await session.get(Order, 1002)
        assert settled is not None and never is not None
        assert (settled.status, settled.amount) == ("filled", 15_000)
        assert (never.status, never.closed) == ("rejected", True)
    assert await balances(platform, alice) == (100_000 - 15_000, MICRO)
    await assert_books(platform, started)
