"""Market data of one instrument: L1 quote, L2 depth, the trade tape, built from the book's events.

`MarketData` is fed, in order, the events of each batch the venue's writer COMMITTED (types.py
layouts; never the events of a batch that rolled back). It keeps

- L2 depth: per side, price → (total open qty, order count), the same aggregate as
  `OrderBook.depth()`;
- L1: best bid/ask with their sizes, and the last trade's price and quantity;
- the trade tape: the last `tape_size` trades;
- `seq`: the market-data sequence of the instrument, +1 per published update.

Each `apply(events)` that changed the depth returns ONE `DepthUpdate` (the Binance diff-depth
model): `{"seq", "prev_seq", "bids": [[price, qty], ...], "asks": [...]}`, the final size of every
level the batch touched, qty 0 = the level is gone. A client holding a snapshot at seq S applies
the update whose prev_seq == S and so on; any other prev_seq means it missed one and must take a
new snapshot. Snapshots (`l1()`, `l2(levels)`) carry the seq they are valid at. A batch that
changed nothing (only REJECTED, or CANCELLED of orders that never rested) publishes nothing and
keeps the seq: every trade moves the maker's level, so a batch with trades always publishes.

Complexity: `apply` is O(events · log L) (L = levels on a side; a SortedList of prices per side)
plus O(levels touched) to build the update; `l1()` is O(log L); `l2(n)` is O(n).

Decimal renderings of prices and quantities (`Scale`) are exact strings, never floats.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, localcontext
from typing import Any, Protocol

from sortedcontainers import SortedList

from casebook.engines.matching.types import (
    CANCELLED,
    REJECTED,
    REPLACED,
    RESTED,
    TRADE,
    Side,
)

DEFAULT_TAPE_SIZE = 1000
ALL_LEVELS = 1 << 30
"""Asked of `OrderBook.depth` to get every level (it stops at the levels it has)."""


class MarketDataDiverged(ValueError):
    """The events contradict the depth held here (a level would go negative or an order count
    below zero): they are not the events of the book this market data mirrors. The state is
    then undefined; the venue resets it from its book (`reset_from_book`)."""


@dataclass(frozen=True, slots=True)
class Scale:
    """How an instrument's ticks and lots become decimal amounts.

    `tick_size`: quote minor units per tick of price; `lot_size`: base minor units per lot;
    `base_scale`: base minor units per whole base unit; `quote_scale`: quote minor units per whole
    quote unit (100 for USD cents). The price of a tick count is in quote units per whole base
    unit; a lot count is in whole base units."""

    tick_size: int
    lot_size: int
    base_scale: int
    quote_scale: int

    def price_text(self, ticks: int) -> str:
        """`ticks` as a decimal string of quote units, exact (e.g. 18950 ticks of 1 cent →
        "189.50")."""
        return decimal_text(ticks * self.tick_size, self.quote_scale)

    def qty_text(self, lots: int) -> str:
        """`lots` as a decimal string of whole base units, exact."""
        return decimal_text(lots * self.lot_size, self.base_scale)

    def quote_text(self, minor: int) -> str:
        """A quote-asset amount in minor units (a notional, a fee) as a decimal string."""
        return decimal_text(minor, self.quote_scale)


def decimal_text(minor: int, scale: int) -> str:
    """`minor / scale` as an exact decimal string with as many fraction digits as `scale` needs
    (scale 100 → 2 digits: "1.50"; scale 1 → "7"). Raises ValueError for scale < 1."""
    if scale < 1:
        raise ValueError("scale must be at least 1")
    digits = len(str(scale)) - 1
    if scale == 10**digits:
        sign = "-" if minor < 0 else ""
        whole, fraction = divmod(abs(minor), scale)
        return f"{sign}{whole}.{fraction:0{digits}d}" if digits else f"{sign}{whole}"
    # Not a power of ten: exact when the quotient terminates, else rounded at 30 digits.
    with localcontext() as context:
        context.prec = 60
        return format((Decimal(minor) / Decimal(scale)).normalize(), "f")


class DepthSource(Protocol):
    """What `reset_from_book` reads: area A's `OrderBook`."""

    def depth(
        self, levels: int
    ) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]: ...


@dataclass(frozen=True, slots=True)
class TapeTrade:
    """One trade on the tape (taker_side is the aggressor: BUY = the price was lifted)."""

    trade_seq: int
    price: int
    qty: int
    taker_side: Side
    ts: int

    def as_dict(self, scale: Scale | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "trade_seq": self.trade_seq,
            "price": self.price,
            "qty": self.qty,
            "taker_side": self.taker_side.name.lower(),
            "ts": self.ts,
        }
        if scale is not None:
            out["price_text"] = scale.price_text(self.price)
            out["qty_text"] = scale.qty_text(self.qty)
        return out


