"""Holdings (delivery shares the client owns) and positions (the day's net per product).

- Positions: today's fills (the IST trading day) of the client's orders, per (symbol, product):
  bought and sold quantity and value, net quantity, average prices and P&L marked at the last
  price (realised on the matched quantity, unrealised on the open net). MIS positions are the
  intraday ones; CNC rows show the day's delivery trades.
- Holdings: per symbol, the shares in the client's exchange account (ledger: posted total,
  including shares blocked by open sell orders) less today's open MIS net (intraday shares are not
  held); `t1_quantity` = today's CNC net buys (not yet delivered to the demat account in real
  T+1 life), average price of the CNC buys, P&L at the last price.

All amounts are paise (ints) here; the Kite API renders rupees. Cost: O(fills today + orders).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, time

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.errors import InstrumentNotFound
from casebook.engines.matching.models import MatchingOrder, MatchingTrade
from casebook.engines.matching.venue import Venue
from casebook.systems.zerodha.broker import CASH
from casebook.systems.zerodha.kite_auth import IST
from casebook.systems.zerodha.models import ZerodhaClient, ZerodhaOrder
from casebook.systems.zerodha.oms import PREFIX


def day_start_ns(now: datetime) -> int:
    local = now.astimezone(IST)
    return int(datetime.combine(local.date(), time(0, 0), IST).timestamp()) * 1_000_000_000


@dataclass
class Position:
    symbol: str
    instrument_id: int
    product: str
    buy_quantity: int = 0
    buy_value: int = 0
    sell_quantity: int = 0
    sell_value: int = 0
    last_price: int = 0

    @property
    def quantity(self) -> int:
        return self.buy_quantity - self.sell_quantity

    @property
    def pnl(self) -> int:
        """(sell value - buy value) + net quantity at the last price."""
        return self.sell_value - self.buy_value + self.quantity * self.last_price


@dataclass
class Holding:
    symbol: str
    instrument_id: int
    quantity: int
    t1_quantity: int
    average_price: int
    last_price: int

    @property
    def pnl(self) -> int:
        return (self.quantity + self.t1_quantity) * (self.last_price - self.average_price)


async def order_products(session: AsyncSession, account_id: int) -> dict[int, tuple[str, int]]:
    """venue order id → (product, our order id) for the account's orders placed through us."""
    ours = {
        f"{PREFIX}{order_id}": (product, order_id)
        for order_id, product in await session.execute(
            select(ZerodhaOrder.order_id, ZerodhaOrder.product).where(
                ZerodhaOrder.account_id == account_id
            )
        )
    }
    rows = await session.execute(
        select(MatchingOrder.id, MatchingOrder.client_order_id).where(
            MatchingOrder.account_id == account_id, MatchingOrder.client_order_id.is_not(None)
        )
    )
    return {vid: ours[coid] for vid, coid in rows if coid in ours}


def _price(venue: Venue, instrument_id: int) -> int:
    instrument = venue.listed[instrument_id]
    ticks = venue.last_price.get(instrument_id) or instrument.reference_price or 0
    return ticks * instrument.tick_size


async def positions(
    session: AsyncSession, venue: Venue, client: ZerodhaClient, now: datetime
) -> list[Position]:
    """The day's positions (module docstring), by symbol then product."""
    products = await order_products(session, client.account_id)
    trades = await session.scalars(
        select(MatchingTrade).where(
            MatchingTrade.venue == venue.name,
            MatchingTrade.ts >= day_start_ns(now),
            or_(
                MatchingTrade.maker_account_id == client.account_id,
                MatchingTrade.taker_account_id == client.account_id,
            ),
        )
    )
    book: dict[tuple[int, str], Position] = {}
    for trade in trades:
        for order_id, account_id, side in (
            (trade.taker_order_id, trade.taker_account_id, trade.taker_side),
            (
                trade.maker_order_id,
                trade.maker_account_id,
                "sell" if trade.taker_side == "buy" else "buy",
            ),
        ):
            if account_id != client.account_id or order_id not in products:
                continue
            instrument = venue.listed[trade.instrument_id]
            product = products[order_id][0]
            key = (trade.instrument_id, product)
            position = book.get(key)
            if position is None:
                position = book[key] = Position(instrument.symbol, instrument.id, product)
            value = trade.price * trade.qty * instrument.npl
            if side == "buy":
                position.buy_quantity += trade.qty * instrument.lot_size
                position.buy_value += value
            else:
                position.sell_quantity += trade.qty * instrument.lot_size
                position.sell_value += value
    for position in book.values():
        position.last_price = _price(venue, position.instrument_id)
    return sorted(book.values(), key=lambda p: (p.symbol, p.product))


async def holdings(
    session: AsyncSession, venue: Venue, client: ZerodhaClient, now: datetime
) -> list[Holding]:
    """The client's delivery holdings (module docstring), by symbol."""
    today = await positions(session, venue, client, now)
    mis_open = {p.instrument_id: p.quantity for p in today if p.product == "MIS"}
    cnc_today = {p.instrument_id: p.quantity for p in today if p.product == "CNC"}
    products = await order_products(session, client.account_id)
    cnc_orders = [vid for vid, (product, _) in products.items() if product == "CNC"]
    bought: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    if cnc_orders:
        for row in await session.scalars(
            select(MatchingOrder).where(
                MatchingOrder.id.in_(cnc_orders),
                MatchingOrder.side == "buy",
                MatchingOrder.filled_qty > 0,
            )
        ):
            bought[row.instrument_id][0] += row.notional_filled
            bought[row.instrument_id][1] += row.filled_qty
    out: list[Holding] = []
    for balance in await venue.balances(session, client.account_id):
        if balance.asset == CASH:
            continue
        try:
            instrument = await venue.instrument(session, balance.asset)
        except InstrumentNotFound:  # an asset that is no listing of this venue
            continue
        shares = balance.total - mis_open.get(instrument.id, 0)
        if shares <= 0:
            continue
        t1 = max(0, min(cnc_today.get(instrument.id, 0), shares))
        notional, qty = bought.get(instrument.id, [0, 0])
        average = notional // (qty * instrument.lot_size) if qty else 0
        out.append(
            Holding(
                symbol=instrument.symbol,
                instrument_id=instrument.id,
                quantity=shares - t1,
                t1_quantity=t1,
                average_price=average,
                last_price=_price(venue, instrument.id),
            )
        )
    return sorted(out, key=lambda h: h.symbol)
