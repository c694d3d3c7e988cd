"""The exchange on the real venue (matching engine + ledger): the KYC gate on orders, trades
settled T+0, surveillance fed by the venue's listener, reports over real trades, AML on real
deposits, and the ledger verifying at the end."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import aml, kyc, members, monitor, reports, runtime, trading
from casebook.systems.stock_exchange.errors import AccountFrozen, KycRequired
from casebook.systems.stock_exchange.models import ExchangeAccount
from tests.systems.stock_exchange.conftest import NewUserId


@pytest.fixture
async def venue(platform: Platform) -> AsyncIterator[Venue]:
    await runtime.start(platform)
    yield runtime.exchange(platform)
    await runtime.stop(platform)


async def verified_trader(
    platform: Platform, venue: Venue, new_user_id: NewUserId, officer: int, **cash: int
) -> tuple[int, ExchangeAccount]:
    user = await new_user_id()
    async with platform.db.session(write=True) as session:
        await members.create_member(session, f"Member {user}", "individual", user)
        account = await trading.open_trading_account(venue, session, user, "main")
        await kyc.submit(session, user, "Name", "US", f"DOC{user}")
        await kyc.decide(session, user, officer, "verified", "ok")
        for asset, amount in cash.items():
            await trading.move_funds(
                venue, session, aml.AmlRules(), account, "deposit", asset, amount, new_id()
            )
    return user, account


async def listed(platform: Platform, venue: Venue, symbol: str = "AAPL") -> trading.Instrument:
    instrument, _ = await trading.list_company(venue, symbol, f"{symbol} Inc.", Decimal("150.00"))
    return instrument


async def order(
    venue: Venue,
    account: ExchangeAccount,
    instrument: trading.Instrument,
    side: str,
    qty: int,
    price: str | None,
    tif: str = "gtc",
) -> trading.OrderView:
    return await trading.place_order(
        venue,
        account.account_id,
        instrument,
        side=side,
        quantity=qty,
        price=Decimal(price) if price else None,
        order_type="limit" if price else "market",
        tif=tif,
        client_order_id=None,
    )


@pytest.mark.feature("stock-exchange", "order-matching")
@pytest.mark.feature("stock-exchange", "trade-settlement")
@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_verified_traders_trade_and_settle_and_the_unverified_cannot(
    platform: Platform, venue: Venue, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    aapl = await listed(platform, venue)
    _, seller = await verified_trader(platform, venue, new_user_id, officer, AAPL=100)
    _, buyer = await verified_trader(platform, venue, new_user_id, officer, USD=5_000_000)
    stranger = await new_user_id()
    async with platform.db.session(write=True) as session:
        await members.create_member(session, "Unverified", "individual", stranger)
        unverified = await trading.open_trading_account(venue, session, stranger, "main")
    with pytest.raises(KycRequired):
        await order(venue, unverified, aapl, "buy", 1, "150.00")

    ask_1 = await order(venue, seller, aapl, "sell", 30, "150.10")
    ask_2 = await order(venue, seller, aapl, "sell", 30, "150.00")
    bought = await order(venue, buyer, aapl, "buy", 40, "150.50")
    # Price-time: the better ask (150.00) first, then 150.10; each at the resting price.
    assert (bought.status, bought.filled_qty) == ("filled", 40)
    assert bought.notional_filled == 30 * 15_000 + 10 * 15_010
    async with platform.db.session() as session:
        seller_view = await venue.order(session, seller.account_id, ask_1.id)
        assert (seller_view.status, seller_view.open_qty) == ("partially_filled", 20)
        assert (await venue.order(session, seller.account_id, ask_2.id)).status == "filled"
        held = {b.asset: b for b in await venue.balances(session, buyer.account_id)}
        sold = {b.asset: b for b in await venue.balances(session, seller.account_id)}
        day = datetime.now(UTC).date()
        summary = await reports.daily_summary(session, day)
        lines = await reports.settlement(session, day)
    taker_fee = bought.notional_filled * trading.TAKER_FEE_BPS // 10_000
    assert held["AAPL"].total == 40
    assert held["USD"].total == 5_000_000 - bought.notional_filled - taker_fee
    assert held["USD"].locked == 0
    assert (sold["AAPL"].total, sold["AAPL"].locked) == (60, 20)
    maker_fee = 30 * 15_000 // 10_000 + 10 * 15_010 // 10_000
    assert sold["USD"].total == bought.notional_filled - maker_fee
    (aapl_day,) = summary
    assert (aapl_day.open, aapl_day.close, aapl_day.volume, aapl_day.trades) == (
        15_000,
        15_010,
        40,
        2,
    )
    by_account = {line.member_id: line for line in lines}
    assert by_account[buyer.member_id].securities_in == 40
    assert by_account[seller.member_id].cash_received == sold["USD"].total
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks


@pytest.mark.feature("stock-exchange", "market-surveillance")
async def test_surveillance_listens_to_the_venue(
    platform: Platform, venue: Venue, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    aapl = await listed(platform, venue)
    user, main = await verified_trader(platform, venue, new_user_id, officer, AAPL=10)
    async with platform.db.session(write=True) as session:
        second = await trading.open_trading_account(venue, session, user, "second")
        await trading.move_funds(
            venue, session, aml.AmlRules(), second, "deposit", "USD", 1_000_000, new_id()
        )
    desk = runtime.surveillance(platform)
    await order(venue, main, aapl, "sell", 5, "150.00")
    await order(venue, second, aapl, "buy", 5, "150.00")  # one trader on both sides
    async with asyncio.timeout(5):
        await desk.wait_for_batches(2)
    async with platform.db.session() as session:
        found = await monitor.alerts(session, kind="wash-trade")
    assert [(a.symbol, a.account_id) for a in found] == [("AAPL", second.account_id)]


@pytest.mark.feature("stock-exchange", "kyc-aml")
async def test_a_frozen_account_can_neither_trade_nor_withdraw(
    platform: Platform, venue: Venue, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    aapl = await listed(platform, venue)
    _, account = await verified_trader(platform, venue, new_user_id, officer, USD=2_000_000)
    async with platform.db.session() as session:
        (flag,) = await aml.review_queue(session)
    assert (flag.rule, flag.account_id) == ("large-transfer", account.account_id)
    async with platform.db.session(write=True) as session:
        await aml.review(session, flag.id, officer, "freeze", "source of funds unknown")
    with pytest.raises(AccountFrozen):
        await order(venue, account, aapl, "buy", 1, "150.00")
    async with platform.db.session(write=True) as session:
        with pytest.raises(AccountFrozen):
            await trading.move_funds(
                venue, session, aml.AmlRules(), account, "withdrawal", "USD", 100, new_id()
            )


@pytest.mark.feature("stock-exchange", "trade-settlement")
async def test_concurrent_buyers_never_overspend_and_the_ledger_balances(
    platform: Platform, venue: Venue, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    aapl = await listed(platform, venue)
    _, seller = await verified_trader(platform, venue, new_user_id, officer, AAPL=50)
    _, buyer = await verified_trader(platform, venue, new_user_id, officer, USD=100_000)
    await order(venue, seller, aapl, "sell", 50, "100.00")
    # Ten buys of 2 shares at $100 (each $200.04 with its fee): the $1,000 covers only four.
    results = await asyncio.gather(
        *(order(venue, buyer, aapl, "buy", 2, "100.00") for _ in range(10)),
        return_exceptions=True,
    )
    filled = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(filled) == 4 and all(isinstance(r, InsufficientFunds) for r in refused)
    async with platform.db.session() as session:
        usd = {b.asset: b for b in await venue.balances(session, buyer.account_id)}["USD"]
        report = await verify(session)
    assert usd.total == 100_000 - 4 * (20_000 + 4) and usd.total >= 0
    assert report.ok, report.breaks


@pytest.mark.feature("stock-exchange", "market-surveillance")
async def test_spoofing_and_a_price_spike_on_the_live_venue_raise_alerts(
    platform: Platform, venue: Venue, new_user_id: NewUserId
) -> None:
    officer = await new_user_id()
    aapl = await listed(platform, venue)
    _, maker = await verified_trader(platform, venue, new_user_id, officer, AAPL=10)
    _, spoofer = await verified_trader(
        platform, venue, new_user_id, officer, AAPL=1_000, USD=900_000
    )
    desk = runtime.surveillance(platform)
    await order(venue, maker, aapl, "sell", 1, "150.00")
    await order(venue, spoofer, aapl, "buy", 1, "150.00")  # the spoofer buys...
    for _ in range(3):  # ...while flashing large offers it never means to fill
        flashed = await order(venue, spoofer, aapl, "sell", 1_000, "160.00")
        await venue.cancel(spoofer.account_id, flashed.id)
    await order(venue, maker, aapl, "sell", 1, "170.00")
    await order(venue, spoofer, aapl, "buy", 1, "170.00")  # +13 % within the minute
    async with asyncio.timeout(5):
        await desk.wait_for_batches(10)
    async with platform.db.session() as session:
        found = await monitor.alerts(session)
    kinds = sorted((a.kind, a.account_id) for a in found)
    assert kinds == [("price-spike", None), ("spoofing", spoofer.account_id)]
    spike = next(a for a in found if a.kind == "price-spike")
    assert (spike.detail["reference_price"], spike.detail["price"]) == (15_000, 17_000)
