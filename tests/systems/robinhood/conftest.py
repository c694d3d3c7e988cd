"""Fixtures for Robinhood: the exchange and Robinhood started on the test platform, a market
maker at the exchange (a verified trader of another member) quoting AAPL, and onboarded,
funded Robinhood customers."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import date
from decimal import Decimal

import pytest

from casebook.engines.matching.venue import Instrument, Venue
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.robinhood import house, onboarding, portfolio
from casebook.systems.stock_exchange import aml, kyc, members, runtime, trading
from casebook.systems.stock_exchange.models import ExchangeAccount

NewUser = Callable[[], Awaitable[int]]
GOOD = onboarding.Application("Ada Lovelace", date(1990, 12, 10), "US", "123456789")


@pytest.fixture
async def started(platform: Platform) -> AsyncIterator[Venue]:
    """The exchange's venue (started by the app) with Robinhood's house account opened and its
    listener attached (by the app too once Robinhood is registered)."""
    ours = "robinhood:house" not in platform.state
    if ours:
        await house.start(platform)
    yield runtime.exchange(platform)
    if ours:
        await house.stop(platform)


async def _user(platform: Platform) -> int:
    async with platform.db.session() as session:
        user = await register_user(
            session,
            f"rh-{secrets.token_hex(5)}@example.com",
            secrets.token_urlsafe(12),
            "Customer",
            settings=platform.settings,
        )
        return user.id


@pytest.fixture
def new_user(platform: Platform) -> NewUser:
    async def create() -> int:
        return await _user(platform)

    return create


async def customer(platform: Platform, cents: int = 0) -> int:
    """An onboarded customer with `cents` deposited."""
    user_id = await _user(platform)
    async with platform.db.session(write=True) as session:
        record = await onboarding.apply(session, user_id, GOOD, date(2026, 1, 1))
        assert record.status == "approved"
        if cents:
            await portfolio.move_cash(session, user_id, "deposit", cents, new_id())
    return user_id


async def market_maker(platform: Platform, venue: Venue, **deposits: int) -> ExchangeAccount:
    """A verified self-directed trader at the exchange (KYC decided by an officer)."""
    officer = await _user(platform)
    user_id = await _user(platform)
    async with platform.db.session(write=True) as session:
        await members.create_member(session, f"MM {user_id}", "individual", user_id)
        account = await trading.open_trading_account(venue, session, user_id, "main")
        await kyc.submit(session, user_id, "Market Maker", "US", f"D{user_id}")
        await kyc.decide(session, user_id, officer, "verified", "ok")
        for asset, amount in deposits.items():
            await trading.move_funds(
                venue, session, aml.AmlRules(), account, "deposit", asset, amount, new_id()
            )
    return account


async def aapl(venue: Venue) -> Instrument:
    instrument, _ = await trading.list_company(venue, "AAPL", "Apple Inc.", Decimal("189.50"))
    return instrument


async def rest(
    venue: Venue, account: ExchangeAccount, instrument: Instrument, side: str, qty: int, cents: int
) -> None:
    await trading.place_order(
        venue,
        account.account_id,
        instrument,
        side=side,
        quantity=qty,
        price=Decimal(cents) / 100,
        order_type="limit",
        tif="gtc",
        client_order_id=None,
    )
