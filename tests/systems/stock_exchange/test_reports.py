"""The settlement report, the daily summary and member activity, over trade rows as the venue's
writer stores them (matching_trades), on both backends."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest

from casebook.engines.matching.models import MatchingInstrument, MatchingOrder, MatchingTrade
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import members, reports
from tests.systems.stock_exchange.conftest import NewUserId

DAY = date(2026, 3, 2)
START, _ = reports.day_bounds_ns(DAY)
HOUR = 3_600 * 10**9


async def setup(platform: Platform, new_user_id: NewUserId) -> tuple[int, int, int]:
    """Two members: Alpha (accounts 701) and Beta (702); instrument RPTX (npl 1), a symbol no
    system lists at startup."""
    alpha_user, beta_user = await new_user_id(), await new_user_id()
    instrument_id = new_id()
    async with platform.db.session() as session:
        alpha = await members.create_member(session, "Alpha Brokers", "firm", alpha_user)
        beta = await members.create_member(session, "Beta Capital", "firm", beta_user)
        await members.attach_account(session, 701, alpha.id, alpha_user, "main")
        await members.attach_account(session, 702, beta.id, beta_user, "main")
        session.add(
            MatchingInstrument(
                id=instrument_id,
                venue="stock-exchange",
                symbol="RPTX",
                base_asset="RPTX",
                quote_asset="USD",
                tick_size=1,
                lot_size=1,
                base_scale=1,
                min_qty=1,
                max_qty=10**6,
                maker_fee_bps=1,
                taker_fee_bps=2,
                reference_price=15_000,
            )
        )
        # Three trades on the day and one the day after (not in the report).
        for seq, price, qty, taker_side, ts in (
            (1, 15_000, 10, "buy", START + HOUR),  # Alpha buys from Beta (Beta rests)
            (2, 15_100, 5, "sell", START + 2 * HOUR),  # Alpha sells to Beta
            (3, 14_900, 20, "buy", START + 3 * HOUR),  # Alpha buys again
            (4, 99_999, 1, "buy", START + 25 * HOUR),
        ):
            session.add(
                MatchingTrade(
                    id=new_id(),
                    venue="stock-exchange",
                    instrument_id=instrument_id,
                    trade_seq=seq,
                    price=price,
                    qty=qty,
                    maker_order_id=seq * 10,
                    maker_account_id=702,
                    taker_order_id=seq * 10 + 1,
                    taker_account_id=701,
                    taker_side=taker_side,
                    maker_fee=price * qty // 10_000,
                    taker_fee=price * qty * 2 // 10_000,
                    ts=ts,
                )
            )
        # Alpha's orders entered that day (one the day before is not counted).
        for status, created in (("filled", 1), ("cancelled", 1), ("open", 0)):
            session.add(
                MatchingOrder(
                    id=new_id(),
                    venue="stock-exchange",
                    instrument_id=instrument_id,
                    account_id=701,
                    side="buy",
                    type="limit",
                    tif="GTC",
                    stp=1,
                    price=15_000,
                    qty=1,
                    open_qty=0,
                    status=status,
                    created_at=datetime.combine(DAY, time(12), tzinfo=UTC) + timedelta(created - 1),
                )
            )
        # A trade of another venue never shows.
        session.add(
            MatchingTrade(
                id=new_id(),
                venue="binance",
                instrument_id=instrument_id,
                trade_seq=1,
                price=1,
                qty=10**6,
                maker_order_id=1,
                maker_account_id=702,
                taker_order_id=2,
                taker_account_id=701,
                taker_side="buy",
                maker_fee=0,
                taker_fee=0,
                ts=START,
            )
        )
    return alpha.id, beta.id, instrument_id


@pytest.mark.feature("stock-exchange", "reporting")
@pytest.mark.feature("stock-exchange", "trade-settlement")
async def test_settlement_report_per_member_and_instrument(
    platform: Platform, new_user_id: NewUserId
) -> None:
    _, beta_id, _ = await setup(platform, new_user_id)
    async with platform.db.session() as session:
        lines = await reports.settlement(session, DAY)
        only_beta = await reports.settlement(session, DAY, member_id=beta_id)
    alpha, beta = lines
    assert (alpha.member_name, alpha.symbol, beta.member_name) == (
        "Alpha Brokers",
        "RPTX",
        "Beta Capital",
    )
    # Alpha bought 10 @ 150.00 and 20 @ 149.00 as taker (2 bps), sold 5 @ 151.00 as taker.
    assert (alpha.securities_in, alpha.securities_out, alpha.net_securities) == (30, 5, 25)
    buy_notional = 15_000 * 10 + 14_900 * 20
    assert alpha.cash_paid == buy_notional + 15_000 * 10 * 2 // 10_000 + 14_900 * 20 * 2 // 10_000
    assert alpha.cash_received == 15_100 * 5 - 15_100 * 5 * 2 // 10_000
    # Beta is the other side of every trade: securities and notional mirror Alpha's.
    assert (beta.securities_in, beta.securities_out) == (5, 30)
    assert beta.cash_received == buy_notional - (15_000 * 10 // 10_000 + 14_900 * 20 // 10_000)
    assert (alpha.trades, beta.trades) == (3, 3)
    assert only_beta == [beta]


@pytest.mark.feature("stock-exchange", "reporting")
async def test_daily_summary_and_member_activity(
    platform: Platform, new_user_id: NewUserId
) -> None:
    alpha_id, _, _ = await setup(platform, new_user_id)
    async with platform.db.session() as session:
        summary = await reports.daily_summary(session, DAY)
        next_day = await reports.daily_summary(session, date(2026, 3, 3))
        empty = await reports.daily_summary(session, date(2026, 3, 1))
        activity = await reports.member_activity(session, DAY)
    (aapl,) = summary
    assert (aapl.open, aapl.high, aapl.low, aapl.close) == (15_000, 15_100, 14_900, 14_900)
    assert (aapl.volume, aapl.trades) == (35, 3)
    ticks = 15_000 * 10 + 15_100 * 5 + 14_900 * 20
    assert aapl.quote_volume == ticks
    assert aapl.vwap_ticks_x100 == ticks * 100 // 35
    assert [(s.open, s.volume) for s in next_day] == [(99_999, 1)]
    assert empty == []
    assert [(a.member_name, a.trades, a.volume) for a in activity] == [
        ("Alpha Brokers", 3, 35),
        ("Beta Capital", 3, 35),
    ]
    assert activity[0].member_id == alpha_id
    assert (activity[0].orders, activity[0].orders_by_status) == (2, {"filled": 1, "cancelled": 1})
    assert (activity[1].orders, activity[1].orders_by_status) == (0, {})
