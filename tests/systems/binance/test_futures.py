"""USDT-M perpetual futures: initial-margin holds, positions, realised PnL, flips, losses beyond
the margin, the transfer and leverage rules, and concurrent orders on one wallet."""

from __future__ import annotations

import asyncio

import pytest

from casebook.engines.ledger import InsufficientFunds, Ledger
from casebook.engines.matching.types import Side, TimeInForce
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id
from casebook.systems.binance import futures, spot
from casebook.systems.binance.futures import FuturesConflict, MarginInsufficient
from tests.systems.binance.futures_support import (
    assert_books_balance,
    insurance,
    margin,
    order,
    pool,
    position,
    trader,
    traders,
    usdt,
    venues_up,
    wallet,
)

__all__ = ["venues_up"]

pytestmark = pytest.mark.feature("binance", "futures-trading")


async def test_an_order_holds_initial_margin_and_fee_not_the_notional(venues_up: Platform) -> None:
    a = await trader(venues_up, usdt(1000))
    placed = await order(venues_up, a.account_id, Side.BUY, 100, 60000)  # 0.1 BTC = 6,000 USDT
    assert placed.status == "open"
    # 6,000 / 20x = 300 margin + 5 bps of 6,000 (the larger fee) = 3
    assert await wallet(venues_up, a.account_id) == (usdt(1000), usdt(303))
    with pytest.raises(InsufficientFunds):  # 0.4 BTC needs 1,212 > 697 available
        await order(venues_up, a.account_id, Side.BUY, 400, 60000)
    await futures.futures_venue(venues_up).cancel(a.account_id, placed.id)
    assert await wallet(venues_up, a.account_id) == (usdt(1000), 0)
    await assert_books_balance(venues_up)


async def test_a_fill_opens_both_positions_and_closing_realises_pnl(venues_up: Platform) -> None:
    a, b, c = await traders(venues_up, 3, usdt(1000))
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    long, short = await position(venues_up, a.account_id), await position(venues_up, b.account_id)
    assert long is not None and (long.qty, long.cost) == (100, 6_000_000 * 100)
    assert short is not None and (short.qty, short.cost) == (-100, 6_000_000 * 100)
    # a: 300 margin + 3 taker fee; b: 300 margin + 1.2 maker fee; no BTC moved anywhere
    assert await wallet(venues_up, a.account_id) == (usdt("697"), 0)
    assert await wallet(venues_up, b.account_id) == (usdt("698.8"), 0)
    assert await margin(venues_up, a.account_id) == usdt(300)

    await order(venues_up, c.account_id, Side.BUY, 100, 61000)
    await order(venues_up, a.account_id, Side.SELL, 100, 61000, TimeInForce.IOC)
    closed = await position(venues_up, a.account_id)
    assert closed is not None and (closed.qty, closed.cost, closed.realised_pnl) == (
        0,
        0,
        usdt(100),
    )
    # 697 - 3.05 fee + 300 margin back + 100 profit
    assert await wallet(venues_up, a.account_id) == (usdt("1093.95"), 0)
    assert await margin(venues_up, a.account_id) == 0
    # the pool paid a's profit: it is owed by b's open loss (short 60,000, c long 61,000)
    assert await pool(venues_up) == -usdt(100)
    await assert_books_balance(venues_up)


async def test_a_fill_larger_than_the_position_flips_it(venues_up: Platform) -> None:
    a, b, c = await traders(venues_up, 3, usdt(1000))
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    await order(venues_up, c.account_id, Side.BUY, 150, 59000)
    await order(venues_up, a.account_id, Side.SELL, 150, 59000, TimeInForce.IOC)
    flipped = await position(venues_up, a.account_id)
    assert flipped is not None
    assert (flipped.qty, flipped.cost, flipped.realised_pnl) == (-50, 5_900_000 * 50, -usdt(100))
    # loss 100 from the 300 margin, 200 released; new short margin 2,950/20 = 147.5; fee 4.425
    assert await margin(venues_up, a.account_id) == usdt("147.5")
    assert await wallet(venues_up, a.account_id) == (usdt("745.075"), 0)
    await assert_books_balance(venues_up)


