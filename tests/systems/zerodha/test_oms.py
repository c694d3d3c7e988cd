"""Zerodha's broker core on the exchange's venue: onboarding attested to the exchange, funds,
orders tracked from the venue's commits, charges posted in the ledger, holds that never
over-reserve under concurrency, and no client reaching another's orders."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import AccountKind, InsufficientFunds, Ledger, Transfer, TransferKind
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.errors import OrderNotFound
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import kyc
from casebook.systems.stock_exchange.models import ExchangeAccount, KycRecord, Member
from casebook.systems.zerodha import charges, oms, runtime
from casebook.systems.zerodha.broker import MEMBER_NAME
from casebook.systems.zerodha.models import (
    ZerodhaCharge,
    ZerodhaClient,
    ZerodhaOrder,
    ZerodhaOrderEvent,
)
from tests.systems.zerodha.conftest import API, Client, onboarded, random_pan, signed_up


async def zclient(platform: Platform, client: Client) -> ZerodhaClient:
    async with platform.db.session() as session:
        found = await session.get(ZerodhaClient, client.user_id)
    assert found is not None
    return found


def order(
    side: str, qty: int, price: int | None, product: str = "CNC", symbol: str = "INFY"
) -> oms.OrderRequest:
    return oms.OrderRequest(
        symbol=symbol,
        side=side,  # type: ignore[arg-type]
        quantity=qty,
        product=product,  # type: ignore[arg-type]
        order_type="LIMIT" if price is not None else "MARKET",
        price=price,
    )


async def cash(venue: Venue, platform: Platform, account_id: int, asset: str = "INR") -> Any:
    async with platform.db.session() as session:
        for balance in await venue.balances(session, account_id):
            if balance.asset == asset:
                return balance
    return None


async def charged(platform: Platform, order_id: int) -> ZerodhaCharge:
    """Waits (up to 3 s) for the venue listener to charge the order."""
    async with asyncio.timeout(3):
        while True:
            async with platform.db.session() as session:
                row = await session.get(ZerodhaCharge, order_id)
            if row is not None:
                return row
            await asyncio.sleep(0.02)


@pytest.mark.feature("zerodha", "user-accounts")
async def test_onboarding_opens_an_exchange_account_with_kyc_attested_by_zerodha(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform)
    async with platform.db.session() as session:
        account = await session.get(ExchangeAccount, me.account_id)
        record = await session.get(KycRecord, me.user_id)
        trail = await kyc.audit_trail(session, me.user_id)
        member = await session.get(Member, account.member_id) if account else None
        await kyc.can_trade(session, me.account_id)  # the exchange's own gate lets it through
    assert member is not None and member.name == MEMBER_NAME
    assert record is not None and record.status == "verified"
    assert [e.action for e in trail] == ["attested"]
    assert trail[0].note.startswith(f"attested by member {member.id}")
    got = await client.get(f"{API}/account", headers=me.headers)
    assert got.json()["client_code"] == me.client_code


@pytest.mark.feature("zerodha", "user-accounts")
async def test_bad_or_repeated_onboarding_is_refused_and_writes_nothing(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    _, headers, _, _ = await signed_up(client)
    bad = await client.post(
        f"{API}/account", json={"legal_name": "A Rao", "pan": "12345ABCDE"}, headers=headers
    )
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    missing = await client.get(f"{API}/funds", headers=headers)
    assert missing.status_code == 404
    assert missing.json()["type"] == "/problems/zerodha/not-a-client"
    pan = random_pan()
    first = await client.post(
        f"{API}/account", json={"legal_name": "A Rao", "pan": pan}, headers=headers
    )
    assert first.status_code == 201
    again = await client.post(
        f"{API}/account", json={"legal_name": "A Rao", "pan": random_pan()}, headers=headers
    )
    assert again.status_code == 409
    _, other, _, _ = await signed_up(client)
    same_pan = await client.post(
        f"{API}/account", json={"legal_name": "B Rao", "pan": pan}, headers=other
    )
    assert same_pan.status_code == 409
    async with platform.db.session() as session:
        count = await session.scalar(select(func.count()).select_from(ZerodhaClient))
    assert count == 1


@pytest.mark.feature("zerodha", "trading-accounts")
async def test_pay_in_and_pay_out_move_cash_and_withdrawals_stop_at_available(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=500_000)
    out = await client.post(
        f"{API}/funds/withdrawals", json={"amount": 200_000}, headers=me.headers
    )
    assert out.status_code == 201 and out.json()["available"] == 300_000
    too_much = await client.post(
        f"{API}/funds/withdrawals", json={"amount": 300_001}, headers=me.headers
    )
    assert too_much.status_code == 409
    bad = await client.post(f"{API}/funds/deposits", json={"amount": 0}, headers=me.headers)
    assert bad.status_code == 422
    funds = await client.get(f"{API}/funds", headers=me.headers)
    assert funds.json() == {"total": 300_000, "blocked": 0, "available": 300_000, "currency": "INR"}


@pytest.mark.feature("zerodha", "order-placement")
@pytest.mark.feature("zerodha", "zero-brokerage")
async def test_a_trade_fills_both_orders_and_charges_are_posted_in_the_ledger(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    seller = await onboarded(client, zerodha, platform, cash=100_000, shares={"INFY": 100})
    buyer = await onboarded(client, zerodha, platform, cash=5_000_000)
    ask = await oms.place(
        platform, zerodha, await zclient(platform, seller), order("sell", 10, 185_000, "MIS")
    )
    assert ask.view is not None and ask.view.status == "open"
    bid = await oms.place(
        platform, zerodha, await zclient(platform, buyer), order("buy", 10, 185_500, "CNC")
    )
    assert bid.view is not None and bid.view.status == "filled"
    assert bid.view.notional_filled == 1_850_000  # at the maker's price

    buy_charges = await charged(platform, bid.row.order_id)
    sell_charges = await charged(platform, ask.row.order_id)
    expected_buy = charges.compute("CNC", "buy", 1_850_000)
    expected_sell = charges.compute("MIS", "sell", 1_850_000)
    assert buy_charges.brokerage == 0 and buy_charges.total == expected_buy.total
    assert sell_charges.brokerage == 555  # 0.03 % of ₹18,500 < ₹20
    assert sell_charges.total == expected_sell.total
    assert buy_charges.collected == buy_charges.total

    fee = 1_850_000 * 2 // 10_000  # the exchange's taker fee (2 bp)
    b = await cash(zerodha, platform, buyer.account_id)
    assert (b.total, b.locked) == (5_000_000 - 1_850_000 - fee - expected_buy.total, 0)
    s = await cash(zerodha, platform, seller.account_id)
    maker_fee = 1_850_000 // 10_000
    assert (s.total, s.locked) == (100_000 + 1_850_000 - maker_fee - expected_sell.total, 0)
    shares = await cash(zerodha, platform, buyer.account_id, "INFY")
    assert shares.total == 10

    async with platform.db.session() as session:
        ledger = Ledger(session)
        brokerage = await ledger.find_account(owner="zerodha", name="brokerage", currency="INR")
        payable = await ledger.find_account(
            owner="zerodha", name="statutory-payable", currency="INR"
        )
        clearing = await ledger.find_account(
            owner="zerodha", name="charges-clearing", currency="INR"
        )
        events = list(
            await session.scalars(
                select(ZerodhaOrderEvent.status)
                .where(ZerodhaOrderEvent.order_id == ask.row.order_id)
                .order_by(ZerodhaOrderEvent.filled_qty)
            )
        )
        report = await verify(session)
    assert brokerage is not None and brokerage.posted == 555
    assert payable is not None
    assert payable.posted == expected_buy.total + expected_sell.total - 555
    assert clearing is not None and (clearing.posted, clearing.held) == (0, 0)
    assert events == ["open", "filled"]
    assert report.ok, report.breaks


@pytest.mark.feature("zerodha", "risk-checks")
async def test_cancel_releases_margin_and_the_charge_reserve(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=1_000_000)
    placed = await oms.place(
        platform, zerodha, await zclient(platform, me), order("buy", 2, 100_000)
    )
    assert placed.view is not None and placed.view.status == "open"
    held = await cash(zerodha, platform, me.account_id)
    reserve = placed.row.charges_reserved
    assert reserve > 0
    assert held.locked == 200_000 + 200_000 * 2 // 10_000 + reserve
    cancelled = await oms.cancel(platform, zerodha, me.user_id, placed.row.order_id)
    assert cancelled.status == "cancelled"
    after = await cash(zerodha, platform, me.account_id)
    assert (after.total, after.locked) == (1_000_000, 0)
    async with platform.db.session() as session:
        row = await session.get(ZerodhaOrder, placed.row.order_id)
        assert row is not None and row.charged
        assert await session.get(ZerodhaCharge, placed.row.order_id) is None
        assert (await verify(session)).ok


@pytest.mark.feature("zerodha", "risk-checks")
async def test_an_order_the_cash_cannot_cover_is_refused_and_nothing_stays_held(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=100_000)
    with pytest.raises(InsufficientFunds):
        await oms.place(platform, zerodha, await zclient(platform, me), order("buy", 1, 100_000))
    with pytest.raises(InsufficientFunds):  # shares it does not hold
        await oms.place(platform, zerodha, await zclient(platform, me), order("sell", 1, 100_000))
    after = await cash(zerodha, platform, me.account_id)
    assert (after.total, after.locked) == (100_000, 0)
    async with platform.db.session() as session:
        rows = list(await session.scalars(select(ZerodhaOrder)))
        assert all(row.charged for row in rows)  # the reserves were voided
        assert (await verify(session)).ok


@pytest.mark.feature("zerodha", "risk-checks")
async def test_concurrent_orders_never_block_more_than_the_cash(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=1_000_000)
    z = await zclient(platform, me)

    async def attempt() -> bool:
        try:
            await oms.place(platform, zerodha, z, order("buy", 1, 300_000))
        except InsufficientFunds:
            return False
        return True

    results = await asyncio.gather(*(attempt() for _ in range(8)))
    held = await cash(zerodha, platform, me.account_id)
    per_order = 300_000 + 300_000 * 2 // 10_000 + charges.compute("CNC", "buy", 315_000).total
    assert sum(results) == 3  # three fit in ₹10,000, a fourth does not
    assert held.locked <= held.total == 1_000_000
    assert held.locked >= 3 * 300_060 and held.available < per_order
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("zerodha", "order-placement")
async def test_a_client_never_reaches_another_clients_order(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    owner = await onboarded(client, zerodha, platform, cash=1_000_000)
    other = await onboarded(client, zerodha, platform, cash=1_000_000)
    placed = await oms.place(
        platform, zerodha, await zclient(platform, owner), order("buy", 1, 100_000)
    )
    with pytest.raises(OrderNotFound):
        await oms.cancel(platform, zerodha, other.user_id, placed.row.order_id)
    with pytest.raises(OrderNotFound):
        await oms.modify(platform, zerodha, other.user_id, placed.row.order_id, 90_000, None)
    still = await cash(zerodha, platform, owner.account_id)
    assert still.locked > 0


@pytest.mark.feature("zerodha", "order-placement")
async def test_reconcile_releases_the_reserve_of_an_order_that_never_reached_the_exchange(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    """A crash between our commit (row + charge reserve) and the venue's placement leaves a held
    reserve and no venue order: the startup reconcile voids it."""
    me = await onboarded(client, zerodha, platform, cash=100_000)
    row_id, hold_id = new_id(), new_id()
    async with platform.db.session(write=True) as session:
        session.add(
            ZerodhaOrder(
                order_id=row_id,
                user_id=me.user_id,
                account_id=me.account_id,
                symbol="INFY",
                product="CNC",
                charges_hold_id=hold_id,
                charges_reserved=500,
            )
        )
        await session.flush()
        ledger = Ledger(session)
        await ledger.transfer(
            Transfer(
                id=hold_id,
                debit_account_id=await zerodha.directory.wallet(ledger, me.account_id, "INR"),
                credit_account_id=(
                    await ledger.open_account(
                        owner="zerodha",
                        name="charges-clearing",
                        currency="INR",
                        kind=AccountKind.LIABILITY,
                    )
                ).id,
                amount=500,
                kind=TransferKind.PENDING,
            )
        )
    assert (await cash(zerodha, platform, me.account_id)).locked == 500
    assert await oms.reconcile(platform, zerodha) >= 1
    assert (await cash(zerodha, platform, me.account_id)).locked == 0
    async with platform.db.session() as session:
        row = await session.get(ZerodhaOrder, row_id)
        assert row is not None and row.charged


async def test_the_house_and_listings_are_made_once_whatever_the_restarts(
    zerodha: Venue, platform: Platform
) -> None:
    await runtime.stop(platform)
    await runtime.start(platform)  # a second start finds what the first made
    async with platform.db.session() as session:
        count = await session.scalar(
            select(func.count()).select_from(Member).where(Member.name == MEMBER_NAME)
        )
        infy = await zerodha.instrument(session, "INFY")
    assert count == 1
    assert infy.quote_asset == "INR"
