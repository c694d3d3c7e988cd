"""Zerodha's order management: orders of a client go to the Stock Exchange's venue, their state
follows the venue's commits, and each executed order is charged.

Placement (`place`): validation, then ONE transaction writes our order row and a PENDING ledger
hold of the most the order's charges can be (charges.compute at the limit price — or the market
protection price — for the whole quantity: charges grow with turnover, so fills at or inside the
limit never cost more; a sell reserves only the cash free now, since its charges can come out
of its proceeds). Then the venue's `place` (its own hold of the order's
value is the delivery margin) with `client_order_id = "zerodha:<our id>"`. A venue refusal voids
our hold (the order is then REJECTED to Kite's eyes: no venue order carries our id). Nothing is
charged twice: `settle` runs under the order row's lock and sets `charged` in the same
transaction as its transfers.

State: the venue's listener (`on_commit`) records each committed state of our orders
(`zerodha_order_events`, Kite's order history) and settles the charges of an order that is done
(`settle`: POST the reserve for the exact charges, the rest released; brokerage to Zerodha's
revenue, the statutory part to a payable account; or VOID it when nothing was filled). `settle`
is idempotent (row lock + `charged`), and `reconcile` at startup settles whatever a crash left.
Cost per committed batch: one indexed query when a batch touches orders of ours, none otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import (
    AccountKind,
    InsufficientFunds,
    Ledger,
    Transfer,
    TransferKind,
)
from casebook.engines.matching.errors import OrderNotFound
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.ids import new_id
from casebook.systems.zerodha import charges
from casebook.systems.zerodha.broker import CASH
from casebook.systems.zerodha.models import (
    ZerodhaCharge,
    ZerodhaClient,
    ZerodhaOrder,
    ZerodhaOrderEvent,
)

log = structlog.get_logger("casebook.zerodha.oms")

PREFIX = "zerodha:"
OWNER = "zerodha"
FINAL = frozenset({"filled", "cancelled", "expired", "rejected"})
Product = Literal["CNC", "MIS"]
OrderType = Literal["LIMIT", "MARKET"]
Validity = Literal["DAY", "IOC"]


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Literal["buy", "sell"]
    quantity: int
    product: Product
    order_type: OrderType
    price: int | None
    """Paise; required for LIMIT, refused for MARKET."""
    validity: Validity = "DAY"
    tag: str | None = None


@dataclass(frozen=True)
class BrokerOrder:
    row: ZerodhaOrder
    view: OrderView | None
    """The venue's order (None when the venue refused it before it existed)."""
    instrument: Instrument