@dataclass(frozen=True, slots=True)
class DepthUpdate:
    """One published market-data update: the depth diff of one committed batch and the trades
    it made (oldest first). `snapshot` is True for the full depth after a reset."""

    seq: int
    prev_seq: int
    bids: list[list[int]]
    asks: list[list[int]]
    trades: tuple[TapeTrade, ...] = ()
    snapshot: bool = False

    def depth_dict(self) -> dict[str, Any]:
        """The diff-depth message: {"seq", "prev_seq", "bids", "asks"}."""
        return {"seq": self.seq, "prev_seq": self.prev_seq, "bids": self.bids, "asks": self.asks}


class _Side:
    """The levels of one side: price → [qty, count], prices kept sorted."""

    __slots__ = ("descending", "levels", "prices")

    def __init__(self, descending: bool) -> None:
        self.levels: dict[int, list[int]] = {}
        self.prices: SortedList = SortedList()
        self.descending = descending

    def add(self, price: int, qty: int, count: int) -> None:
        """Change the level at `price` by qty/count lots/orders; O(log L) when a level appears
        or goes. Raises MarketDataDiverged if it would go negative."""
        level = self.levels.get(price)
        if level is None:
            if qty < 0 or count < 0:
                raise MarketDataDiverged(f"no level at price {price} to take {-qty} lots from")
            if qty == 0:
                return
            self.levels[price] = [qty, count]
            self.prices.add(price)
            return
        new_qty, new_count = level[0] + qty, level[1] + count
        if new_qty < 0 or new_count < 0 or (new_qty == 0) != (new_count == 0):
            raise MarketDataDiverged(
                f"level {price} would hold {new_qty} lots in {new_count} orders"
            )
        if new_qty == 0:
            del self.levels[price]
            self.prices.remove(price)
        else:
            level[0], level[1] = new_qty, new_count

    def best(self) -> int | None:
        if not self.prices:
            return None
        return int(self.prices[-1] if self.descending else self.prices[0])

    def top(self, count: int) -> list[tuple[int, int, int]]:
        """The best `count` levels, best first, as (price, qty, orders); O(count)."""
        if count <= 0 or not self.prices:
            return []
        if self.descending:
            prices = self.prices.islice(max(0, len(self.prices) - count), reverse=True)
        else:
            prices = self.prices.islice(0, count)
        return [(p, *self.levels[p]) for p in prices]

    def qty_at(self, price: int) -> int:
        level = self.levels.get(price)
        return level[0] if level is not None else 0


class MarketData:
    """The market data of one instrument of one venue (see the module docstring)."""

    def __init__(
        self, venue: str, instrument_id: int, *, tape_size: int = DEFAULT_TAPE_SIZE
    ) -> None:
        if tape_size < 1:
            raise ValueError("tape_size must be at least 1")
        self.venue = venue
        self.instrument_id = instrument_id
        self.seq = 0
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        self._tape: deque[TapeTrade] = deque(maxlen=tape_size)
        self.last_trade: TapeTrade | None = None
        self.ts = 0
        """The `ts` of the last event applied (the sequencer's clock, ns)."""

    def _side(self, side: int) -> _Side:
        return self._bids if side == Side.BUY else self._asks

    def reset_from_book(
        self, book: DepthSource, recent_trades: Iterable[tuple[Any, ...]] = ()
    ) -> DepthUpdate:
        """Take the whole depth of `book` (at venue start, or after the venue rebuilt the book)
        and, optionally, the last trades (TRADE tuples, oldest first) for the tape and the last
        price. Publishes a snapshot update (seq + 1, `snapshot=True`): clients holding older
        state must resync. O(L log L + trades)."""
        bids, asks = book.depth(ALL_LEVELS)
        self._bids = _Side(descending=True)
        self._asks = _Side(descending=False)
        for price, qty, count in bids:
            self._bids.add(price, qty, count)
        for price, qty, count in asks:
            self._asks.add(price, qty, count)
        self._tape.clear()
        self.last_trade = None
        for event in recent_trades:
            self._record_trade(event)
        prev, self.seq = self.seq, self.seq + 1
        return DepthUpdate(
            seq=self.seq,
            prev_seq=prev,
            bids=[[p, q] for p, q, _ in self._bids.top(len(self._bids.levels))],
            asks=[[p, q] for p, q, _ in self._asks.top(len(self._asks.levels))],
            trades=(),
            snapshot=True,
        )

    def _record_trade(self, event: Sequence[Any]) -> TapeTrade:
        trade = TapeTrade(
            trade_seq=event[1],
            price=event[7],
            qty=event[8],
            taker_side=Side(event[6]),
            ts=event[11],
        )
        self._tape.append(trade)
        self.last_trade = trade
        return trade

    def apply(self, events: Iterable[tuple[Any, ...]]) -> DepthUpdate | None:
        """Apply one committed batch's events (in order); the update to publish, or None when the
        depth did not change. O(events · log L + levels touched).

        Raises MarketDataDiverged when the events contradict the depth (see the class)."""
        touched: set[tuple[int, int]] = set()
        trades: list[TapeTrade] = []
        for event in events:
            kind = event[0]
            if kind == TRADE:
                maker_side = Side.SELL if event[6] == Side.BUY else Side.BUY
                price, qty, maker_left = event[7], event[8], event[9]
                self._side(maker_side).add(price, -qty, -1 if maker_left == 0 else 0)
                touched.add((maker_side, price))
                trades.append(self._record_trade(event))
                self.ts = event[11]
            elif kind == RESTED:
                _, _, _, side, price, qty, ts = event
                self._side(side).add(price, qty, 1)
                touched.add((side, price))
                self.ts = ts
            elif kind == CANCELLED:
                _, _, _, side, price, qty, _, resting, ts = event
                if resting:
                    self._side(side).add(price, -qty, -1)
                    touched.add((side, price))
                self.ts = ts
            elif kind == REPLACED:
                _, _, _, side, old_price, old_qty, _, new_qty, kept, ts = event
                if kept:
                    self._side(side).add(old_price, new_qty - old_qty, -1 if new_qty == 0 else 0)
                else:
                    # It left its level; TRADE/RESTED/CANCELLED events that follow re-enter it.
                    self._side(side).add(old_price, -old_qty, -1)
                touched.add((side, old_price))
                self.ts = ts
            elif kind == REJECTED:
                self.ts = event[4]
            else:
                raise MarketDataDiverged(f"unknown event kind {kind!r}")
        if not touched:
            return None
        bids = sorted((p for s, p in touched if s == Side.BUY), reverse=True)
        asks = sorted(p for s, p in touched if s == Side.SELL)
        prev, self.seq = self.seq, self.seq + 1
        return DepthUpdate(
            seq=self.seq,
            prev_seq=prev,
            bids=[[p, self._bids.qty_at(p)] for p in bids],
            asks=[[p, self._asks.qty_at(p)] for p in asks],
            trades=tuple(trades),
        )

    def best_bid(self) -> tuple[int, int] | None:
        """(price, qty) of the best bid, or None; O(log L)."""
        price = self._bids.best()
        return None if price is None else (price, self._bids.levels[price][0])

    def best_ask(self) -> tuple[int, int] | None:
        """(price, qty) of the best ask, or None; O(log L)."""
        price = self._asks.best()
        return None if price is None else (price, self._asks.levels[price][0])

    def l1(self) -> dict[str, Any]:
        """The quote at `seq`: best bid/ask price and size, last trade price/qty (None where there
        is none); O(log L)."""
        bid, ask, last = self.best_bid(), self.best_ask(), self.last_trade
        return {
            "seq": self.seq,
            "bid_price": bid[0] if bid else None,
            "bid_qty": bid[1] if bid else None,
            "ask_price": ask[0] if ask else None,
            "ask_qty": ask[1] if ask else None,
            "last_price": last.price if last else None,
            "last_qty": last.qty if last else None,
            "ts": self.ts,
        }

    def l2(self, levels: int) -> dict[str, Any]:
        """The best `levels` levels per side at `seq`: {"seq", "bids": [[price, qty, orders]...],
        "asks": [...]}, best first; O(levels)."""
        return {
            "seq": self.seq,
            "bids": [list(level) for level in self._bids.top(levels)],
            "asks": [list(level) for level in self._asks.top(levels)],
        }

    def trades(self, limit: int) -> list[TapeTrade]:
        """The last `limit` trades of the tape, newest first; O(limit)."""
        out: list[TapeTrade] = []
        for trade in reversed(self._tape):
            if len(out) >= limit:
                break
            out.append(trade)
        return out

    @property
    def level_count(self) -> tuple[int, int]:
        """(bid levels, ask levels)."""
        return len(self._bids.levels), len(self._asks.levels)
