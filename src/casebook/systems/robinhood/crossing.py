"""House crosses: two customers' orders matched inside the broker, never at the exchange.

All of Robinhood's customers (and Cash App Investing's, who trade through the same engine)
trade through ONE omnibus account at the exchange. Two of them on opposite sides would trade
with each other there: a trade of the house account with itself, which the exchange's
surveillance rightly flags as a wash trade (one beneficial owner), which prints volume that
changed no one's risk at the exchange, and which pays two exchange fees for nothing. So the
broker **internalises**: before an incoming order goes to the exchange, while the best opposite
price on the exchange's book crosses the order's limit and another customer's resting house
order rests at exactly that price, the two are matched here, at that price. The incoming
customer gets the exchange's best price (what the exchange would have given it: best
execution); the resting one gets its limit. House orders among themselves keep time priority
(by exchange order id). The exchange's house orders carry self-trade prevention EXPIRE_TAKER as
the backstop: the exchange never prints a trade of the house account with itself (an incoming
house order that meets a house order deeper in the book, behind another member's better
price, ends there; a customer's order never crosses that customer's own).

Protocol for an incoming order B and a resting order R (each step claim-guarded or idempotent):

1. **claim** R: one conditional UPDATE (`crossing_id = B` where none and R is open), so no
   other incoming order crosses it, and `brokerage.sync` does not end R when its exchange
   order ends;
2. **cancel** R's exchange order: the exchange's answer is exact (what filled, what was open),
   unlike a reduction of its quantity, which could race a fill of R by another member;
3. **match**, in one write transaction: settle R's exchange fills, retire that exchange order
   (its fills become R's base; `reposts` += 1 names its successor `rh-<id>.<n>`), and cross
   c = min(B's need, R's open) shares at the price: ledger legs as if both had traded c shares
   at the exchange, so the custody mirror nets to zero (the house's shares at the exchange did
   not move) and every later settlement step of B and R is unchanged;
4. **re-post** R's rest at its limit. It loses its time priority at the exchange: the price
   of an exact protocol on an exchange without an atomic "reduce by" command.

A crash between steps: `brokerage.reconcile` (at startup) drops the claim and settles R from
its exchange order as it stands: after 2 without 3 it ends cancelled with its fills (the
escrow's rest refunded); after 3 without 4 it has no exchange order under its current client
order id and ends with what it crossed (`finish_unplaced`). Money never moves twice: every
leg's transfer id is derived from (order, step).

Concurrency: one asyncio lock per instrument serialises internalisation in a process; across
processes the claim keeps two incoming orders off one resting order and STP keeps the exchange
clean.

Costs per resting order crossed: one indexed candidate query and one claim UPDATE, one
exchange cancel, one transaction with at most four ledger transfers and two order rows, one
exchange placement for the rest.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.engines.matching.venue import OrderView, Venue
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Problem
from casebook.systems.robinhood import books, brokerage
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.house import House, exchange, house
from casebook.systems.robinhood.models import Order

_LOCKS = "robinhood:crossing-locks"
MAX_CROSSES = 100
"""Resting orders one incoming order may cross (a bound on the loop, far above real use)."""


def _lock(platform: Platform, instrument_id: int) -> asyncio.Lock:
    locks: dict[int, asyncio.Lock] = platform.state.setdefault(_LOCKS, {})
    return locks.setdefault(instrument_id, asyncio.Lock())


def crosses(order: Order, best: int) -> bool:
    """Whether the best opposite price `best` is within the order's limit (a market sell has
    none; a market buy's is its protection ceiling)."""
    if order.side == "buy":
        return order.limit_price is not None and best <= order.limit_price
    return order.limit_price is None or best >= order.limit_price


async def internalise(platform: Platform, order: Order) -> Order:
    """Cross the incoming `order` (accepted, not yet at the exchange) with other customers'
    resting house orders at the exchange's best price, as long as they cross; returns the
    order as it stands (`brokerage.to_send` says what is left for the exchange)."""
    venue = exchange(platform)
    found = house(platform)
    async with _lock(platform, order.instrument_id):
        for _ in range(MAX_CROSSES):
            if brokerage.to_send(order) <= 0:
                break
            book = venue.book(order.instrument_id)
            best = book.best_ask() if order.side == "buy" else book.best_bid()
            if best is None or not crosses(order, best):
                break
            claimed = await _claim(platform, order, best)
            if claimed is None:
                break
            crossed = await _cross(platform, venue, found, order.id, *claimed)
            if crossed is None:
                break
            order = crossed
    return order