def _bound_price(venue: Venue, instrument: Instrument, request: OrderRequest) -> int:
    """The highest price a fill of this order can have for the charge reserve (ticks)."""
    last = venue.last_price.get(instrument.id) or instrument.reference_price or 0
    md = venue.marketdata(instrument.id)
    best = md.best_bid() if request.side == "sell" else md.best_ask()
    candidates = [last, best[0] if best else 0]
    if request.price is not None:
        candidates.append(request.price // instrument.tick_size)
    # A market buy is capped by the venue's protection price; a sell fills at bids that exist.
    ceiling = max(candidates) * (10_000 + venue.config.market_protection_bps) // 10_000
    return max(ceiling, 1)


async def place(
    platform: Platform, venue: Venue, client: ZerodhaClient, request: OrderRequest
) -> BrokerOrder:
    """Place a client's order (module docstring). Raises InvalidInput (422), the venue's
    InstrumentNotFound (404), and InsufficientFunds (409) when the cash (or, for a sell, the
    shares) does not cover the order and its charges; nothing stays held after a refusal."""
    if not 1 <= request.quantity <= 1_000_000:
        raise InvalidInput("quantity is 1..1,000,000 shares.", field="quantity")
    if request.order_type == "LIMIT" and request.price is None:
        raise InvalidInput("A LIMIT order needs a price.", field="price")
    if request.order_type == "MARKET" and request.price is not None:
        raise InvalidInput("A MARKET order takes no price.", field="price")
    async with platform.db.session() as session:
        instrument = await venue.instrument(session, request.symbol)
    if instrument.quote_asset != CASH:
        raise InvalidInput(f"{request.symbol} is not traded in INR here.", field="tradingsymbol")
    if request.price is not None and (request.price < 1 or request.price % instrument.tick_size):
        raise InvalidInput("price must be a positive multiple of the tick.", field="price")
    bound = _bound_price(venue, instrument, request)
    reserve = charges.compute(
        request.product, request.side, bound * request.quantity * instrument.npl
    ).total
    if request.side == "sell":
        # A sale's charges can come out of its proceeds: reserve only what cash is free now.
        reserve = min(reserve, await _free_cash(platform, venue, client.account_id))
    row = ZerodhaOrder(
        order_id=new_id(),
        user_id=client.user_id,
        account_id=client.account_id,
        symbol=request.symbol,
        product=request.product,
        tag=request.tag,
        charges_hold_id=new_id(),
        charges_reserved=reserve,
        charged=False,
    )
    async with platform.db.session(write=True) as session:
        session.add(row)
        await session.flush()
        if reserve:
            ledger = Ledger(session)
            await ledger.transfer(
                Transfer(
                    id=row.charges_hold_id,
                    debit_account_id=await venue.directory.wallet(ledger, client.account_id, CASH),
                    credit_account_id=await _house_account(ledger, "charges-clearing"),
                    amount=reserve,
                    kind=TransferKind.PENDING,
                    code="charges-reserve",
                    reference=f"zerodha:order:{row.order_id}",
                )
            )
    try:
        view = await venue.place(
            NewOrder(
                account_id=client.account_id,
                instrument_id=instrument.id,
                side=Side.BUY if request.side == "buy" else Side.SELL,
                qty=request.quantity,
                price=None if request.price is None else request.price // instrument.tick_size,
                type="limit" if request.order_type == "LIMIT" else "market",
                tif=TimeInForce.DAY if request.validity == "DAY" else TimeInForce.IOC,
                client_order_id=f"{PREFIX}{row.order_id}",
            )
        )
    except Problem:
        await settle(platform, venue, row.order_id)
        raise
    await record(platform, venue, {view.id: view})
    return BrokerOrder(row, view, instrument)


async def _free_cash(platform: Platform, venue: Venue, account_id: int) -> int:
    async with platform.db.session() as session:
        for balance in await venue.balances(session, account_id):
            if balance.asset == CASH:
                return balance.available
    return 0


async def _house_account(ledger: Ledger, name: str) -> int:
    kinds = {
        "charges-clearing": AccountKind.LIABILITY,
        "brokerage": AccountKind.REVENUE,
        "statutory-payable": AccountKind.LIABILITY,
    }
    account = await ledger.open_account(owner=OWNER, name=name, currency=CASH, kind=kinds[name])
    return account.id


def our_id(view: OrderView) -> int | None:
    """Our order id from a venue order's client_order_id, or None when it is not ours."""
    coid = view.client_order_id
    if coid is None or not coid.startswith(PREFIX):
        return None
    tail = coid[len(PREFIX) :]
    return int(tail) if tail.isdigit() else None


async def on_commit(
    platform: Platform,
    venue: Venue,
    instrument: Instrument,
    events: Sequence[tuple[Any, ...]],
    orders: Mapping[int, OrderView],
) -> None:
    """The venue listener: record the states of our orders, settle the ones that are done."""
    await record(platform, venue, orders)


async def record(platform: Platform, venue: Venue, orders: Mapping[int, OrderView]) -> None:
    """Store each order's committed state once (unique (order, status, filled)); settle done
    orders. Called by the listener and by `place` (whichever runs first; both are idempotent)."""
    ours = {oid: view for view in orders.values() if (oid := our_id(view)) is not None}
    if not ours:
        return
    async with platform.db.session(write=True) as session:
        dialect = session.get_bind().dialect.name
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        rows = [
            {
                "id": new_id(),
                "order_id": oid,
                "status": view.status,
                "filled_qty": view.filled_qty,
                "at": view.updated_at,
            }
            for oid, view in ours.items()
        ]
        await session.execute(insert(ZerodhaOrderEvent).values(rows).on_conflict_do_nothing())
    for oid, view in ours.items():
        if view.status in FINAL:
            await settle(platform, venue, oid)


async def venue_order(session: AsyncSession, venue: Venue, row: ZerodhaOrder) -> OrderView | None:
    """The venue's order of our row, found by its client_order_id (None if it never reached the
    venue)."""
    found = await session.scalar(
        select(MatchingOrder).where(
            MatchingOrder.venue == venue.name,
            MatchingOrder.account_id == row.account_id,
            MatchingOrder.client_order_id == f"{PREFIX}{row.order_id}",
        )
    )
    return None if found is None else OrderView.of(found)


async def settle(platform: Platform, venue: Venue, order_id: int) -> None:
    """Charge a done order exactly once (module docstring); an order the venue never took (no
    venue order carries our id) has its reserve voided.

    The reserve pays first (POST for the charges, the rest released). What it does not cover (a
    sell placed with little cash: its charges come out of the sale's proceeds) is taken from the
    client's cash; if the cash is no longer there, the shortfall is recorded as owed
    (`collected < total`), never taken below zero."""
    async with platform.db.session(write=True) as session:
        row = await session.scalar(
            select(ZerodhaOrder).where(ZerodhaOrder.order_id == order_id).with_for_update()
        )
        if row is None or row.charged:
            return
        view = await venue_order(session, venue, row)
        if view is not None and view.status not in FINAL:
            return
        ledger = Ledger(session)
        held = row.charges_reserved > 0
        if view is None or view.filled_qty == 0:
            if held:
                await ledger.transfer(
                    Transfer(id=new_id(), kind=TransferKind.VOID, pending_id=row.charges_hold_id)
                )
            row.charged = True
            return
        product: charges.Product = "CNC" if row.product == "CNC" else "MIS"
        side: charges.Side = "buy" if view.side == "buy" else "sell"
        due = charges.compute(product, side, view.notional_filled)
        clearing = await _house_account(ledger, "charges-clearing")
        from_hold = min(due.total, row.charges_reserved)
        if held:
            await ledger.transfer(
                Transfer(
                    id=new_id(),
                    kind=TransferKind.POST,
                    pending_id=row.charges_hold_id,
                    amount=from_hold,
                )
                if from_hold
                else Transfer(id=new_id(), kind=TransferKind.VOID, pending_id=row.charges_hold_id)
            )
        collected = from_hold
        rest = due.total - from_hold
        if rest:
            wallet = await venue.directory.wallet(ledger, row.account_id, CASH)
            try:
                async with session.begin_nested():
                    await ledger.transfer(
                        Transfer(
                            id=new_id(),
                            debit_account_id=wallet,
                            credit_account_id=clearing,
                            amount=rest,
                            code="charges",
                            reference=f"zerodha:order:{row.order_id}",
                        )
                    )
                collected += rest
            except InsufficientFunds:
                log.warning("charges owed", order_id=order_id, owed=rest)
        brokerage = min(due.brokerage, collected)
        legs = [
            Transfer(
                id=new_id(),
                debit_account_id=clearing,
                credit_account_id=await _house_account(ledger, name),
                amount=amount,
                code="charges",
                reference=f"zerodha:order:{row.order_id}",
            )
            for name, amount in (
                ("brokerage", brokerage),
                ("statutory-payable", collected - brokerage),
            )
            if amount
        ]
        if legs:
            await ledger.create_transfers(legs)
        session.add(
            ZerodhaCharge(
                order_id=row.order_id,
                user_id=row.user_id,
                product=row.product,
                side=view.side,
                turnover=due.turnover,
                brokerage=due.brokerage,
                stt=due.stt,
                exchange_txn=due.exchange_txn,
                sebi=due.sebi,
                stamp_duty=due.stamp_duty,
                gst=due.gst,
                total=due.total,
                collected=collected,
                at=utcnow(),
            )
        )
        row.charged = True


async def reconcile(platform: Platform, venue: Venue) -> int:
    """Settle every order a crash left uncharged (its reserve still held); returns how many were
    looked at. O(uncharged orders)."""
    async with platform.db.session() as session:
        pending = list(
            await session.scalars(
                select(ZerodhaOrder.order_id).where(ZerodhaOrder.charged.is_(False))
            )
        )
    for order_id in pending:
        await settle(platform, venue, order_id)
    return len(pending)


async def order_of(
    session: AsyncSession, venue: Venue, user_id: int, order_id: int
) -> tuple[ZerodhaOrder, OrderView | None]:
    """The user's order; OrderNotFound (404) for another user's or an unknown id."""
    row = await session.get(ZerodhaOrder, order_id)
    if row is None or row.user_id != user_id:
        raise OrderNotFound(f"There is no order {order_id} of yours.")
    return row, await venue_order(session, venue, row)


async def cancel(platform: Platform, venue: Venue, user_id: int, order_id: int) -> OrderView:
    """Cancel the user's open order (its holds are released by the venue and by `settle`)."""
    async with platform.db.session() as session:
        row, view = await order_of(session, venue, user_id, order_id)
    if view is None:
        raise OrderNotFound(f"Order {order_id} never reached the exchange.")
    cancelled = await venue.cancel(row.account_id, view.id)
    await record(platform, venue, {cancelled.id: cancelled})
    return cancelled


async def modify(
    platform: Platform,
    venue: Venue,
    user_id: int,
    order_id: int,
    price: int | None,
    quantity: int | None,
) -> OrderView:
    """Change an open LIMIT order's price (paise) and/or quantity. The charge reserve was sized at
    the order's placement bound; a modified price above that bound is refused (422)."""
    async with platform.db.session() as session:
        row, view = await order_of(session, venue, user_id, order_id)
        if view is None:
            raise OrderNotFound(f"Order {order_id} never reached the exchange.")
        instrument = venue.listed[view.instrument_id]
    ticks = None
    if price is not None:
        if price < 1 or price % instrument.tick_size:
            raise InvalidInput("price must be a positive multiple of the tick.", field="price")
        ticks = price // instrument.tick_size
    if quantity is not None and not 1 <= quantity <= 1_000_000:
        raise InvalidInput("quantity is 1..1,000,000 shares.", field="quantity")
    side: Literal["buy", "sell"] = "buy" if view.side == "buy" else "sell"
    need = charges.compute(
        "CNC" if row.product == "CNC" else "MIS",
        side,
        (ticks or view.price) * (quantity or view.qty) * instrument.npl,
    ).total
    if need > row.charges_reserved:
        raise InvalidInput(
            "The change needs a larger charge reserve than the order holds: cancel and place "
            "a new order.",
            field="price",
        )
    changed = await venue.replace(row.account_id, view.id, ticks, quantity)
    await record(platform, venue, {changed.id: changed})
    return changed
