"""A deliberately simple order book for testing `OrderBook`: every resting order in one list,
sorted again on every look, a FOK decided by matching on a copy. Slow and obvious; the fast book
must give exactly its events."""

from __future__ import annotations

import copy
from dataclasses import dataclass
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

MAX = 2**63 - 1


@dataclass
class Resting:
    arrival: int
    order_id: int
    account_id: int
    side: int
    price: int
    qty: int
    tif: int
    flags: int
    stp: int


def _is_int(value: Any) -> bool:
    return type(value) is int


class ReferenceBook:
    def __init__(self) -> None:
        self.resting: list[Resting] = []
        self.seen: set[int] = set()
        self.trade_seq = 0
        self.clock = 0

    def queue(self, side: int) -> list[Resting]:
        """One side's resting orders, best price first, then oldest first."""
        mine = [o for o in self.resting if o.side == side]
        if side == Side.BUY:
            return sorted(mine, key=lambda o: (-o.price, o.arrival))
        return sorted(mine, key=lambda o: (o.price, o.arrival))

    def crosses(self, side: int, price: int | None, maker: Resting) -> bool:
        if price is None:
            return True
        return maker.price <= price if side == Side.BUY else maker.price >= price

    def apply(self, command: Any) -> list[tuple[Any, ...]]:
        out: list[tuple[Any, ...]] = []
        kinds = {PLACE: 10, CANCEL: 4, REPLACE: 6, EXPIRE_DAY: 2}
        if (
            not isinstance(command, tuple)
            or not command
            or command[0] not in kinds
            or len(command) != kinds[command[0]]
        ):
            fields = command if isinstance(command, tuple) else ()
            out.append(
                (
                    REJECTED,
                    fields[1] if len(fields) > 2 else 0,
                    fields[2] if len(fields) > 2 else 0,
                    RejectReason.INVALID,
                    fields[-1] if len(fields) > 1 else 0,
                )
            )
            return out
        kind = command[0]
        if kind == PLACE:
            self.place(*command[1:], out)  # type: ignore[call-arg]
        elif kind == CANCEL:
            self.cancel(*command[1:], out)  # type: ignore[call-arg]
        elif kind == REPLACE:
            self.replace(*command[1:], out)  # type: ignore[call-arg]
        else:
            self.expire_day(command[1], out)
        return out

    def place(self, oid, acc, side, price, qty, tif, flags, stp, ts, out) -> None:  # type: ignore[no-untyped-def]
        valid = (
            all(_is_int(v) for v in (oid, acc, qty))
            and side in (0, 1)
            and tif in (0, 1, 2, 3)
            and flags in (0, 1, 2, 3)
            and stp in (0, 1, 2, 3)
            and 1 <= qty <= MAX
            and 0 <= oid <= MAX
            and 0 <= acc <= MAX
            and not (flags & Flag.POST_ONLY and flags & Flag.MARKET)
            and not (flags & Flag.POST_ONLY and tif in (TimeInForce.IOC, TimeInForce.FOK))
        )
        market = valid and bool(flags & Flag.MARKET)
        if valid and not market:
            valid = _is_int(price) and 1 <= price <= MAX
        if not valid:
            out.append((REJECTED, oid, acc, RejectReason.INVALID, ts))
            return
        side, tif, flags, stp = int(side), int(tif), int(flags), int(stp)
        if market:
            price = 0
        if oid in self.seen:
            out.append((REJECTED, oid, acc, RejectReason.DUPLICATE_ORDER_ID, ts))
            return
        limit = None if market else price
        opposite = self.queue(1 - side)
        would_trade = bool(opposite) and self.crosses(side, limit, opposite[0])
        if flags & Flag.POST_ONLY and would_trade:
            out.append((REJECTED, oid, acc, RejectReason.POST_ONLY_WOULD_TAKE, ts))
            return
        self.seen.add(oid)
        if tif == TimeInForce.FOK:
            trial = copy.deepcopy(self)
            left, expired = trial.match(oid, acc, side, price, limit, qty, stp, ts, [])
            if left or expired:
                out.append((CANCELLED, oid, acc, side, price, qty, CancelReason.FOK, 0, ts))
                return
        left, expired = self.match(oid, acc, side, price, limit, qty, stp, ts, out)
        if expired or not left:
            return
        if market or tif in (TimeInForce.IOC, TimeInForce.FOK):
            reason = CancelReason.FOK if tif == TimeInForce.FOK else CancelReason.IOC
            out.append((CANCELLED, oid, acc, side, price, left, reason, 0, ts))
            return
        self.rest(oid, acc, side, price, left, tif, flags, stp)
        out.append((RESTED, oid, acc, side, price, left, ts))

    def rest(self, oid, acc, side, price, qty, tif, flags, stp) -> None:  # type: ignore[no-untyped-def]
        self.clock += 1
        self.resting.append(Resting(self.clock, oid, acc, side, price, qty, tif, flags, stp))

    def match(self, oid, acc, side, price, limit, qty, stp, ts, out) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
        """Returns (open qty left, taker expired by STP)."""
        while qty:
            opposite = self.queue(1 - side)
            if not opposite or not self.crosses(side, limit, opposite[0]):
                return qty, False
            maker = opposite[0]
            if maker.account_id == acc and stp != SelfTrade.NONE:
                if stp in (SelfTrade.EXPIRE_MAKER, SelfTrade.EXPIRE_BOTH):
                    self.resting.remove(maker)
                    out.append(
                        (
                            CANCELLED,
                            maker.order_id,
                            acc,
                            maker.side,
                            maker.price,
                            maker.qty,
                            CancelReason.STP,
                            1,
                            ts,
                        )
                    )
                if stp in (SelfTrade.EXPIRE_TAKER, SelfTrade.EXPIRE_BOTH):
                    out.append((CANCELLED, oid, acc, side, price, qty, CancelReason.STP, 0, ts))
                    return 0, True
                continue
            fill = min(qty, maker.qty)
            maker.qty -= fill
            qty -= fill
            self.trade_seq += 1
            if maker.qty == 0:
                self.resting.remove(maker)
            out.append(
                (
                    TRADE,
                    self.trade_seq,
                    maker.order_id,
                    maker.account_id,
                    oid,
                    acc,
                    side,
                    maker.price,
                    fill,
                    maker.qty,
                    qty,
                    ts,
                )
            )
        return 0, False

    def find(self, oid: Any) -> Resting | None:
        for order in self.resting:
            if order.order_id == oid and type(oid) is int:
                return order
        return None

    def cancel(self, oid, acc, ts, out) -> None:  # type: ignore[no-untyped-def]
        if not (_is_int(oid) and _is_int(acc)):
            out.append((REJECTED, oid, acc, RejectReason.INVALID, ts))
            return
        order = self.find(oid)
        if order is None:
            out.append((REJECTED, oid, acc, RejectReason.UNKNOWN_ORDER, ts))
            return
        if order.account_id != acc:
            out.append((REJECTED, oid, acc, RejectReason.NOT_OWNER, ts))
            return
        self.resting.remove(order)
        out.append(
            (CANCELLED, oid, acc, order.side, order.price, order.qty, CancelReason.USER, 1, ts)
        )

    def replace(self, oid, acc, price, qty, ts, out) -> None:  # type: ignore[no-untyped-def]
        if not (
            all(_is_int(v) for v in (oid, acc, price, qty))
            and 1 <= price <= MAX
            and 1 <= qty <= MAX
        ):
            out.append((REJECTED, oid, acc, RejectReason.INVALID, ts))
            return
        order = self.find(oid)
        if order is None:
            out.append((REJECTED, oid, acc, RejectReason.UNKNOWN_ORDER, ts))
            return
        if order.account_id != acc:
            out.append((REJECTED, oid, acc, RejectReason.NOT_OWNER, ts))
            return
        old_price, old_qty = order.price, order.qty
        if price == old_price and qty <= old_qty:
            order.qty = qty
            out.append((REPLACED, oid, acc, order.side, old_price, old_qty, price, qty, 1, ts))
            return
        opposite = self.queue(1 - order.side)
        if (
            order.flags & Flag.POST_ONLY
            and opposite
            and self.crosses(order.side, price, opposite[0])
        ):
            out.append((REJECTED, oid, acc, RejectReason.POST_ONLY_WOULD_TAKE, ts))
            return
        self.resting.remove(order)
        out.append((REPLACED, oid, acc, order.side, old_price, old_qty, price, qty, 0, ts))
        left, expired = self.match(oid, acc, order.side, price, price, qty, order.stp, ts, out)
        if left and not expired:
            self.rest(oid, acc, order.side, price, left, order.tif, order.flags, order.stp)
            out.append((RESTED, oid, acc, order.side, price, left, ts))

    def expire_day(self, ts: Any, out: list[tuple[Any, ...]]) -> None:
        for side in (Side.BUY, Side.SELL):
            for order in self.queue(side):
                if order.tif == TimeInForce.DAY:
                    self.resting.remove(order)
                    out.append(
                        (
                            CANCELLED,
                            order.order_id,
                            order.account_id,
                            order.side,
                            order.price,
                            order.qty,
                            CancelReason.DAY,
                            1,
                            ts,
                        )
                    )

    def open_orders(self) -> list[tuple[int, ...]]:
        return [
            (o.order_id, o.account_id, o.side, o.price, o.qty, o.tif, o.flags, o.stp)
            for side in (Side.BUY, Side.SELL)
            for o in self.queue(side)
        ]
