"""The surveillance desk stores alerts from committed batches (event tuples as the venue gives
its listeners), resolving beneficial owners from the members' accounts."""

from __future__ import annotations

import pytest

from casebook.engines.matching.types import TRADE, Side
from casebook.engines.matching.views import Instrument
from casebook.platform.context import Platform
from casebook.systems.stock_exchange import members, monitor
from tests.systems.stock_exchange.conftest import NewUserId

AAPL = Instrument(
    id=42,
    venue="stock-exchange",
    symbol="AAPL",
    base_asset="AAPL",
    quote_asset="USD",
    tick_size=1,
    lot_size=1,
    base_scale=1,
    min_qty=1,
    max_qty=10**6,
    maker_fee_bps=0,
    taker_fee_bps=0,
    reference_price=15_000,
    status="trading",
)


def trade(
    seq: int, maker: int, taker: int, price: int = 15_000, ts: int = 10**18
) -> tuple[int, ...]:
    return (TRADE, seq, 100 + seq, maker, 200 + seq, taker, int(Side.BUY), price, 1, 0, 0, ts)


@pytest.mark.feature("stock-exchange", "market-surveillance")
async def test_wash_trades_across_one_traders_accounts_are_stored_as_alerts(
    platform: Platform, new_user_id: NewUserId
) -> None:
    trader, other = await new_user_id(), await new_user_id()
    async with platform.db.session() as session:
        firm = await members.create_member(session, "Wash & Co", "firm", trader)
        await members.attach_account(session, 801, firm.id, trader, "main")
        await members.attach_account(session, 802, firm.id, trader, "second")
        solo = await members.create_member(session, "Honest Solo", "individual", other)
        await members.attach_account(session, 803, solo.id, other, "main")
    desk = monitor.Surveillance(platform.db)
    await desk.on_commit(AAPL, [trade(1, 801, 803), trade(2, 803, 801)], {})
    async with platform.db.session() as session:
        assert await monitor.alerts(session) == []
    await desk.on_commit(AAPL, [trade(3, 801, 802)], {})
    async with platform.db.session() as session:
        (alert,) = await monitor.alerts(session)
        assert await monitor.alerts(session, kind="spoofing") == []
    assert (alert.kind, alert.symbol, alert.account_id) == ("wash-trade", "AAPL", 802)
    assert alert.detail["owner_user_id"] == str(trader)
    assert alert.detail["trade_seq"] == 3
