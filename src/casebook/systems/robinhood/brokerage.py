"""The brokerage: customers' orders in shares (fractional) or in dollars, executed through the
house account at the Stock Exchange and the house's fractional inventory, settled exactly in the
ledger (books.py), commission-free.

**Placing** (`place`), in ONE write transaction (T1): the onboarding gate; the customer's cash
(buys) or micro-shares (sells) move into escrow; for a buy with a fractional part f, f
micro-shares move from the inventory into escrow, or, when the inventory is short, the house
buys one whole share more than the whole part; the order row is written (`pending`). An order
that needs no exchange trade (a fraction the inventory covers, a fractional sell) is settled in
T1 at the quote (best ask for a buy, best bid for a sell). Otherwise the whole shares go to the
exchange from the house account with `client_order_id = "rh-<order id>"` (a market buy as a
limit IOC at the quote + 5 %, so the escrow bounds it; a market sell as a market IOC; a limit
order as a GTC/DAY limit), and `sync` settles what the venue reports.

**Settling** (`sync`, idempotent; called after placement, by the venue listener after every
commit that touches a house order, by `cancel` and by `reconcile` at startup) locks the order
row and compares the venue order's cumulative fills with what was settled:

- a limit order settles each new fill at the exchange's price: the customer pays (or gets)
  exactly the fill's notional; shares move between custody and the customer's position;
- a market order settles once, when the venue order is final: with n shares filled for N cents,
  the customer gets `deliver` micro-shares (the shares asked for; for a dollar order no more
  than the dollars buy at N/n; for a partial fill no more than n whole shares) and pays
  `value(deliver, N, n)` (books.py: half up to the cent); the inventory takes or gives the rest.

When the order ends, the escrow's rest goes back to the customer. Every transfer id is derived
from (order, step), so a replay posts nothing twice; exchange fees are paid by the house.

Statuses: pending (accepted, not yet at the exchange) → open → partially_filled → filled |
cancelled | rejected; a market order filled in part ends `partially_filled` with `closed` set
(the remainder was cancelled at the exchange).

Costs: placement is a constant number of ledger transfers and one venue command; `sync` is one
row lock and at most seven transfers in one `create_transfers` call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import InsufficientFunds, Ledger, Outcome, Transfer
from casebook.engines.ledger.errors import refusal
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import Instrument, NewOrder, OrderView, Venue
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, Problem
from casebook.platform.ids import new_id
from casebook.systems.robinhood import books, onboarding
from casebook.systems.robinhood.books import MICRO, USD, value
from casebook.systems.robinhood.errors import (
    InsufficientShares,
    NoMarket,
    OrderBusy,
    OrderClosed,
    OrderNotFound,
    UnknownSymbol,
)
from casebook.systems.robinhood.house import House, exchange, house
from casebook.systems.robinhood.models import Order

log = structlog.get_logger("casebook.robinhood.brokerage")

PROTECTION_BPS = 500
"""A market buy executes at most 5 % above the quote it was placed at."""
MIN_FRACTIONAL_CENTS = 100
"""A fractional or dollar order is worth at least $1.00 at the quote (as Robinhood's)."""
MAX_MICRO = 10_000_000 * MICRO
MAX_DOLLARS = 10_000_000_00
FINAL = frozenset({"filled", "cancelled", "expired", "rejected"})
CLIENT_PREFIX = "rh-"


@dataclass(frozen=True)
class Clientele:
    """Whose customers an order is for: the brokerage engine takes its customers' cash source
    as this parameter, so another app's customers (Cash App Investing) trade through the same
    house account, inventory and settlement from their own balance.

    `owner_prefix`: ledger owner of a customer's accounts is `<owner_prefix>:<user id>`;
    `cash_name`: the name of their USD cash account there (a LIABILITY, never negative);
    `gate`: checks the customer may trade (raises a Problem) or None."""

    owner_prefix: str
    cash_name: str
    gate: Callable[[AsyncSession, int], Awaitable[object]] | None = None

    def owner(self, user_id: int) -> str:
        return f"{self.owner_prefix}:{user_id}"


ROBINHOOD = Clientele(
    owner_prefix=f"{books.OWNER}:user", cash_name="cash", gate=onboarding.require_approved
)
"""Robinhood's own customers: cash in `robinhood:user:<id>` / cash, after onboarding."""


@dataclass(frozen=True)
class OrderRequest:
    """A customer's order: `micro_shares` (share-based) or `dollars` in cents (dollar-based,
    market buys only); `limit_price` in cents per share for limit orders (whole shares)."""

    symbol: str
    side: str
    type: str = "market"
    micro_shares: int | None = None
    dollars: int | None = None
    limit_price: int | None = None
    tif: str = "gtc"


def _offered(instrument: Instrument) -> None:
    """Robinhood trades the exchange's USD share listings (1 tick = 1 cent, 1 lot = 1 share)."""
    if (instrument.quote_asset, instrument.tick_size, instrument.lot_size) != (USD, 1, 1) or (
        instrument.base_scale != 1
    ):
        raise UnknownSymbol(f"{instrument.symbol} is not offered by Robinhood.")


async def instrument_of(venue: Venue, session: AsyncSession, symbol: str) -> Instrument:
    """The exchange's listing of `symbol` if Robinhood offers it; UnknownSymbol (404)."""
    try:
        instrument = await venue.instrument(session, symbol.upper())
    except Problem:
        raise UnknownSymbol(f"{symbol!r} is not a stock Robinhood offers.") from None
    _offered(instrument)
    return instrument


def quote(venue: Venue, instrument: Instrument, side: str) -> int:
    """The price a customer trades at now, in cents: the best ask for a buy (the best bid for a
    sell), else the last trade, else the listing's reference price; NoMarket (422) if none."""
    book = venue.book(instrument.id)
    best = book.best_ask() if side == "buy" else book.best_bid()
    price = best or venue.last_price.get(instrument.id) or instrument.reference_price
    if not price:
        raise NoMarket(f"{instrument.symbol} has no price to trade at now.")
    return price


def _check(request: OrderRequest) -> None:
    if request.side not in ("buy", "sell"):
        raise InvalidInput("side is buy or sell.", field="side")
    if request.type not in ("market", "limit"):
        raise InvalidInput("type is market or limit.", field="type")
    if (request.micro_shares is None) == (request.dollars is None):
        raise InvalidInput("Give exactly one of shares or dollars.", field="shares")
    if request.micro_shares is not None and not 1 <= request.micro_shares <= MAX_MICRO:
        raise InvalidInput("shares must be between 0.000001 and 10,000,000.", field="shares")
    if request.dollars is not None:
        if request.side != "buy" or request.type != "market":
            raise InvalidInput("Dollar amounts are for market buys.", field="dollars")
        if not MIN_FRACTIONAL_CENTS <= request.dollars <= MAX_DOLLARS:
            raise InvalidInput("dollars must be between 1.00 and 10,000,000.00.", field="dollars")
    if request.type == "limit":
        if request.micro_shares is None or request.micro_shares % MICRO:
            raise InvalidInput("A limit order is for whole shares.", field="shares")
        if request.limit_price is None or not 1 <= request.limit_price <= 10**9:
            raise InvalidInput("A limit order needs a limit price.", field="limit_price")
        if request.tif not in ("gtc", "day"):
            raise InvalidInput("time_in_force is gtc or day.", field="time_in_force")
    elif request.limit_price is not None:
        raise InvalidInput("A market order takes no limit price.", field="limit_price")


async def move(ledger: Ledger, transfers: Sequence[Transfer]) -> None:
    """Post `transfers` (zero amounts dropped) as one all-or-nothing chain; raises
    InsufficientFunds when any would overdraw (the caller's transaction then rolls back)."""
    legs = [t for t in transfers if t.amount]
    if not legs:
        return
    chain = [replace(t, linked=i < len(legs) - 1) for i, t in enumerate(legs)]
    outcomes = await ledger.create_transfers(chain)
    bad = [o for o in outcomes if o not in (Outcome.OK, Outcome.EXISTS)]
    if bad:
        # The cause, not the legs that only failed with their chain.
        causes = [o for o in bad if o is not Outcome.LINKED_EVENT_FAILED]
        raise refusal((causes or bad)[0])


def leg(order_id: int, step: str, debit: int, credit: int, amount: int, code: str) -> Transfer:
    return Transfer(
        id=books.transfer_id("robinhood", order_id, step),
        debit_account_id=debit,
        credit_account_id=credit,
        amount=amount,
        code=code,
        reference=f"robinhood:order:{order_id}",
    )


async def place(
    platform: Platform, user_id: int, request: OrderRequest, clientele: Clientele = ROBINHOOD
) -> Order:
    """Place a customer's order (see the module docstring); returns it as settled so far.
    `clientele`: whose customer `user_id` is (its cash source and trading gate).

    Raises InvalidInput (422), UnknownSymbol (404), NoMarket (422), the gate's refusal
    (OnboardingRequired / OnboardingRejected, 403, for Robinhood), InsufficientFunds (409
    ledger/exceeds-credits) or InsufficientShares (409): in every case nothing was written. A
    refusal by the exchange after the escrow (a halted listing) leaves the order `rejected`
    with its escrow returned (what was crossed inside the broker stays settled)."""
    # Imported here: crossing.py builds on this module's settlement steps.
    from casebook.systems.robinhood import crossing

    _check(request)
    venue = exchange(platform)
    found = house(platform)
    order_id = new_id()
    async with platform.db.session(write=True) as session:
        if clientele.gate is not None:
            await clientele.gate(session, user_id)
        instrument = await instrument_of(venue, session, request.symbol)
        order = await _accept(session, venue, instrument, user_id, order_id, request, clientele)
        if order.closed:
            return order
    order = await crossing.internalise(platform, order)
    if to_send(order) == 0:
        async with platform.db.session(write=True) as session:
            return await finish_unplaced(session, order_id, "Filled inside the broker.")
    command = venue_order(order, instrument, found)
    try:
        view = await venue.place(command)
    except Problem as problem:
        async with platform.db.session(write=True) as session:
            return await finish_unplaced(session, order_id, problem.detail or problem.title)
    async with platform.db.session(write=True) as session:
        return await sync(session, order_id, view)


async def _accept(
    session: AsyncSession,
    venue: Venue,
    instrument: Instrument,
    user_id: int,
    order_id: int,
    request: OrderRequest,
    clientele: Clientele = ROBINHOOD,
) -> Order:
    """T1: escrow, inventory reservation and the order row; settles at once what needs no
    exchange trade."""
    ledger = Ledger(session)
    symbol = instrument.symbol
    price = quote(venue, instrument, request.side) if request.type == "market" else 0
    micro = request.micro_shares
    if micro is None:
        assert request.dollars is not None
        micro = request.dollars * MICRO // price
    whole, fraction = divmod(micro, MICRO)
    if (fraction or request.dollars) and value(micro, price, 1) < MIN_FRACTIONAL_CENTS:
        raise InvalidInput("A fractional order is worth at least $1.00.", field="shares")
    if micro == 0:
        raise InvalidInput("The amount buys no share at the quote.", field="dollars")
    owner = clientele.owner(user_id)
    acc = await books.order_accounts(ledger, owner, clientele.cash_name, symbol)
    cash, position, inventory = acc.cash, acc.position, acc.inventory
    escrow_cash, escrow_micro = acc.escrow_cash, acc.escrow_micro
    reserved_cash = reserved_micro = extra = 0
    limit_price = request.limit_price
    if request.side == "buy":
        if request.type == "market":
            # The worst price the house may pay at the exchange; the escrow covers it (a
            # dollar order's escrow is its dollars: what it buys is capped by them instead).
            limit_price = price * (10_000 + PROTECTION_BPS) // 10_000
        if request.dollars is not None:
            reserved_cash = request.dollars
        elif limit_price is not None and request.type == "market":
            reserved_cash = -(-micro * limit_price // MICRO)
        else:
            assert request.limit_price is not None
            reserved_cash = request.limit_price * whole
        await move(ledger, [leg(order_id, "escrow", cash, escrow_cash, reserved_cash, "escrow")])
        if fraction:
            # Reserve the fraction from the inventory now, so concurrent orders cannot both
            # count on the same micro-shares; when it is short, buy one more whole share.
            outcome = (
                await ledger.create_transfers(
                    [leg(order_id, "reserve", inventory, escrow_micro, fraction, "reserve")]
                )
            )[0]
            if outcome in (Outcome.OK, Outcome.EXISTS):
                reserved_micro = fraction
            else:
                extra = 1
    else:
        try:
            await move(ledger, [leg(order_id, "escrow", position, escrow_micro, micro, "escrow")])
        except InsufficientFunds:
            raise InsufficientShares(f"You hold fewer than {micro / MICRO:f} {symbol}.") from None
        reserved_micro = micro
    now = utcnow()
    order = Order(
        id=order_id,
        user_id=user_id,
        owner=owner,
        cash_name=clientele.cash_name,
        symbol=symbol,
        instrument_id=instrument.id,
        side=request.side,
        type=request.type,
        tif=request.tif if request.type == "limit" else "ioc",
        micro_shares=micro,
        dollars=request.dollars,
        limit_price=limit_price,
        exchange_qty=whole + extra,
        reserved_cash=reserved_cash,
        reserved_micro=reserved_micro,
        status="pending",
        created_at=now,
        updated_at=now,
    )
    session.add(order)
    await session.flush()
    if order.exchange_qty == 0:
        await _settle_market(ledger, acc, order, 0, 0, quote_price=price)
    return order


def client_id(order: Order) -> str:
    """The client order id of the order's current exchange order."""
    suffix = f".{order.reposts}" if order.reposts else ""
    return f"{CLIENT_PREFIX}{order.id}{suffix}"


def order_id_of(client_order_id: str | None) -> int | None:
    """The Robinhood order behind a house order's client order id, or None for another."""
    if not client_order_id or not client_order_id.startswith(CLIENT_PREFIX):
        return None
    head = client_order_id[len(CLIENT_PREFIX) :].split(".", 1)[0]
    return int(head) if head.isdigit() else None


def to_send(order: Order) -> int:
    """Whole shares the order still has to trade at the exchange: its exchange part less what
    was crossed inside the broker and what earlier exchange orders filled."""
    return order.exchange_qty - order.internal_filled - order.venue_base_filled


async def accounts_of(ledger: Ledger, order: Order) -> books.OrderAccounts:
    """The order's accounts, locked (books.order_accounts)."""
    return await books.order_accounts(ledger, order.owner, order.cash_name, order.symbol)


def venue_order(order: Order, instrument: Instrument, found: House) -> NewOrder:
    """The exchange order for what `order` still has to trade (`to_send`), from the house
    account. Self-trade prevention EXPIRE_TAKER: two customers' orders never trade with each
    other at the exchange (crossing.py matches them inside the broker first); an incoming house
    order that still meets a resting one ends there."""
    side = Side.BUY if order.side == "buy" else Side.SELL
    common: dict[str, Any] = {
        "account_id": found.account_id,
        "instrument_id": instrument.id,
        "side": side,
        "qty": to_send(order),
        "stp": SelfTrade.EXPIRE_TAKER,
        "client_order_id": client_id(order),
    }
    if order.type == "limit":
        tif = TimeInForce.DAY if order.tif == "day" else TimeInForce.GTC
        return NewOrder(price=order.limit_price, tif=tif, **common)
    if side is Side.BUY:
        # A limit IOC at the protection ceiling the escrow was sized for.
        assert order.limit_price is not None
        return NewOrder(price=order.limit_price, tif=TimeInForce.IOC, **common)
    return NewOrder(type="market", tif=TimeInForce.IOC, **common)


async def _locked(session: AsyncSession, order_id: int) -> Order:
    order = await session.scalar(select(Order).where(Order.id == order_id).with_for_update())
    if order is None:
        raise OrderNotFound(f"There is no order {order_id}.")
    return order


async def refund(ledger: Ledger, acc: books.OrderAccounts, order: Order) -> None:
    """Return the escrow's rest to the customer (cash for a buy, micro-shares for a sell) and
    close the order."""
    if order.side == "buy":
        rest = order.reserved_cash - order.amount
        back = leg(order.id, "refund", acc.escrow_cash, acc.cash, rest, "refund")
    else:
        rest = order.reserved_micro - order.filled_micro
        back = leg(order.id, "refund", acc.escrow_micro, acc.position, rest, "refund")
    await move(ledger, [back])
    order.closed = True


async def _reject(session: AsyncSession, order_id: int, reason: str) -> Order:
    order = await _locked(session, order_id)
    if order.closed:
        return order
    ledger = Ledger(session)
    acc = await accounts_of(ledger, order)
    if order.side == "buy" and order.reserved_micro:
        await move(
            ledger,
            [
                leg(
                    order.id,
                    "unreserve",
                    acc.escrow_micro,
                    acc.inventory,
                    order.reserved_micro,
                    "reserve",
                )
            ],
        )
    await refund(ledger, acc, order)
    order.status, order.reason, order.updated_at = "rejected", reason[:200], utcnow()
    return order


async def finish_unplaced(session: AsyncSession, order_id: int, reason: str) -> Order:
    """End an order whose rest will not trade at the exchange (nothing left to send, or the
    exchange refused it): what was crossed inside the broker settles, the escrow's rest goes
    back; with no fill at all it is `rejected` (`reason`). Idempotent."""
    order = await _locked(session, order_id)
    if order.closed:
        return order
    if not order.internal_filled and not order.venue_base_filled:
        return await _reject(session, order_id, reason)
    ledger = Ledger(session)
    acc = await accounts_of(ledger, order)
    if order.type == "market":
        await _settle_market(ledger, acc, order, order.venue_base_filled, order.venue_base_notional)
    else:
        await refund(ledger, acc, order)
        order.status = "filled" if order.filled_micro == order.micro_shares else "partially_filled"
        order.updated_at = utcnow()
    if order.status != "filled" and not order.reason:
        order.reason = reason[:200]
    return order


async def sync(session: AsyncSession, order_id: int, view: OrderView) -> Order:
    """Settle what the venue order `view` reports beyond what the order already settled (see
    the module docstring); a no-op for a closed order. Idempotent. O(1) transfers."""
    order = await _locked(session, order_id)
    if order.closed or view.client_order_id != client_id(order):
        return order  # a retired exchange order of this order (crossing.py): settled already
    if order.venue_order_id is None:
        order.venue_order_id = view.id
    ledger = Ledger(session)
    acc = await accounts_of(ledger, order)
    # While an internal cross holds the order, crossing.py ends its exchange order itself.
    final = view.status in FINAL and order.crossing_id is None
    if order.type == "limit":
        await settle_limit(ledger, acc, order, view)
        if final:
            await refund(ledger, acc, order)
            order.status = (
                "filled"
                if order.filled_micro == order.micro_shares
                else "partially_filled"
                if order.filled_micro
                else ("rejected" if view.status == "rejected" else "cancelled")
            )
        else:
            order.status = "partially_filled" if order.filled_micro else "open"
    elif final:
        await _settle_market(
            ledger,
            acc,
            order,
            order.venue_base_filled + view.filled_qty,
            order.venue_base_notional + view.notional_filled,
        )
        if view.status == "rejected" and not view.filled_qty and not order.internal_filled:
            order.status = "rejected"
    if final and view.reason and not order.reason:
        order.reason = view.reason[:200]
    order.updated_at = utcnow()
    return order


async def settle_limit(
    ledger: Ledger, acc: books.OrderAccounts, order: Order, view: OrderView
) -> None:
    """Settle the fills of a limit order since the last sync at the exchange's prices (its
    exchange fills are cumulative over its exchange orders: retired ones + `view`'s)."""
    filled = order.venue_base_filled + view.filled_qty
    shares = filled - order.exchange_filled
    notional = order.venue_base_notional + view.notional_filled - order.exchange_notional
    if shares <= 0:
        return
    step = f"fill:{filled}"
    custody, trading, cash, position = acc.custody, acc.trading, acc.cash, acc.position
    if order.side == "buy":
        escrow = acc.escrow_cash
        legs = [
            leg(order.id, f"{step}:shares", custody, position, shares * MICRO, "buy"),
            leg(order.id, f"{step}:cash", escrow, trading, notional, "buy"),
        ]
    else:
        escrow = acc.escrow_micro
        legs = [
            leg(order.id, f"{step}:shares", escrow, custody, shares * MICRO, "sell"),
            leg(order.id, f"{step}:cash", trading, cash, notional, "sell"),
        ]
    await move(ledger, legs)
    order.exchange_filled += shares
    order.exchange_notional += notional
    order.filled_micro += shares * MICRO
    order.amount += notional


async def _settle_market(
    ledger: Ledger,
    acc: books.OrderAccounts,
    order: Order,
    filled: int,
    notional: int,
    quote_price: int = 0,
) -> None:
    """Settle a market order once its exchange part is final: `filled` whole shares for
    `notional` cents at the exchange (or, when no exchange trade was needed, at
    `quote_price`), plus what crossed inside the broker (`internal_filled`, whose shares
    crossing.py moved already: custody to the inventory for a buy, the escrow to custody for
    a sell)."""
    custody, inventory, trading = acc.custody, acc.inventory, acc.trading
    escrow_cash, escrow_micro, cash, position = (
        acc.escrow_cash,
        acc.escrow_micro,
        acc.cash,
        acc.position,
    )
    exchange_micro = filled * MICRO if order.exchange_qty else 0
    internal_micro = order.internal_filled * MICRO
    if order.exchange_qty == 0:
        filled, notional = 1, quote_price  # priced as one share at the quote
        complete = True
    else:
        filled += order.internal_filled
        notional += order.internal_notional
        complete = filled == order.exchange_qty
    legs: list[Transfer] = []
    if order.side == "buy":
        target = order.micro_shares
        if filled and order.dollars is not None:
            target = min(target, order.dollars * MICRO * filled // notional)
        available = exchange_micro + internal_micro + (order.reserved_micro if complete else 0)
        deliver = min(target, available) if filled else 0
        charge = value(deliver, notional, filled) if deliver else 0
        legs += [
            leg(order.id, "custody", custody, inventory, exchange_micro, "buy"),
            leg(order.id, "unreserve", escrow_micro, inventory, order.reserved_micro, "reserve"),
            leg(order.id, "deliver", inventory, position, deliver, "buy"),
            leg(order.id, "charge", escrow_cash, trading, charge, "buy"),
        ]
        order.filled_micro, order.amount = deliver, charge
    else:
        fraction = order.micro_shares - order.exchange_qty * MICRO
        sold = exchange_micro + internal_micro + (fraction if complete else 0) if filled else 0
        proceeds = value(sold, notional, filled) if sold else 0
        rest = sold - exchange_micro - internal_micro if sold else 0
        legs += [
            leg(order.id, "custody", escrow_micro, custody, exchange_micro, "sell"),
            leg(order.id, "inventory", escrow_micro, inventory, rest, "sell"),
            leg(order.id, "proceeds", trading, cash, proceeds, "sell"),
        ]
        order.filled_micro, order.amount = sold, proceeds
    await move(ledger, legs)
    if order.exchange_qty:
        order.exchange_filled = filled - order.internal_filled
        order.exchange_notional = notional - order.internal_notional
    await refund(ledger, acc, order)
    order.status = (
        "filled" if filled and complete else "partially_filled" if filled else "cancelled"
    )
    if order.status == "cancelled":
        order.reason = "No shares were available at the protected price."
    order.updated_at = utcnow()


async def cancel(
    platform: Platform, user_id: int, order_id: int, clientele: Clientele = ROBINHOOD
) -> Order:
    """Cancel the customer's open order at the exchange and settle it. OrderNotFound (404) for
    another customer's order or an unknown id; OrderClosed (409) when it has ended; OrderBusy
    (409) while an internal cross holds it."""
    async with platform.db.session() as session:
        order = await session.get(Order, order_id)
        if order is None or order.owner != clientele.owner(user_id):
            raise OrderNotFound(f"There is no order {order_id}.")
        if order.closed:
            raise OrderClosed(f"Order {order_id} is {order.status}.")
        if order.crossing_id is not None or order.venue_order_id is None:
            # An internal cross holds it (crossing.py): its exchange order is being replaced.
            raise OrderBusy(f"Order {order_id} is being matched; try again.")
        venue_order_id = order.venue_order_id
    venue = exchange(platform)
    found = house(platform)
    try:
        view = await venue.cancel(found.account_id, venue_order_id)
    except Problem:
        async with platform.db.session() as session:
            view = await venue.order(session, found.account_id, venue_order_id)
        async with platform.db.session(write=True) as session:
            await sync(session, order_id, view)
        raise OrderClosed(f"Order {order_id} is no longer open.") from None
    async with platform.db.session(write=True) as session:
        return await sync(session, order_id, view)


async def order_of(
    session: AsyncSession, user_id: int, order_id: int, clientele: Clientele = ROBINHOOD
) -> Order:
    """The customer's order; OrderNotFound (404) for another customer's or an unknown id."""
    order = await session.get(Order, order_id)
    if order is None or order.owner != clientele.owner(user_id):
        raise OrderNotFound(f"There is no order {order_id}.")
    return order


async def orders_of(
    session: AsyncSession,
    user_id: int,
    cursor: int | None,
    limit: int,
    clientele: Clientele = ROBINHOOD,
) -> tuple[list[Order], int | None]:
    """The customer's orders, newest first, one page: (orders, next cursor or None)."""
    query = select(Order).where(Order.owner == clientele.owner(user_id))
    if cursor is not None:
        query = query.where(Order.id < cursor)
    rows = list(await session.scalars(query.order_by(Order.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (rows[-1].id if more else None)


class Listener:
    """The venue listener: after every commit, settles the house orders it touched."""

    def __init__(self, platform: Platform, found: House) -> None:
        self.platform = platform
        self.house = found

    async def on_commit(
        self,
        instrument: Instrument,
        events: Sequence[tuple[Any, ...]],
        orders: Mapping[int, OrderView],
    ) -> None:
        for view in orders.values():
            if view.account_id != self.house.account_id:
                continue
            order_id = order_id_of(view.client_order_id)
            if order_id is None:
                continue
            async with self.platform.db.session(write=True) as session:
                await sync(session, order_id, view)


async def reconcile(platform: Platform) -> int:
    """At startup: settle every order left open (a crash between the exchange's commit and
    ours, or a listener that never ran) from the venue's order rows; an order that never
    reached the exchange is rejected and its escrow returned. Returns the orders touched."""
    found = house(platform)
    venue = exchange(platform)
    touched = 0
    async with platform.db.session() as session:
        open_ids = list(await session.scalars(select(Order.id).where(Order.closed.is_(False))))
    for order_id in open_ids:
        async with platform.db.session(write=True) as session:
            order = await _locked(session, order_id)
            # An internal cross cut short by the crash: the order settles from its exchange
            # order as it stands (cancelled by the cross: it ends with its fills so far).
            order.crossing_id = None
            row = await session.scalar(
                select(MatchingOrder).where(
                    MatchingOrder.venue == venue.name,
                    MatchingOrder.account_id == found.account_id,
                    MatchingOrder.client_order_id == client_id(order),
                )
            )
            if row is None:
                await finish_unplaced(session, order_id, "The order never reached the exchange.")
            else:
                await sync(session, order_id, OrderView.of(row))
        touched += 1
    return touched
