"""USDT-M futures risk: the mark price from the spot index, liquidation by the insurance fund
against real liquidity on the book, and funding exactly once and zero-sum."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching.types import Side
from casebook.platform.context import Platform
from casebook.systems.binance import futures, futures_jobs
from casebook.systems.binance.futures_models import (
    FuturesFunding,
    FuturesLiquidation,
    FuturesPosition,
)
from tests.systems.binance.futures_support import (
    assert_books_balance,
    contract,
    insurance,
    margin,
    order,
    pool,
    position,
    spot_trade,
    traders,
    usdt,
    venues_up,
    wallet,
)

__all__ = ["venues_up"]

pytestmark = pytest.mark.feature("binance", "futures-trading")


async def test_mark_is_the_spot_index_clamped_to_the_futures_mid(venues_up: Platform) -> None:
    btc = await contract(venues_up)
    assert futures.prices(venues_up, btc).mark == 6_000_000  # the spot pair's reference price
    await spot_trade(venues_up, "61000")
    assert futures.prices(venues_up, btc).index == 6_100_000
    bid, ask = await traders(venues_up, 2, usdt(10_000))
    await order(venues_up, bid.account_id, Side.BUY, 1, 59000)
    await order(venues_up, ask.account_id, Side.SELL, 1, 59200)
    quote = futures.prices(venues_up, btc)
    assert quote.mid == 5_910_000
    assert quote.mark == 5_910_000 * 10_050 // 10_000  # index above the band: clamped to mid+0.5 %


async def test_a_cross_account_below_maintenance_is_taken_over_and_closed_on_the_book(
    venues_up: Platform,
) -> None:
    b, d = await traders(venues_up, 2, usdt(10_000))
    (a,) = await traders(venues_up, 1, usdt(310))
    fund_id, fund_before = await insurance(venues_up)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    assert await wallet(venues_up, a.account_id) == (usdt(7), 0)

    await spot_trade(venues_up, "57500")  # equity 7 + 300 - 250 = 57 >= maintenance 28.75
    assert await futures_jobs.sweep(venues_up) == []
    await spot_trade(venues_up, "57000")  # equity 7 + 300 - 300 = 7 < maintenance 28.5
    await order(venues_up, d.account_id, Side.BUY, 100, 57000)  # liquidity for the fund
    taken = await futures_jobs.sweep(venues_up)

    assert [(t.account_id, t.qty, t.mark, t.pnl) for t in taken] == [
        (a.account_id, 100, 5_700_000, -usdt(300))
    ]
    assert taken[0].collateral == usdt(307) and taken[0].insurance_delta == usdt(7)
    flat = await position(venues_up, a.account_id)
    assert flat is not None and flat.qty == 0
    assert await wallet(venues_up, a.account_id) == (0, 0)
    assert await margin(venues_up, a.account_id) == 0
    fund_position = await position(venues_up, fund_id)
    assert fund_position is not None and fund_position.qty == 0  # closed against d's bid
    buyer = await position(venues_up, d.account_id)
    assert buyer is not None and buyer.qty == 100
    _, fund_after = await insurance(venues_up)
    # +7 left of the margin, minus the taker fee of its closing IOC (5 bps of 5,415 at its limit)
    assert fund_after - fund_before == usdt(7) - usdt("2.7075")
    # a's 300 loss went to the pool, where b's open profit (short 60,000, mark 57,000) waits
    assert await pool(venues_up) == usdt(300)
    assert await futures_jobs.sweep(venues_up) == []  # nothing left below maintenance
    await assert_books_balance(venues_up)


async def test_an_isolated_position_is_liquidated_alone(venues_up: Platform) -> None:
    a, b, d = await traders(venues_up, 3, usdt(10_000))
    async with venues_up.db.session(write=True) as session:
        await futures.set_margin_type(venues_up, session, a.user_id, "BTCUSDT-PERP", "isolated")
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    await spot_trade(venues_up, "57100")  # 300 - 290 = 10 < 28.55: isolated margin only
    await order(venues_up, d.account_id, Side.BUY, 100, 57100)
    taken = await futures_jobs.sweep(venues_up)
    assert [(t.account_id, t.collateral, t.insurance_delta) for t in taken] == [
        (a.account_id, usdt(300), usdt(10))
    ]
    # the wallet (10,000 - 303) is untouched by an isolated liquidation
    assert await wallet(venues_up, a.account_id) == (usdt(9697), 0)
    async with venues_up.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FuturesLiquidation)) == 1
    await assert_books_balance(venues_up)


async def test_funding_is_paid_once_per_funding_time_and_sums_to_zero(
    venues_up: Platform,
) -> None:
    a, b, c, d, e, f = await traders(venues_up, 6, usdt(10_000))
    btc = await contract(venues_up)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    await order(venues_up, d.account_id, Side.SELL, 50, 60000)
    await order(venues_up, c.account_id, Side.BUY, 50, 60000)
    await order(venues_up, e.account_id, Side.BUY, 1, 60300)
    await order(venues_up, f.account_id, Side.SELL, 1, 60500)  # mid 60,400 over index 60,000
    quote = futures.prices(venues_up, btc)
    assert quote.funding_rate_e8 == 400 * 10**8 // 60000 + 10_000  # premium + 0.01 %
    assert quote.mark == 6_040_000 * 9_950 // 10_000
    per_lot = quote.mark * btc.npl * quote.funding_rate_e8 // 10**8
    before = {t.account_id: (await wallet(venues_up, t.account_id))[0] for t in (a, b, c, d)}

    funding_time = futures.next_funding_time(0)
    run = await futures_jobs.run_funding(venues_up, btc, funding_time)
    assert run is not None and run.rate_e8 == quote.funding_rate_e8
    assert await futures_jobs.run_funding(venues_up, btc, funding_time) is None  # exactly once

    after = {t.account_id: (await wallet(venues_up, t.account_id))[0] for t in (a, b, c, d)}
    assert after[a.account_id] - before[a.account_id] == -100 * per_lot  # longs pay
    assert after[c.account_id] - before[c.account_id] == -50 * per_lot
    assert after[b.account_id] - before[b.account_id] == 100 * per_lot  # shorts receive
    assert after[d.account_id] - before[d.account_id] == 50 * per_lot
    async with venues_up.db.session() as session:
        rows = list(await session.scalars(select(FuturesFunding)))
    assert len(rows) == 4 and sum(r.amount for r in rows) == 0
    assert all(r.insurance_covered == 0 for r in rows)
    await assert_books_balance(venues_up)


async def test_a_cross_payer_with_an_empty_wallet_pays_funding_from_its_margin(
    venues_up: Platform,
) -> None:
    (b,) = await traders(venues_up, 1, usdt(10_000))
    (a,) = await traders(venues_up, 1, usdt(303))  # all of it becomes margin and fee
    btc = await contract(venues_up)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    _, fund_before = await insurance(venues_up)
    run = await futures_jobs.run_funding(venues_up, btc, futures.next_funding_time(0))
    assert run is not None
    async with venues_up.db.session() as session:
        rows = {r.account_id: r for r in await session.scalars(select(FuturesFunding))}
    owed = -rows[a.account_id].amount
    assert owed > 0 and rows[b.account_id].amount == owed
    assert await wallet(venues_up, a.account_id) == (0, 0)
    # a paid from its margin (cross: wallet 0 first, then margin)
    assert await margin(venues_up, a.account_id) == usdt(300) - owed
    _, fund_after = await insurance(venues_up)
    assert fund_after == fund_before and rows[a.account_id].insurance_covered == 0
    await assert_books_balance(venues_up)


async def test_concurrent_funding_runs_of_one_time_pay_once(venues_up: Platform) -> None:
    a, b = await traders(venues_up, 2, usdt(10_000))
    btc = await contract(venues_up)
    await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    funding_time = futures.next_funding_time(0)
    runs = await asyncio.gather(
        *(futures_jobs.run_funding(venues_up, btc, funding_time) for _ in range(4))
    )
    assert sum(run is not None for run in runs) == 1
    async with venues_up.db.session() as session:
        amounts = sorted(r.amount for r in await session.scalars(select(FuturesFunding)))
    assert amounts == [-usdt("0.6"), usdt("0.6")]  # 0.01 % of 6,000, once each
    assert await wallet(venues_up, a.account_id) == (usdt(10_000) - usdt(303) - usdt("0.6"), 0)
    await assert_books_balance(venues_up)


async def test_a_restarted_futures_venue_rebuilds_its_book_and_settles_by_its_rules(
    venues_up: Platform,
) -> None:
    a, b = await traders(venues_up, 2, usdt(1000))
    resting = await order(venues_up, b.account_id, Side.SELL, 100, 60000)
    await futures_jobs.stop_futures(venues_up)
    await futures_jobs.open_futures(venues_up)
    btc = await contract(venues_up)
    assert futures.futures_venue(venues_up).books[btc.id].open_order(resting.id) is not None
    await order(venues_up, a.account_id, Side.BUY, 100, 60000)
    short = await position(venues_up, b.account_id)
    assert short is not None and short.qty == -100
    assert await margin(venues_up, b.account_id) == usdt(300)
    await assert_books_balance(venues_up)


async def test_trading_funding_and_liquidation_at_once_keep_the_books_whole(
    venues_up: Platform,
) -> None:
    """Concurrent crossing orders from six accounts (two of them thinly funded), funding runs
    and liquidation sweeps: afterwards every position nets to zero open interest, no balance is
    negative (the ledger's CHECK) and the ledger verifies."""
    rich = await traders(venues_up, 4, usdt(5_000))
    thin = await traders(venues_up, 2, usdt(320))
    btc = await contract(venues_up)
    everyone = rich + thin

    async def trade(i: int) -> None:
        account = everyone[i % len(everyone)]
        side = Side.BUY if i % 2 else Side.SELL
        with contextlib.suppress(InsufficientFunds):
            await order(venues_up, account.account_id, side, 50, 60000 - (i % 3) * 100)

    async def risk(i: int) -> None:
        if i % 2:
            await futures_jobs.run_funding(venues_up, btc, futures.next_funding_time(i * 28_800))
        else:
            await futures_jobs.sweep(venues_up)

    await spot_trade(venues_up, "59000")
    await asyncio.gather(*(trade(i) for i in range(24)), *(risk(i) for i in range(6)))
    await futures_jobs.sweep(venues_up)
    async with venues_up.db.session() as session:
        qtys = list(await session.scalars(select(FuturesPosition.qty)))
        funding = list(await session.scalars(select(FuturesFunding.amount)))
    assert any(qtys) and sum(qtys) == 0
    assert sum(funding) == 0
    for account in everyone:
        posted, held = await wallet(venues_up, account.account_id)
        assert posted >= held >= 0
    await assert_books_balance(venues_up)
