"""`VenueConfig.settlement`: a venue with its own Settlement subclass holds and settles by that
class's rules (acceptance hold, re-hold after a partial fill, replace), with the spot default
untouched (every other test in this package runs on the default)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.engines.matching import venue as venues
from casebook.engines.matching.settlement import Market, OrderState, Settlement
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.venue import NewOrder, Venue, VenueConfig
from casebook.platform.context import Platform
from tests.engines.matching.conftest import assert_books_balance, balances, funded, list_stock

HOOKED = "hooked-venue"


class DoubleHoldSettlement(Settlement):
    """Spot settlement whose buy orders reserve twice the spot hold (a stricter risk rule), and
    which counts the orders `prepare` saw: enough to prove the engine asks the class."""

    prepared: set[int] = set()

    @classmethod
    def wallet_assets(cls, market: Market) -> tuple[str, ...]:
        return (market.base_asset, market.quote_asset)

    async def prepare(
        self, session: AsyncSession, ledger: Ledger, orders: Iterable[OrderState]
    ) -> None:
        DoubleHoldSettlement.prepared.update(order.id for order in orders)

    def hold_amount(self, order: OrderState, price: int, qty: int) -> int:
        spot = self.market.hold_amount(order.side, price, qty)
        return 2 * spot if order.side is Side.BUY else spot


@pytest.fixture
async def hooked(platform: Platform) -> AsyncIterator[Venue]:
    started = await venues.start(
        platform, VenueConfig(venue=HOOKED, settlement=DoubleHoldSettlement)
    )
    yield started
    await venues.stop(platform, HOOKED)


async def test_the_venues_settlement_class_decides_holds_and_settles_fills(hooked: Venue) -> None:
    aapl = await list_stock(hooked)
    buyer = await funded(hooked, "buyer", USD=10_000)
    seller = await funded(hooked, "seller", AAPL=10)
    placed = await hooked.place(NewOrder(buyer, aapl.id, Side.BUY, 10, 100, "limit"))
    assert placed.id in DoubleHoldSettlement.prepared
    assert (await balances(hooked, buyer))["USD"] == (10_000, 2_000)  # 2 x 10 x 100
    await hooked.place(NewOrder(seller, aapl.id, Side.SELL, 4, 100, "limit", tif=TimeInForce.IOC))
    # 400 paid; the rest re-held by the class's rule: 2 x 6 x 100
    assert (await balances(hooked, buyer)) == {"AAPL": (4, 0), "USD": (9_600, 1_200)}
    await hooked.replace(buyer, placed.id, 90, None)
    assert (await balances(hooked, buyer))["USD"] == (9_600, 1_080)  # 2 x 6 x 90
    await hooked.cancel(buyer, placed.id)
    assert (await balances(hooked, buyer))["USD"] == (9_600, 0)
    await assert_books_balance(hooked)
