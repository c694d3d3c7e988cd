"""A venue on the test app's platform, with helpers to list instruments and fund accounts."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from casebook.engines.ledger.verify import verify
from casebook.engines.matching import venue as venues
from casebook.engines.matching.venue import Instrument, InstrumentSpec, Venue, VenueConfig
from casebook.platform.context import Platform
from casebook.platform.ids import new_id

VENUE = "test-venue"


@pytest.fixture
async def venue(platform: Platform) -> AsyncIterator[Venue]:
    started = await venues.start(platform, VenueConfig(venue=VENUE, snapshot_every=7))
    yield started
    await venues.stop(platform, VENUE)


async def list_stock(
    venue: Venue, symbol: str = "AAPL", *, maker_bps: int = 0, taker_bps: int = 0, **extra: int
) -> Instrument:
    async with venue.platform.db.session() as session:
        return await venue.list_instrument(
            session,
            InstrumentSpec(
                symbol=symbol,
                base_asset=symbol,
                quote_asset="USD",
                maker_fee_bps=maker_bps,
                taker_fee_bps=taker_bps,
                **extra,
            ),
        )


async def funded(venue: Venue, owner: str, **assets: int) -> int:
    """An account of `owner` holding `assets` (e.g. USD=10_000, AAPL=5), deposited from outside."""
    async with venue.platform.db.session(write=True) as session:
        account_id = await venue.open_account(session, owner, None)
        for asset, amount in assets.items():
            await venue.credit(session, account_id, asset, amount, new_id(), f"deposit {owner}")
    return account_id


async def balances(venue: Venue, account_id: int) -> dict[str, tuple[int, int]]:
    """asset → (total, locked) of the account."""
    async with venue.platform.db.session() as session:
        return {b.asset: (b.total, b.locked) for b in await venue.balances(session, account_id)}


async def assert_books_balance(venue: Venue) -> None:
    async with venue.platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks
