"""The matching engine's vocabulary: commands in, events out, as plain tuples.

The order book (`book.py`) is a deterministic state machine: it reads no clock, no randomness and
no I/O, so the same command sequence always yields the same events, and a book is rebuilt exactly
by replaying its journal (`journal.py`) from a snapshot. Commands and events are plain tuples whose
first item is an int kind: the book handles hundreds of thousands of commands a second, and a tuple
costs a fraction of a dataclass to build. `command_dict` / `event_dict` give the named view that
everything off the hot path (persistence, market data, the API) uses.

Units: `price` is an int number of ticks of the instrument (quote currency per whole base unit,
in ticks); `qty` is an int number of lots. `ts` is the sequencer's clock in integer nanoseconds
since the epoch, stamped on the command before it is journaled, copied onto its events.

Command layouts (index 0 is the kind):
    (PLACE,   order_id, account_id, side, price, qty, tif, flags, stp, ts)
        price is ignored (0) when flags has MARKET; a MARKET order's remainder never rests.
    (CANCEL,  order_id, account_id, ts)
    (REPLACE, order_id, account_id, price, qty, ts)
        qty is the new OPEN (remaining) quantity. Same price and qty <= open keeps time priority;
        any other change loses it: the order leaves its level and is re-entered as if new (it may
        trade at once).
    (EXPIRE_DAY, ts)
        ends the trading day: every resting DAY order is cancelled (reason DAY), in price-time
        order.

Event layouts:
    (TRADE, trade_seq, maker_order_id, maker_account_id, taker_order_id, taker_account_id,
            taker_side, price, qty, maker_left, taker_left, ts)
        price is the resting (maker) order's; maker_left/taker_left are the open quantities left
        after this fill (maker_left == 0: the maker left the book). trade_seq counts the book's
        trades from 1, without gaps (part of the book's state).
    (RESTED, order_id, account_id, side, price, qty, ts)
        qty lots of the order now rest on the book at price (after PLACE or a priority-losing
        REPLACE, once any crossing quantity traded).
    (CANCELLED, order_id, account_id, side, price, qty, reason, resting, ts)
        qty open lots are gone; resting == 1 when they were on the book (market data must take
        them off the level), 0 when they never rested (an IOC remainder, a FOK kill, an STP
        expiry of the incoming order). price is the order's limit (0 for MARKET).
    (REPLACED, order_id, account_id, side, old_price, old_qty, new_price, new_qty, kept_priority,
               ts)
        kept_priority == 1: the order stays in place with new_qty open (old_qty - new_qty lots left
        the level). kept_priority == 0: old_qty lots left old_price; the order is then handled as
        an incoming order at new_price with new_qty: TRADE events (it is the taker), then RESTED
        or CANCELLED (STP) for what is left.
    (REJECTED, order_id, account_id, reason, ts)
        the command changed nothing.

For one PLACE the events come in this order: TRADEs (best price first, then time), then one of
RESTED / CANCELLED for the remainder (or nothing when fully filled); STP may CANCEL resting makers
(resting == 1) between trades.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any

# Command kinds
PLACE = 1
CANCEL = 2
REPLACE = 3
EXPIRE_DAY = 4

# Event kinds
TRADE = 10
RESTED = 11
CANCELLED = 12
REPLACED = 13
REJECTED = 14


class Side(IntEnum):
    BUY = 0
    SELL = 1


class TimeInForce(IntEnum):
    GTC = 0
    """Good till cancelled."""
    IOC = 1
    """Immediate or cancel: trade what crosses now, cancel the rest."""
    FOK = 2
    """Fill or kill: trade the whole quantity now or nothing."""
    DAY = 3
    """Rests until cancelled or the trading day ends (EXPIRE_DAY)."""


class Flag(IntEnum):
    """Bits of a PLACE's `flags`."""

    POST_ONLY = 1
    """Rejected (POST_ONLY_WOULD_TAKE) if any of it would trade on entry; it only ever makes."""
    MARKET = 2
    """No price limit; the remainder is cancelled (reason IOC), whatever the tif."""


class SelfTrade(IntEnum):
    """What happens when an incoming order would trade with a resting order of the same account
    (Binance's STP modes)."""

    NONE = 0
    """Allowed: the account trades with itself."""
    EXPIRE_TAKER = 1
    """The incoming order's remainder is cancelled (reason STP, resting 0); the maker stays."""
    EXPIRE_MAKER = 2
    """The resting order is cancelled (reason STP, resting 1); matching continues."""
    EXPIRE_BOTH = 3
    """Both are cancelled."""