async def _claim(platform: Platform, order: Order, price: int) -> tuple[int, int] | None:
    """Claim the first (by exchange time priority) resting house order of another customer on
    the other side at `price`: (its id, its exchange order id), or None."""
    other = "sell" if order.side == "buy" else "buy"
    async with platform.db.session(write=True) as session:
        candidates = await session.execute(
            select(Order.id, Order.venue_order_id)
            .where(
                Order.symbol == order.symbol,
                Order.side == other,
                Order.type == "limit",
                Order.closed.is_(False),
                Order.crossing_id.is_(None),
                Order.limit_price == price,
                Order.owner != order.owner,
                Order.venue_order_id.is_not(None),
            )
            .order_by(Order.venue_order_id)
            .limit(8)
        )
        for resting_id, venue_order_id in candidates.all():
            assert venue_order_id is not None
            claimed = await session.execute(
                update(Order)
                .where(
                    Order.id == resting_id,
                    Order.crossing_id.is_(None),
                    Order.closed.is_(False),
                    Order.venue_order_id == venue_order_id,
                )
                .values(crossing_id=order.id)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                return int(resting_id), int(venue_order_id)
    return None


async def _cross(
    platform: Platform, venue: Venue, found: House, incoming_id: int, resting_id: int, venue_id: int
) -> Order | None:
    """Steps 2-4 for one claimed resting order; the incoming order after the cross, or None
    when the resting order had left the book (it is then settled as it stands)."""
    try:
        view = await venue.cancel(found.account_id, venue_id)
    except Problem:
        # Filled or cancelled at the exchange since the book was read: release the claim and
        # settle it from its exchange order; the incoming order goes to the exchange.
        async with platform.db.session() as session:
            view = await venue.order(session, found.account_id, venue_id)
        async with platform.db.session(write=True) as session:
            await session.execute(
                update(Order).where(Order.id == resting_id).values(crossing_id=None)
            )
            await brokerage.sync(session, resting_id, view)
        return None
    async with platform.db.session(write=True) as session:
        incoming, rest = await _match(session, incoming_id, resting_id, view)
    if rest:
        await _repost(platform, venue, found, resting_id)
    return incoming


def _legs(order: Order, acc: books.OrderAccounts, other: int, qty: int, price: int) -> list[Any]:
    """The ledger legs of `order`'s side of a cross of `qty` shares at `price` cents, as if
    traded at the exchange: a limit order settles in full now (as `_settle_limit` would); a
    market order's shares go through the inventory and its cash settles when it ends
    (`_settle_market` counts `internal_filled`)."""
    step = f"cross:{other}:{order.internal_filled}"
    shares, notional = qty * MICRO, qty * price
    legs: list[Transfer] = []
    if order.side == "buy":
        to = acc.position if order.type == "limit" else acc.inventory
        legs.append(brokerage.leg(order.id, f"{step}:shares", acc.custody, to, shares, "buy"))
        if order.type == "limit":
            legs.append(
                brokerage.leg(
                    order.id, f"{step}:cash", acc.escrow_cash, acc.trading, notional, "buy"
                )
            )
    else:
        legs.append(
            brokerage.leg(order.id, f"{step}:shares", acc.escrow_micro, acc.custody, shares, "sell")
        )
        if order.type == "limit":
            legs.append(
                brokerage.leg(order.id, f"{step}:cash", acc.trading, acc.cash, notional, "sell")
            )
    order.internal_filled += qty
    order.internal_notional += notional
    if order.type == "limit":
        order.filled_micro += shares
        order.amount += notional
    return legs


async def _match(
    session: AsyncSession, incoming_id: int, resting_id: int, view: OrderView
) -> tuple[Order, int]:
    """Step 3 (see the module docstring): returns the incoming order and the resting order's
    rest to re-post (whole shares)."""
    rows = {
        row.id: row
        for row in await session.scalars(
            select(Order)
            .where(Order.id.in_((incoming_id, resting_id)))
            .order_by(Order.id)
            .with_for_update()
        )
    }
    incoming, resting = rows[incoming_id], rows[resting_id]
    ledger = Ledger(session)
    acc_in = await books.open_order_accounts(
        ledger, incoming.owner, incoming.cash_name, incoming.symbol
    )
    acc_rest = await books.open_order_accounts(
        ledger, resting.owner, resting.cash_name, resting.symbol
    )
    await books.lock(ledger, acc_in, acc_rest)
    # The resting order's exchange order is over: settle its fills, then retire it.
    await brokerage.settle_limit(ledger, acc_rest, resting, view)
    resting.venue_base_filled += view.filled_qty
    resting.venue_base_notional += view.notional_filled
    resting.venue_order_id, resting.crossing_id = None, None
    resting.reposts += 1
    assert resting.limit_price is not None
    price = resting.limit_price
    qty = min(brokerage.to_send(incoming), brokerage.to_send(resting))
    if qty > 0 and not incoming.closed:
        legs = _legs(incoming, acc_in, resting.id, qty, price)
        legs += _legs(resting, acc_rest, incoming.id, qty, price)
        await brokerage.move(ledger, legs)
    rest = brokerage.to_send(resting)
    now = utcnow()
    if rest == 0:
        await brokerage.refund(ledger, acc_rest, resting)
        resting.status = (
            "filled" if resting.filled_micro == resting.micro_shares else "partially_filled"
        )
    else:
        resting.status = "partially_filled" if resting.filled_micro else "open"
    resting.updated_at = incoming.updated_at = now
    return incoming, rest


async def _repost(platform: Platform, venue: Venue, found: House, resting_id: int) -> None:
    """Step 4: the resting order's rest goes back to the exchange at its limit under its next
    client order id; if the exchange refuses it, the order ends with what it has."""
    async with platform.db.session() as session:
        order = await session.get(Order, resting_id)
        assert order is not None
        instrument = await venue.instrument(session, order.symbol)
    try:
        view = await venue.place(brokerage.venue_order(order, instrument, found))
    except Problem as problem:
        async with platform.db.session(write=True) as session:
            await brokerage.finish_unplaced(session, resting_id, problem.detail or problem.title)
        return
    async with platform.db.session(write=True) as session:
        await brokerage.sync(session, resting_id, view)