@pytest.mark.parametrize(
    ("mode", "wallet_after", "fund_paid"),
    [
        ("isolated", "694.2", 100),
        ("cross", "594.2", 0),
    ],
)
async def test_a_loss_beyond_the_margin_comes_from_the_wallet_in_cross_else_the_fund(
    venues_up: Platform, mode: str, wallet_after: str, fund_paid: int
) -> None:
    a, b, c = await traders(venues_up, 3, usdt(1000))
    async with venues_up.db.session(write=True) as session:
        await futures.set_margin_type(venues_up, session, a.user_id, "BTCUSDT-PERP", mode)
    _, fund_before = await insurance(venues_up)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    await order(venues_up, c.account_id, Side.BUY, 100, 56000)
    await order(venues_up, a.account_id, Side.SELL, 100, 56000, TimeInForce.IOC)
    # loss 400 = 300 margin + 100 more; fee 2.8
    assert await wallet(venues_up, a.account_id) == (usdt(wallet_after), 0)
    _, fund_after = await insurance(venues_up)
    assert fund_before - fund_after == usdt(fund_paid)
    assert await margin(venues_up, a.account_id) == 0
    await assert_books_balance(venues_up)


async def test_leverage_and_margin_type_change_only_when_flat(venues_up: Platform) -> None:
    a = await trader(venues_up, usdt(1000))
    async with venues_up.db.session(write=True) as session:
        for bad in (0, 21):
            with pytest.raises(InvalidInput):
                await futures.set_leverage(venues_up, session, a.user_id, "BTCUSDT-PERP", bad)
        await futures.set_leverage(venues_up, session, a.user_id, "BTCUSDT-PERP", 10)
    placed = await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    assert await wallet(venues_up, a.account_id) == (usdt(1000), usdt(603))  # 600 + 3
    async with venues_up.db.session(write=True) as session:
        with pytest.raises(FuturesConflict):
            await futures.set_leverage(venues_up, session, a.user_id, "BTCUSDT-PERP", 5)
        with pytest.raises(FuturesConflict):
            await futures.set_margin_type(venues_up, session, a.user_id, "BTCUSDT-PERP", "isolated")
    await futures.futures_venue(venues_up).cancel(a.account_id, placed.id)
    async with venues_up.db.session(write=True) as session:
        changed = await futures.set_leverage(venues_up, session, a.user_id, "BTCUSDT-PERP", 5)
    assert changed.leverage == 5


async def test_transfers_between_spot_and_futures_keep_open_positions_margined(
    venues_up: Platform,
) -> None:
    a, b = await trader(venues_up), await trader(venues_up, usdt(1000))
    async with venues_up.db.session(write=True) as session:
        spot_account = await spot.account_of(session, a.user_id)
        await spot.exchange(venues_up).credit(
            session, spot_account, "USDT", usdt(500), new_id(), "deposit"
        )
    async with venues_up.db.session(write=True) as session:
        with pytest.raises(InsufficientFunds):
            await futures.transfer(venues_up, session, a.user_id, usdt(501), True, new_id())
    key = new_id()
    for _ in range(2):  # the same key twice moves the money once
        async with venues_up.db.session(write=True) as session:
            await futures.transfer(venues_up, session, a.user_id, usdt(400), True, key)
    assert await wallet(venues_up, a.account_id) == (usdt(400), 0)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    # wallet 97 + margin 300 at mark 60,000 = 397; the position needs 300: at most 97 may leave
    async with venues_up.db.session(write=True) as session:
        with pytest.raises(MarginInsufficient):
            await futures.transfer(venues_up, session, a.user_id, usdt(98), False, new_id())
    async with venues_up.db.session(write=True) as session:
        await futures.transfer(venues_up, session, a.user_id, usdt(97), False, new_id())
        spot_wallet = await spot.VenueSpot().wallet(session, a.user_id, "USDT")
        assert (await Ledger(session).account(spot_wallet)).posted == usdt(197)
    await assert_books_balance(venues_up)


async def test_concurrent_orders_never_hold_more_than_the_wallet(venues_up: Platform) -> None:
    a = await trader(venues_up, usdt(1000))

    async def attempt() -> bool:
        try:
            await order(venues_up, a.account_id, Side.BUY, 100, 60000)
        except InsufficientFunds:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sum(results) == 3  # 3 x 303 = 909 <= 1,000 < 4 x 303
    assert await wallet(venues_up, a.account_id) == (usdt(1000), usdt(909))
    await assert_books_balance(venues_up)
