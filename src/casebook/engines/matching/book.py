"""The order book of one instrument: a deterministic price-time priority state machine.

`OrderBook.apply(command, out)` takes a command tuple of `types.py` and appends its events to
`out`. The book reads no clock, no randomness and does no I/O, so the same commands always give the
same events, and `restore(snapshot())` followed by the rest of a journal continues exactly like the
uninterrupted book. Bad input never raises: it gives `REJECTED INVALID` and changes nothing.

Layout, chosen for CPython speed (plain lists, dicts and ints; no objects per order or event
beyond one list and the event tuples):

- an order is a list `[order_id, account_id, side, price, open_qty, tif, flags, stp, level]`;
  `_orders` maps order_id -> order (O(1) cancel/replace lookup);
- a side is a dict `key -> level` plus a sorted list of its keys, best price LAST, so the best
  price is `keys[-1]` (O(1)) and an emptied best level is `keys.pop()` (O(1)). A bid's key is its
  price, an ask's key is minus its price: both lists ascend towards the best price, and an
  incoming order crosses while `opposite_keys[-1] >= limit_key`.
- a level is a list `[total_open_qty, {order_id: order}]`; the dict keeps insertion (time) order,
  so its first value is the oldest order and removal of any order is O(1).

Complexities (L = price levels on a side, F = fills and STP cancels a command causes):
place O(F + log L) plus an O(L) C-level list shift when it opens or empties a level that is not the
best; cancel O(1) (+ the same shift when it empties a non-best level); replace keeping priority
O(1); replace losing priority = cancel + place. best_bid/best_ask O(1); depth(n) O(n);
expire_day O(open orders). A level's dict leaves a hole where an order left it; scanning for the
first order skips the holes in C and the dict compacts when it next grows.
"""

from __future__ import annotations

import sys
import zlib
from array import array
from bisect import bisect_left, insort
from collections.abc import Iterator
from struct import Struct
from typing import Any

from casebook.engines.matching.types import (
    CANCEL,
    CANCELLED,
    EXPIRE_DAY,
    PLACE,
    REJECTED,
    REPLACE,
    REPLACED,
    RESTED,
    TRADE,
    CancelReason,
    Flag,
    RejectReason,
    SelfTrade,
    Side,
    TimeInForce,
)

__all__ = ["OrderBook", "SnapshotError"]

_MAX = (1 << 63) - 1
"""Ids, prices and quantities are signed 64-bit (the journal's and the snapshot's encoding)."""
_NO_LIMIT = -(1 << 65)
"""The limit key of a MARKET order: below every key, so it crosses every level."""

# Plain ints on the hot path: an IntEnum member compares and hashes slower than an int.
_BUY = int(Side.BUY)
_GTC = int(TimeInForce.GTC)
_IOC = int(TimeInForce.IOC)
_FOK = int(TimeInForce.FOK)
_DAY = int(TimeInForce.DAY)
_POST_ONLY = int(Flag.POST_ONLY)
_MARKET = int(Flag.MARKET)
_STP_NONE = int(SelfTrade.NONE)
_STP_TAKER = int(SelfTrade.EXPIRE_TAKER)
_STP_BOTH = int(SelfTrade.EXPIRE_BOTH)
_R_USER = int(CancelReason.USER)
_R_IOC = int(CancelReason.IOC)
_R_FOK = int(CancelReason.FOK)
_R_STP = int(CancelReason.STP)
_R_DAY = int(CancelReason.DAY)
_J_DUPLICATE = int(RejectReason.DUPLICATE_ORDER_ID)
_J_UNKNOWN = int(RejectReason.UNKNOWN_ORDER)
_J_NOT_OWNER = int(RejectReason.NOT_OWNER)
_J_POST_ONLY = int(RejectReason.POST_ONLY_WOULD_TAKE)
_J_INVALID = int(RejectReason.INVALID)


def _valid_combinations() -> dict[tuple[Any, ...], tuple[int, int, int, int]]:
    """(side, tif, flags, stp) -> the same as plain ints, for every valid PLACE.

    A dict lookup both validates the four enums at once and normalises them to ints (a bool or a
    float equal to a valid value hashes like it, and comes out as the int). POST_ONLY cannot go
    with MARKET, IOC or FOK: such an order could neither trade nor rest."""
    valid: dict[tuple[Any, ...], tuple[int, int, int, int]] = {}
    for side in Side:
        for tif in TimeInForce:
            for flags in range(4):
                if flags & _POST_ONLY and (flags & _MARKET or tif in (_IOC, _FOK)):
                    continue
                for stp in SelfTrade:
                    combo = (int(side), int(tif), flags, int(stp))
                    valid[combo] = combo
    return valid


_PLACE_COMBOS = _valid_combinations()

_SNAPSHOT_MAGIC = b"CBOB"
_SNAPSHOT_VERSION = 2
_SNAPSHOT_HEADER = Struct("<4sBqqqqqq")
"""magic, version, instrument_id, trade_seq, open orders, ids seen, seen floor, next prune."""
_SNAPSHOT_HEADER_V1 = Struct("<4sBqqqq")
"""Version 1 (no floor: every id ever seen was kept); still read."""

SEEN_WINDOW = 86_400_000 << 22
"""How far below the newest order id seen the book still remembers ids: 24 hours of the
platform's Snowflake ids (ms << 22). Older ids are rejected as duplicates without being stored,
which bounds the set (and the snapshot) by the ids of one day. Order ids are minted when an
order is accepted and reach the book milliseconds later (or, after a crash, at recovery, before
any newer order), so no genuine order is ever that far behind the newest."""
_MIN_PRUNE = 65_536
"""The fewest ids the set holds before a prune is considered."""
_ORDER_FIELDS = 8
"""order_id, account_id, side, price, open_qty, tif, flags, stp (a snapshot's order record)."""


class SnapshotError(ValueError):
    """The bytes are not a snapshot this code can read (wrong magic, version or length)."""


class OrderBook:
    """One instrument's book. Not thread-safe: one writer owns it (the venue's writer task)."""

    __slots__ = (
        "_floor",
        "_keys",
        "_levels",
        "_orders",
        "_prune_at",
        "_seen",
        "_seen_window",
        "_trade_seq",
        "instrument_id",
    )

    def __init__(self, instrument_id: int, seen_window: int = SEEN_WINDOW) -> None:
        """`seen_window`: see SEEN_WINDOW (tests pass a small one to watch the pruning)."""
        self.instrument_id = instrument_id
        self._orders: dict[int, list[Any]] = {}
        self._levels: tuple[dict[int, list[Any]], dict[int, list[Any]]] = ({}, {})
        self._keys: tuple[list[int], list[int]] = ([], [])
        self._seen: set[int] = set()
        self._seen_window = seen_window
        self._floor = 0
        """Every id at or below it counts as seen (duplicate) without being in `_seen`."""
        self._prune_at = _MIN_PRUNE
        self._trade_seq = 0

    # -- state ---------------------------------------------------------------------------------

    @property
    def trade_seq(self) -> int:
        """The seq of the book's last TRADE (0 before the first)."""
        return self._trade_seq

    @property
    def order_count(self) -> int:
        """Orders resting on the book now."""
        return len(self._orders)

    def best_bid(self) -> int | None:
        """The highest bid price, None when no bid rests. O(1)."""
        keys = self._keys[0]
        return keys[-1] if keys else None

    def best_ask(self) -> int | None:
        """The lowest ask price, None when no ask rests. O(1)."""
        keys = self._keys[1]
        return -keys[-1] if keys else None

    def depth(self, levels: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        """The best `levels` levels of each side as (price, total open qty, order count): (bids
        best first, asks best first). O(levels)."""
        if levels < 1:
            return [], []
        bid_levels, ask_levels = self._levels
        bid_keys, ask_keys = self._keys
        bids = [
            (key, bid_levels[key][0], len(bid_levels[key][1]))
            for key in bid_keys[: -levels - 1 : -1]
        ]
        asks = [
            (-key, ask_levels[key][0], len(ask_levels[key][1]))
            for key in ask_keys[: -levels - 1 : -1]
        ]
        return bids, asks

    def open_order(self, order_id: int) -> tuple[int, int, int, int] | None:
        """(account_id, side, price, open qty) of a resting order, None if it is not on the book.
        O(1)."""
        order = self._orders.get(order_id) if type(order_id) is int else None
        if order is None:
            return None
        return order[1], order[2], order[3], order[4]

    def open_orders(self) -> Iterator[tuple[int, int, int, int, int, int, int, int]]:
        """Every resting order as (order_id, account_id, side, price, open qty, tif, flags, stp):
        bids best price first, then asks best price first, each level oldest first. O(orders)."""
        for side in (0, 1):
            levels = self._levels[side]
            for key in reversed(self._keys[side]):
                for order in levels[key][1].values():
                    yield (
                        order[0],
                        order[1],
                        order[2],
                        order[3],
                        order[4],
                        order[5],
                        order[6],
                        order[7],
                    )

    def would_fill(self, side: int, price: int, qty: int, account_id: int, stp: int) -> int:
        """How many lots (at most `qty`) an incoming order would trade now; price 0 = no limit
        (MARKET). Self-trade prevention counts like matching does: EXPIRE_TAKER/EXPIRE_BOTH stop
        at the account's own first resting order, EXPIRE_MAKER skips them. Changes nothing.
        O(orders crossed) at worst, O(levels crossed) with stp NONE."""
        lim = _NO_LIMIT if price == 0 else (-price if side == _BUY else price)
        return self._fillable(side, lim, qty, account_id, stp)

    # -- commands ------------------------------------------------------------------------------

    def apply(self, command: tuple[Any, ...], out: list[tuple[Any, ...]]) -> None:
        """Apply one command tuple (types.py layouts), appending its events to `out`.

        A malformed command (unknown kind, wrong length, not a tuple) gives one
        `REJECTED INVALID` event (order and account taken from the tuple when it has them)."""
        if type(command) is tuple and command:
            kind = command[0]
            size = len(command)
            if kind == REPLACE and size == 6:
                _, order_id, account_id, price, qty, ts = command
                self.replace(order_id, account_id, price, qty, ts, out)
                return
            if kind == PLACE and size == 10:
                _, order_id, account_id, side, price, qty, tif, flags, stp, ts = command
                self.place(order_id, account_id, side, price, qty, tif, flags, stp, ts, out)
                return
            if kind == CANCEL and size == 4:
                _, order_id, account_id, ts = command
                self.cancel(order_id, account_id, ts, out)
                return
            if kind == EXPIRE_DAY and size == 2:
                self.expire_day(command[1], out)
                return
        out.append(_malformed(command))

    def place(
        self,
        order_id: int,
        account_id: int,
        side: int,
        price: int,
        qty: int,
        tif: int,
        flags: int,
        stp: int,
        ts: int,
        out: list[tuple[Any, ...]],
    ) -> None:
        """A new order: it trades with what it crosses (best price first, then time), then its
        remainder rests (GTC, DAY) or is cancelled (IOC, MARKET; a FOK that cannot fill
        completely is cancelled before any trade). POST_ONLY that would trade is rejected.
        Complexity: see the module docstring."""
        try:
            combo = _PLACE_COMBOS.get((side, tif, flags, stp))
        except TypeError:  # an unhashable value
            combo = None
        if (
            combo is None
            or type(qty) is not int
            or type(order_id) is not int
            or type(account_id) is not int
            or not 0 < qty <= _MAX
            or not 0 <= order_id <= _MAX
            or not 0 <= account_id <= _MAX
        ):
            out.append((REJECTED, order_id, account_id, _J_INVALID, ts))
            return
        side, tif, flags, stp = combo
        if flags & _MARKET:
            price = 0
            lim = _NO_LIMIT
        elif type(price) is not int or not 0 < price <= _MAX:
            out.append((REJECTED, order_id, account_id, _J_INVALID, ts))
            return
        else:
            lim = -price if side == _BUY else price
        seen = self._seen
        if order_id in seen or order_id <= self._floor:
            out.append((REJECTED, order_id, account_id, _J_DUPLICATE, ts))
            return
        if len(seen) >= self._prune_at:
            self._prune()
        okeys = self._keys[side ^ 1]
        crosses = okeys and okeys[-1] >= lim
        if crosses:
            if flags & _POST_ONLY:
                out.append((REJECTED, order_id, account_id, _J_POST_ONLY, ts))
                return
            seen.add(order_id)
            if tif == _FOK and self._fillable(side, lim, qty, account_id, stp) < qty:
                out.append((CANCELLED, order_id, account_id, side, price, qty, _R_FOK, 0, ts))
                return
            qty = self._match(order_id, account_id, side, price, qty, lim, stp, ts, out)
            if not qty:
                return
        else:
            seen.add(order_id)
        if (tif in (_GTC, _DAY)) and not flags & _MARKET:
            self._rest([order_id, account_id, side, price, qty, tif, flags, stp, None])
            out.append((RESTED, order_id, account_id, side, price, qty, ts))
            return
        reason = _R_FOK if tif == _FOK else _R_IOC
        out.append((CANCELLED, order_id, account_id, side, price, qty, reason, 0, ts))

    def cancel(self, order_id: int, account_id: int, ts: int, out: list[tuple[Any, ...]]) -> None:
        """Take a resting order off the book (CANCELLED USER, resting 1). O(1), see the module
        docstring for a level that empties."""
        if type(order_id) is not int or type(account_id) is not int:
            out.append((REJECTED, order_id, account_id, _J_INVALID, ts))
            return
        order = self._orders.get(order_id)
        if order is None:
            out.append((REJECTED, order_id, account_id, _J_UNKNOWN, ts))
            return
        if order[1] != account_id:
            out.append((REJECTED, order_id, account_id, _J_NOT_OWNER, ts))
            return
        self._unrest(order)
        del self._orders[order_id]
        out.append((CANCELLED, order_id, account_id, order[2], order[3], order[4], _R_USER, 1, ts))

    def replace(
        self,
        order_id: int,
        account_id: int,
        price: int,
        qty: int,
        ts: int,
        out: list[tuple[Any, ...]],
    ) -> None:
        """Change a resting order's price and/or open quantity.

        Same price and qty <= open: it keeps its place (REPLACED kept_priority 1). Otherwise it
        leaves its level (REPLACED kept_priority 0) and is entered again as an incoming order
        with its own side, tif, flags and stp: TRADEs, then RESTED or CANCELLED (STP). A
        POST_ONLY order whose new price would trade is rejected (POST_ONLY_WOULD_TAKE) and stays
        as it was. O(1) keeping priority, else cancel + place."""
        if (
            type(order_id) is not int
            or type(account_id) is not int
            or type(price) is not int
            or type(qty) is not int
            or not 0 < price <= _MAX
            or not 0 < qty <= _MAX
        ):
            out.append((REJECTED, order_id, account_id, _J_INVALID, ts))
            return
        order = self._orders.get(order_id)
        if order is None:
            out.append((REJECTED, order_id, account_id, _J_UNKNOWN, ts))
            return
        if order[1] != account_id:
            out.append((REJECTED, order_id, account_id, _J_NOT_OWNER, ts))
            return
        side = order[2]
        old_price = order[3]
        old_qty = order[4]
        if price == old_price and qty <= old_qty:
            order[8][0] -= old_qty - qty
            order[4] = qty
            out.append(
                (REPLACED, order_id, account_id, side, old_price, old_qty, price, qty, 1, ts)
            )
            return
        lim = -price if side == _BUY else price
        okeys = self._keys[side ^ 1]
        crosses = okeys and okeys[-1] >= lim
        if crosses and order[6] & _POST_ONLY:
            out.append((REJECTED, order_id, account_id, _J_POST_ONLY, ts))
            return
        # Leave the old level (inlined _unrest: this is the hottest path of a real book).
        level = order[8]
        makers = level[1]
        del makers[order_id]
        if makers:
            level[0] -= old_qty
        else:
            keys = self._keys[side]
            key = old_price if side == _BUY else -old_price
            if keys[-1] == key:
                keys.pop()
            else:
                del keys[bisect_left(keys, key)]
            del self._levels[side][key]
        out.append((REPLACED, order_id, account_id, side, old_price, old_qty, price, qty, 0, ts))
        if crosses:
            qty = self._match(order_id, account_id, side, price, qty, lim, order[7], ts, out)
            if not qty:
                del self._orders[order_id]
                return
        order[3] = price
        order[4] = qty
        # Enter the new level (inlined _rest without the index insert: the order is indexed).
        key = price if side == _BUY else -price
        levels = self._levels[side]
        level = levels.get(key)
        if level is None:
            level = [qty, {order_id: order}]
            levels[key] = level
            insort(self._keys[side], key)
        else:
            level[0] += qty
            level[1][order_id] = order
        order[8] = level
        out.append((RESTED, order_id, account_id, side, price, qty, ts))

    def expire_day(self, ts: int, out: list[tuple[Any, ...]]) -> None:
        """End of the trading day: cancel every resting DAY order (CANCELLED DAY, resting 1), bids
        best first then asks best first, oldest first within a level. O(open orders)."""
        day = [self._orders[record[0]] for record in self.open_orders() if record[5] == _DAY]
        for order in day:
            self._unrest(order)
            del self._orders[order[0]]
            out.append((CANCELLED, order[0], order[1], order[2], order[3], order[4], _R_DAY, 1, ts))

    def _prune(self) -> None:
        """Forget the ids more than the window below the newest seen; they stay rejected
        through the floor. Runs when the set has doubled since the last prune: O(ids seen) then,
        amortised O(1) a placement. A pure function of the commands, so deterministic."""
        seen = self._seen
        floor = max(seen) - self._seen_window
        if floor > self._floor:
            self._floor = floor
            seen.difference_update([i for i in seen if i <= floor])
        self._prune_at = max(_MIN_PRUNE, 2 * len(seen))

    @property
    def ids_remembered(self) -> int:
        """How many order ids the duplicate check holds now."""
        return len(self._seen)

    # -- snapshots -----------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The book's whole state as bytes: resting orders in price-time order, the trade seq
        and the order ids remembered with the floor below which every id counts as seen
        (duplicates stay rejected after a restore; SEEN_WINDOW). Versioned; the order
        records and the delta-coded sorted ids are zlib-compressed. O(orders + ids seen)."""
        records = array("q")
        for record in self.open_orders():
            records.extend(record)
        ids = sorted(self._seen)
        deltas = array("q", [b - a for a, b in zip([0, *ids], ids, strict=False)])
        if sys.byteorder != "little":
            records.byteswap()
            deltas.byteswap()
        header = _SNAPSHOT_HEADER.pack(
            _SNAPSHOT_MAGIC,
            _SNAPSHOT_VERSION,
            self.instrument_id,
            self._trade_seq,
            len(self._orders),
            len(ids),
            self._floor,
            self._prune_at,
        )
        return header + zlib.compress(records.tobytes() + deltas.tobytes(), 1)

    @classmethod
    def restore(cls, data: bytes, seen_window: int = SEEN_WINDOW) -> OrderBook:
        """The book a `snapshot()` was taken of; it continues exactly like the original.

        Raises SnapshotError for bytes that are not a snapshot of this version."""
        if len(data) < _SNAPSHOT_HEADER_V1.size:
            raise SnapshotError("too short for a snapshot header")
        if data[:4] != _SNAPSHOT_MAGIC:
            raise SnapshotError("not an order book snapshot")
        version = data[4]
        floor, prune_at = 0, _MIN_PRUNE
        if version == _SNAPSHOT_VERSION:
            size = _SNAPSHOT_HEADER.size
            if len(data) < size:
                raise SnapshotError("too short for a snapshot header")
            _, _, instrument_id, trade_seq, n_orders, n_ids, floor, prune_at = (
                _SNAPSHOT_HEADER.unpack(data[:size])
            )
        elif version == 1:
            size = _SNAPSHOT_HEADER_V1.size
            _, _, instrument_id, trade_seq, n_orders, n_ids = _SNAPSHOT_HEADER_V1.unpack(
                data[:size]
            )
        else:
            raise SnapshotError(f"snapshot version {version} is not supported")
        try:
            body = zlib.decompress(data[size:])
        except zlib.error as exc:
            raise SnapshotError(f"corrupt snapshot body: {exc}") from None
        if len(body) != 8 * (n_orders * _ORDER_FIELDS + n_ids) or n_orders < 0 or n_ids < 0:
            raise SnapshotError("snapshot body length does not match its header")
        values = array("q")
        values.frombytes(body)
        if sys.byteorder != "little":
            values.byteswap()
        book = cls(instrument_id, seen_window)
        book._trade_seq = trade_seq
        book._floor = floor
        book._prune_at = prune_at
        split = n_orders * _ORDER_FIELDS
        for start in range(0, split, _ORDER_FIELDS):
            order: list[Any] = values[start : start + _ORDER_FIELDS].tolist()
            order.append(None)
            book._rest(order)
        last = 0
        seen = book._seen
        for delta in values[split:]:
            last += delta
            seen.add(last)
        return book

    # -- internals -----------------------------------------------------------------------------

    def _rest(self, order: list[Any]) -> None:
        """Put an order at the back of its price level and index it. O(1), or O(log L) + an
        O(L) C-level shift when the level is new."""
        side = order[2]
        price = order[3]
        key = price if side == _BUY else -price
        levels = self._levels[side]
        level = levels.get(key)
        if level is None:
            level = [order[4], {order[0]: order}]
            levels[key] = level
            insort(self._keys[side], key)
        else:
            level[0] += order[4]
            level[1][order[0]] = order
        order[8] = level
        self._orders[order[0]] = order

    def _unrest(self, order: list[Any]) -> None:
        """Take an order off its level (not out of the index); drop the level if it empties."""
        level = order[8]
        makers = level[1]
        del makers[order[0]]
        if makers:
            level[0] -= order[4]
            return
        side = order[2]
        keys = self._keys[side]
        key = order[3] if side == _BUY else -order[3]
        if keys[-1] == key:
            keys.pop()
        else:
            del keys[bisect_left(keys, key)]
        del self._levels[side][key]

    def _fillable(self, side: int, lim: int, qty: int, account_id: int, stp: int) -> int:
        """Lots (at most qty) an incoming order with limit key `lim` would trade now."""
        okeys = self._keys[side ^ 1]
        olevels = self._levels[side ^ 1]
        total = 0
        for index in range(len(okeys) - 1, -1, -1):
            key = okeys[index]
            if key < lim:
                break
            level = olevels[key]
            if stp == _STP_NONE:
                total += level[0]
                if total >= qty:
                    return qty
                continue
            for maker in level[1].values():
                if maker[1] == account_id:
                    if stp in (_STP_TAKER, _STP_BOTH):
                        return min(total, qty)
                    continue
                total += maker[4]
                if total >= qty:
                    return qty
        return total

    def _match(
        self,
        order_id: int,
        account_id: int,
        side: int,
        price: int,
        qty: int,
        lim: int,
        stp: int,
        ts: int,
        out: list[tuple[Any, ...]],
    ) -> int:
        """Trade an incoming order against the opposite side while it crosses; returns the open
        qty left, 0 when it filled or self-trade prevention cancelled it (its CANCELLED STP is
        then already in `out`). O(F + levels emptied)."""
        oside = side ^ 1
        okeys = self._keys[oside]
        olevels = self._levels[oside]
        index = self._orders
        seq = self._trade_seq
        while okeys and okeys[-1] >= lim:
            key = okeys[-1]
            level = olevels[key]
            makers = level[1]
            trade_price = key if oside == _BUY else -key
            while makers:
                maker = next(iter(makers.values()))
                maker_id = maker[0]
                if stp and maker[1] == account_id:
                    if stp == _STP_TAKER:
                        self._trade_seq = seq
                        out.append(
                            (CANCELLED, order_id, account_id, side, price, qty, _R_STP, 0, ts)
                        )
                        return 0
                    # EXPIRE_MAKER or EXPIRE_BOTH: the resting order goes.
                    del makers[maker_id]
                    del index[maker_id]
                    level[0] -= maker[4]
                    out.append(
                        (CANCELLED, maker_id, account_id, oside, maker[3], maker[4], _R_STP, 1, ts)
                    )
                    if stp == _STP_BOTH:
                        if not makers:
                            okeys.pop()
                            del olevels[key]
                        self._trade_seq = seq
                        out.append(
                            (CANCELLED, order_id, account_id, side, price, qty, _R_STP, 0, ts)
                        )
                        return 0
                    continue
                maker_qty = maker[4]
                seq += 1
                if maker_qty <= qty:
                    qty -= maker_qty
                    del makers[maker_id]
                    del index[maker_id]
                    level[0] -= maker_qty
                    out.append(
                        (
                            TRADE,
                            seq,
                            maker_id,
                            maker[1],
                            order_id,
                            account_id,
                            side,
                            trade_price,
                            maker_qty,
                            0,
                            qty,
                            ts,
                        )
                    )
                    if not qty:
                        break
                else:
                    left = maker_qty - qty
                    maker[4] = left
                    level[0] -= qty
                    out.append(
                        (
                            TRADE,
                            seq,
                            maker_id,
                            maker[1],
                            order_id,
                            account_id,
                            side,
                            trade_price,
                            qty,
                            left,
                            0,
                            ts,
                        )
                    )
                    self._trade_seq = seq
                    return 0
            if not makers:
                okeys.pop()
                del olevels[key]
            if not qty:
                break
        self._trade_seq = seq
        return qty


def _malformed(command: Any) -> tuple[Any, ...]:
    """The REJECTED INVALID event of a command that is not a well-formed tuple."""
    fields = command if isinstance(command, tuple) else ()
    order_id = fields[1] if len(fields) > 2 else 0
    account_id = fields[2] if len(fields) > 2 else 0
    ts = fields[-1] if len(fields) > 1 else 0
    return (REJECTED, order_id, account_id, _J_INVALID, ts)
