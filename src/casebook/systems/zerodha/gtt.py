"""Good Till Triggered orders: a trigger on the last traded price that places an order.

- `single`: one trigger value and one order; it fires when the price crosses the trigger from
  the side the last price was on at creation (up through it, or down through it).
- `two-leg` (OCO): a lower and an upper trigger with one order each (typically a stop-loss sell
  below and a target sell above); the first one crossed fires its order and the other is gone.

The exchange's venue listener (`on_trades`) reads the active triggers of an instrument that just
traded (one indexed query per batch with trades of a symbol that has any) and fires each crossed
one with ONE conditional UPDATE `active → triggered`, so a trigger fires exactly once even with
several processes listening. The order is placed in a task of its own: the listener runs in the
venue's writer, which the placement needs. The placed order id (or the refusal) is stored on
the trigger. A trigger lives one year, as Kite's do.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.types import TRADE
from casebook.engines.matching.venue import Instrument, Venue
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, NotFound, Problem
from casebook.platform.ids import new_id
from casebook.systems.zerodha import oms
from casebook.systems.zerodha.models import ZerodhaClient, ZerodhaGtt

log = structlog.get_logger("casebook.zerodha.gtt")

TriggerType = Literal["single", "two-leg"]
LIFETIME = timedelta(days=365)
MAX_ACTIVE = 100
"""Active triggers per client."""


class GttNotFound(NotFound):
    type_ = "zerodha/gtt-not-found"
    title = "No such GTT"


@dataclass(frozen=True)
class GttOrder:
    side: Literal["buy", "sell"]
    quantity: int
    product: oms.Product
    price: int
    """Limit price in paise."""

    def as_json(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "quantity": self.quantity,
            "product": self.product,
            "price": self.price,
        }


async def create(
    session: AsyncSession,
    venue: Venue,
    client: ZerodhaClient,
    kind: str,
    symbol: str,
    trigger_values: Sequence[int],
    last_price: int,
    orders: Sequence[GttOrder],
) -> ZerodhaGtt:
    """A new active trigger. InvalidInput (422) for a shape that does not match `kind`, prices
    that are not whole ticks, an OCO whose triggers do not straddle the last price; the venue's
    InstrumentNotFound (404) for an unknown symbol."""
    instrument = await venue.instrument(session, symbol)
    _check(instrument, kind, list(trigger_values), last_price, list(orders))
    active = await session.scalar(
        select(ZerodhaGtt.id)
        .where(ZerodhaGtt.user_id == client.user_id, ZerodhaGtt.status == "active")
        .offset(MAX_ACTIVE - 1)
        .limit(1)
    )
    if active is not None:
        raise InvalidInput(f"At most {MAX_ACTIVE} active GTTs.", field="type")
    now = utcnow()
    row = ZerodhaGtt(
        id=new_id(),
        user_id=client.user_id,
        symbol=symbol,
        type=kind,
        trigger_values=sorted(trigger_values),
        last_price=last_price,
        orders=[o.as_json() for o in orders],
        status="active",
        fired_leg=None,
        result_order_id=None,
        result=None,
        created_at=now,
        updated_at=now,
        expires_at=now + LIFETIME,
    )
    session.add(row)
    await session.flush()
    return row


def _check(
    instrument: Instrument, kind: str, triggers: list[int], last: int, orders: list[GttOrder]
) -> None:
    expected = {"single": 1, "two-leg": 2}.get(kind)
    if expected is None:
        raise InvalidInput("type is single or two-leg.", field="type")
    if len(triggers) != expected or len(orders) != expected:
        raise InvalidInput(f"A {kind} GTT has {expected} trigger value(s) and order(s).")
    tick = instrument.tick_size
    for value in [*triggers, last, *(o.price for o in orders)]:
        if value < 1 or value % tick or value > 10**12:
            raise InvalidInput("Prices must be positive whole ticks.", field="trigger_values")
    for o in orders:
        if not 1 <= o.quantity <= 1_000_000:
            raise InvalidInput("quantity is 1..1,000,000.", field="orders")
        if o.side not in ("buy", "sell") or o.product not in ("CNC", "MIS"):
            raise InvalidInput("An order is BUY/SELL, CNC/MIS.", field="orders")
    if kind == "single" and triggers[0] == last:
        raise InvalidInput("The trigger must differ from the last price.", field="trigger_values")
    if kind == "two-leg" and not min(triggers) < last < max(triggers):
        raise InvalidInput(
            "An OCO's triggers lie one below and one above the last price.",
            field="trigger_values",
        )


def crossed(row: ZerodhaGtt, price: int) -> int | None:
    """The index of the order a trade at `price` (paise) fires, or None. O(1)."""
    values = row.trigger_values
    if row.type == "single":
        trigger = values[0]
        up = row.last_price < trigger
        return 0 if (price >= trigger if up else price <= trigger) else None
    if price <= values[0]:
        return 0
    if price >= values[1]:
        return 1
    return None


async def mine(session: AsyncSession, user_id: int, gtt_id: int) -> ZerodhaGtt:
    row = await session.get(ZerodhaGtt, gtt_id)
    if row is None or row.user_id != user_id:
        raise GttNotFound(f"There is no GTT {gtt_id} of yours.")
    return row


async def modify(
    session: AsyncSession,
    venue: Venue,
    user_id: int,
    gtt_id: int,
    kind: str,
    trigger_values: Sequence[int],
    last_price: int,
    orders: Sequence[GttOrder],
) -> ZerodhaGtt:
    """Replace an active trigger's condition and orders (same symbol). 404 for another's,
    InvalidInput for a trigger no longer active or a bad shape."""
    row = await mine(session, user_id, gtt_id)
    instrument = await venue.instrument(session, row.symbol)
    _check(instrument, kind, list(trigger_values), last_price, list(orders))
    done = await session.execute(
        update(ZerodhaGtt)
        .where(ZerodhaGtt.id == gtt_id, ZerodhaGtt.status == "active")
        .values(
            type=kind,
            trigger_values=sorted(trigger_values),
            last_price=last_price,
            orders=[o.as_json() for o in orders],
            updated_at=utcnow(),
        )
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise InvalidInput(f"The GTT is {row.status}; only an active one can be modified.")
    await session.refresh(row)
    return row


async def delete(session: AsyncSession, user_id: int, gtt_id: int) -> ZerodhaGtt:
    """Cancel an active trigger (Kite's DELETE answers its id); 404 for another's."""
    row = await mine(session, user_id, gtt_id)
    done = await session.execute(
        update(ZerodhaGtt)
        .where(ZerodhaGtt.id == gtt_id, ZerodhaGtt.status == "active")
        .values(status="deleted", updated_at=utcnow())
    )
    if done.rowcount == 0:  # type: ignore[attr-defined]
        raise InvalidInput(f"The GTT is {row.status}; only an active one can be deleted.")
    await session.refresh(row)
    return row


class Triggers:
    """The venue listener that fires GTTs, and the tasks placing their orders."""

    def __init__(self, platform: Platform, venue: Venue) -> None:
        self.platform = platform
        self.venue = venue
        self.tasks: set[asyncio.Task[None]] = set()

    async def on_commit(
        self, instrument: Instrument, events: Sequence[tuple[Any, ...]], _: Any
    ) -> None:
        last = None
        for event in events:
            if event[0] == TRADE:
                last = event[7]
        if last is None or instrument.quote_asset != "INR":
            return
        price = last * instrument.tick_size
        async with self.platform.db.session() as session:
            rows = list(
                await session.scalars(
                    select(ZerodhaGtt).where(
                        ZerodhaGtt.status == "active", ZerodhaGtt.symbol == instrument.symbol
                    )
                )
            )
        for row in rows:
            leg = crossed(row, price)
            if leg is not None:
                task = asyncio.create_task(self.fire(row.id, leg))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def fire(self, gtt_id: int, leg: int) -> None:
        """Claim the trigger (exactly once), then place its order and record the outcome."""
        async with self.platform.db.session(write=True) as session:
            claimed = await session.execute(
                update(ZerodhaGtt)
                .where(
                    ZerodhaGtt.id == gtt_id,
                    ZerodhaGtt.status == "active",
                    ZerodhaGtt.expires_at > utcnow(),
                )
                .values(status="triggered", fired_leg=leg, updated_at=utcnow())
            )
            if claimed.rowcount == 0:  # type: ignore[attr-defined]
                return
            row = await session.get(ZerodhaGtt, gtt_id)
            assert row is not None
            client = await session.get(ZerodhaClient, row.user_id)
        if client is None:
            return
        spec = row.orders[leg]
        result: str
        order_id: int | None = None
        try:
            placed = await oms.place(
                self.platform,
                self.venue,
                client,
                oms.OrderRequest(
                    symbol=row.symbol,
                    side=spec["side"],  # type: ignore[arg-type]
                    quantity=int(spec["quantity"]),  # type: ignore[call-overload]
                    product=spec["product"],  # type: ignore[arg-type]
                    order_type="LIMIT",
                    price=int(spec["price"]),  # type: ignore[call-overload]
                ),
            )
            order_id, result = placed.row.order_id, "success"
        except Problem as problem:
            result = (problem.detail or problem.title)[:300]
        async with self.platform.db.session(write=True) as session:
            await session.execute(
                update(ZerodhaGtt)
                .where(ZerodhaGtt.id == gtt_id)
                .values(result_order_id=order_id, result=result, updated_at=utcnow())
            )
        log.info("gtt fired", gtt_id=gtt_id, leg=leg, order_id=order_id, result=result)

    async def drain(self) -> None:
        """Wait for the orders being placed (shutdown)."""
        if self.tasks:
            await asyncio.gather(*list(self.tasks), return_exceptions=True)