class CancelReason(IntEnum):
    USER = 1
    IOC = 2
    """The unfilled remainder of an IOC or MARKET order."""
    FOK = 3
    """A FOK order that could not fill completely (nothing traded)."""
    STP = 4
    DAY = 5
    """A DAY order at the end of the trading day."""
    ADMIN = 6
    """Cancelled by the venue (a halted or delisted instrument, a liquidation)."""


class RejectReason(IntEnum):
    DUPLICATE_ORDER_ID = 1
    UNKNOWN_ORDER = 2
    """CANCEL/REPLACE of an order that is not open on this book."""
    NOT_OWNER = 3
    """CANCEL/REPLACE by an account that does not own the order."""
    POST_ONLY_WOULD_TAKE = 4
    INVALID = 5
    """qty < 1, price < 1 for a priced order, an unknown side/tif/flag/stp value."""


_COMMAND_FIELDS: dict[int, tuple[str, ...]] = {
    PLACE: ("order_id", "account_id", "side", "price", "qty", "tif", "flags", "stp", "ts"),
    CANCEL: ("order_id", "account_id", "ts"),
    REPLACE: ("order_id", "account_id", "price", "qty", "ts"),
    EXPIRE_DAY: ("ts",),
}
_COMMAND_NAMES = {PLACE: "place", CANCEL: "cancel", REPLACE: "replace", EXPIRE_DAY: "expire_day"}

_EVENT_FIELDS: dict[int, tuple[str, ...]] = {
    TRADE: (
        "trade_seq",
        "maker_order_id",
        "maker_account_id",
        "taker_order_id",
        "taker_account_id",
        "taker_side",
        "price",
        "qty",
        "maker_left",
        "taker_left",
        "ts",
    ),
    RESTED: ("order_id", "account_id", "side", "price", "qty", "ts"),
    CANCELLED: ("order_id", "account_id", "side", "price", "qty", "reason", "resting", "ts"),
    REPLACED: (
        "order_id",
        "account_id",
        "side",
        "old_price",
        "old_qty",
        "new_price",
        "new_qty",
        "kept_priority",
        "ts",
    ),
    REJECTED: ("order_id", "account_id", "reason", "ts"),
}
_EVENT_NAMES = {
    TRADE: "trade",
    RESTED: "rested",
    CANCELLED: "cancelled",
    REPLACED: "replaced",
    REJECTED: "rejected",
}
_ENUM_FIELDS: dict[str, type[IntEnum]] = {
    "side": Side,
    "taker_side": Side,
    "tif": TimeInForce,
    "stp": SelfTrade,
}


def _named(kind_name: str, fields: tuple[str, ...], values: tuple[Any, ...]) -> dict[str, Any]:
    if len(values) != len(fields) + 1:
        raise ValueError(f"a {kind_name} has {len(fields)} fields, not {len(values) - 1}")
    out: dict[str, Any] = {"type": kind_name}
    for name, value in zip(fields, values[1:], strict=True):
        enum = _ENUM_FIELDS.get(name)
        out[name] = enum(value).name.lower() if enum is not None else value
    return out


def command_dict(command: tuple[Any, ...]) -> dict[str, Any]:
    """A command as a dict with a `type` and named fields (enums by lower-case name).

    Raises ValueError for an unknown kind or a wrong number of fields."""
    kind = command[0]
    if kind not in _COMMAND_FIELDS:
        raise ValueError(f"unknown command kind {kind!r}")
    return _named(_COMMAND_NAMES[kind], _COMMAND_FIELDS[kind], command)


def event_dict(event: tuple[Any, ...]) -> dict[str, Any]:
    """An event as a dict with a `type` and named fields; reasons by lower-case name.

    Raises ValueError for an unknown kind or a wrong number of fields."""
    kind = event[0]
    if kind not in _EVENT_FIELDS:
        raise ValueError(f"unknown event kind {kind!r}")
    out = _named(_EVENT_NAMES[kind], _EVENT_FIELDS[kind], event)
    if kind == CANCELLED:
        out["reason"] = CancelReason(out["reason"]).name.lower()
        out["resting"] = bool(out["resting"])
    elif kind == REJECTED:
        out["reason"] = RejectReason(out["reason"]).name.lower()
    elif kind == REPLACED:
        out["kept_priority"] = bool(out["kept_priority"])
    return out
