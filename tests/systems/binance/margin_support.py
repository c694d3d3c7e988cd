"""Helpers of the margin tests: venue accounts that make the market (a last trade at a chosen
price, bids to sell into), margin operations in their own write sessions, and ledger reads."""

from __future__ import annotations

from decimal import Decimal

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.views import NewOrder, OrderView
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.binance import margin, spot

SCALE = spot.SCALE


def units(amount: str) -> int:
    return int(Decimal(amount) * SCALE)


async def venue_account(platform: Platform, owner: str, funds: dict[str, str]) -> int:
    """A plain venue account (a market maker), funded from the venue's external source."""
    venue = spot.exchange(platform)
    async with platform.db.session(write=True) as session:
        account_id = await venue.open_account(session, owner, None)
        for asset, amount in funds.items():
            await venue.credit(session, account_id, asset, units(amount), new_id(), "test")
    return account_id


def btc_lots(price_usdt: int) -> int:
    """BTCUSDT ticks of a whole-USDT price."""
    return price_usdt * 100


async def limit(
    platform: Platform, account_id: int, side: Side, price_usdt: int, lots: int, tif: str = "gtc"
) -> OrderView:
    venue = spot.exchange(platform)
    async with platform.db.session() as session:
        pair = await venue.instrument(session, "BTCUSDT")
    return await venue.place(
        NewOrder(
            account_id=account_id,
            instrument_id=pair.id,
            side=side,
            qty=lots,
            price=btc_lots(price_usdt),
            tif=TimeInForce[tif.upper()],
        )
    )


async def print_trade(platform: Platform, maker: int, taker: int, price_usdt: int) -> None:
    """One BTCUSDT trade of one lot at `price_usdt` between two market accounts: the index."""
    await limit(platform, maker, Side.SELL, price_usdt, 1)
    filled = await limit(platform, taker, Side.BUY, price_usdt, 1, "ioc")
    assert filled.status == "filled", filled


async def margin_transfer(
    platform: Platform, user_id: int, asset: str, amount: str, *, to_margin: bool = True
) -> margin.MarginState:
    async with platform.db.session(write=True) as session:
        return await margin.transfer(
            session, spot.exchange(platform), user_id, asset, units(amount), to_margin=to_margin
        )


async def borrow(platform: Platform, user_id: int, asset: str, amount: int) -> None:
    async with platform.db.session(write=True) as session:
        await margin.borrow(session, spot.exchange(platform), user_id, asset, amount)


async def repay(platform: Platform, user_id: int, asset: str, amount: int) -> tuple[int, int]:
    async with platform.db.session(write=True) as session:
        return await margin.repay(session, spot.exchange(platform), user_id, asset, amount)


async def state(platform: Platform, user_id: int) -> margin.MarginState:
    async with platform.db.session() as session:
        return await margin.account_state(session, spot.exchange(platform), user_id)


async def house(platform: Platform, name: str, asset: str) -> int:
    """The posted balance of a house margin account (0 when never opened)."""
    async with platform.db.session() as session:
        found = await Ledger(session).find_account(owner=margin.HOUSE, name=name, currency=asset)
    return 0 if found is None else found.posted


async def books_balance(platform: Platform) -> None:
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks
