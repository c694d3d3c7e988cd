"""Helpers of the futures tests: the spot venue (the index) and the futures venue started on the
test platform without their background jobs (tests call the steps themselves), funded futures
accounts, and ledger reads in whole USDT."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from sqlalchemy import select

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.engines.matching import mount
from casebook.engines.matching import venue as venues
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.views import Instrument, NewOrder, OrderView
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.binance import futures, futures_jobs, spot
from casebook.systems.binance.futures_models import FuturesPosition
from casebook.systems.binance.futures_settlement import (
    FUTURES_VENUE,
    insurance_account_id,
    margin_account,
    pool_account,
)

SCALE = spot.SCALE


def usdt(value: str | int) -> int:
    return int(Decimal(str(value)) * SCALE)


def ticks(price: str | int) -> int:
    """A USDT price in ticks of 0.01."""
    return int(Decimal(str(price)) * 100)


@pytest.fixture
async def venues_up(platform: Platform) -> AsyncIterator[Platform]:
    await mount.startup(platform, venues.VenueConfig(venue=spot.VENUE))
    await spot.list_pairs(platform)
    await futures_jobs.open_futures(platform)
    yield platform
    await futures_jobs.stop_futures(platform)
    await mount.shutdown(platform, spot.VENUE)


@dataclass(frozen=True)
class Trader:
    user_id: int
    account_id: int


async def trader(platform: Platform, usdt_amount: int = 0) -> Trader:
    """A user's futures account with `usdt_amount` minor units in its futures wallet."""
    venue = futures.futures_venue(platform)
    user_id = new_id()
    async with platform.db.session(write=True) as session:
        account_id = await futures.account_of(session, user_id)
        if usdt_amount:
            await venue.credit(session, account_id, "USDT", usdt_amount, new_id(), "test")
    return Trader(user_id, account_id)


async def traders(platform: Platform, count: int, usdt_amount: int) -> list[Trader]:
    return [await trader(platform, usdt_amount) for _ in range(count)]


async def contract(platform: Platform, symbol: str = "BTCUSDT-PERP") -> Instrument:
    async with platform.db.session() as session:
        return await futures.futures_venue(platform).instrument(session, symbol)


async def order(
    platform: Platform,
    account_id: int,
    side: Side,
    qty: int,
    price: str | int,
    tif: TimeInForce = TimeInForce.GTC,
    symbol: str = "BTCUSDT-PERP",
) -> OrderView:
    instrument = await contract(platform, symbol)
    return await futures.futures_venue(platform).place(
        NewOrder(account_id, instrument.id, side, qty, ticks(price), "limit", tif=tif)
    )


async def wallet(platform: Platform, account_id: int) -> tuple[int, int]:
    """(posted, held) of the account's futures wallet."""
    async with platform.db.session() as session:
        ledger = Ledger(session)
        found = await ledger.account(await futures.futures_wallet(ledger, account_id))
        return found.posted, found.held


async def margin(platform: Platform, account_id: int, symbol: str = "BTCUSDT-PERP") -> int:
    instrument = await contract(platform, symbol)
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        return (
            await ledger.account(
                await margin_account(ledger, FUTURES_VENUE, account_id, instrument.id)
            )
        ).posted


async def pool(platform: Platform) -> int:
    async with platform.db.session(write=True) as session:
        ledger = Ledger(session)
        return (await ledger.account(await pool_account(ledger, FUTURES_VENUE, "USDT"))).posted


async def insurance(platform: Platform) -> tuple[int, int]:
    """(venue account id, wallet balance) of the insurance fund."""
    async with platform.db.session() as session:
        account_id = await insurance_account_id(session, FUTURES_VENUE)
    assert account_id is not None
    return account_id, (await wallet(platform, account_id))[0]


async def position(
    platform: Platform, account_id: int, symbol: str = "BTCUSDT-PERP"
) -> FuturesPosition | None:
    instrument = await contract(platform, symbol)
    async with platform.db.session() as session:
        row: FuturesPosition | None = await session.scalar(
            select(FuturesPosition).where(
                FuturesPosition.account_id == account_id,
                FuturesPosition.instrument_id == instrument.id,
            )
        )
        return row


async def spot_trade(platform: Platform, price: str) -> None:
    """Print one spot BTCUSDT trade at `price` (moves the index)."""
    venue = spot.exchange(platform)
    async with platform.db.session(write=True) as session:
        seller = await venue.open_account(session, "test:spot-seller", None)
        buyer = await venue.open_account(session, "test:spot-buyer", None)
        await venue.credit(session, seller, "BTC", SCALE, new_id(), "seed")
        await venue.credit(session, buyer, "USDT", usdt(100_000), new_id(), "seed")
        pair = await venue.instrument(session, "BTCUSDT")
    await venue.place(NewOrder(seller, pair.id, Side.SELL, 1, ticks(price), "limit"))
    await venue.place(
        NewOrder(buyer, pair.id, Side.BUY, 1, ticks(price), "limit", tif=TimeInForce.IOC)
    )


async def assert_books_balance(platform: Platform) -> None:
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks
