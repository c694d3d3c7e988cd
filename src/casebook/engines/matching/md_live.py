"""Live market data: the public WebSocket of a venue (`/ws/<venue>/market`) and its publisher.

Publishing
==========

After each committed batch the venue applies the events to the instrument's `MarketData` and
calls `publish(platform, md, update, npl=...)` with the `DepthUpdate` that `apply` returned: ONE
bus message per batch on `matching:<venue>:md:<instrument_id>` (`platform.bus`: in-process, or
Redis pub/sub so a socket held by any process hears every update). The message carries the depth
diff (seq, prev_seq, touched levels), the batch's trades, the L1 quote when it changed, and for
each kline interval the bar(s) the batch's trades touched, whole (open..close of the bar so far).
`update is None` (a batch that changed no level) publishes nothing. A `snapshot=True` update (the
venue reset its market data from the book) publishes the full depth; subscribers resync from it.

Kline bars are kept by the publisher (`_Bars`, per instrument, in `platform.state`): the first
batch touching a bar in this process reads it once (`candles.bar`, which already holds the batch
because the writer records candles inside its transaction), later batches merge their trades in
memory (`Candle.merged`, skipped when the bar already holds them by trade_seq). So there is no
database read per message, only one per (interval, bucket) per process. A bus failure is logged
and swallowed: delivery is at most once, and subscribers detect the gap by seq.

Protocol (JSON text frames, anonymous)
======================================

Client → server:

    {"op": "subscribe", "id": 1,
     "streams": ["AAPL@trade", "AAPL@depth", "AAPL@quote", "AAPL@kline_1m"]}
    {"op": "unsubscribe", "streams": ["AAPL@depth"]}
    {"op": "ping"}

Server → client: `{"op": "subscribed"|"unsubscribed", "streams": [...], "id"}`, `{"op": "pong"}`,
`{"op": "error", "problem": <problem+json>, "id"}` for a bad frame, an unknown op or stream, an
unknown symbol (404) or too many streams (the op changes nothing; the socket stays open), and

- `{"stream": "AAPL@depth", "type": "snapshot", "seq", "bids": [[price, qty]...], "asks"}` first
  (whole depth, best first), then `{"stream", "type": "update", "seq", "prev_seq", "bids", "asks"}`
  (qty 0 = the level is gone) chained without a gap: each update's prev_seq is the seq of the frame
  before it. The socket subscribes to the bus BEFORE it takes the snapshot and drops the updates
  with seq <= the snapshot's; a lost bus message (prev_seq not the last seq sent) is answered
  with a fresh snapshot instead of the update.
- `{"stream": "AAPL@trade", "type": "trade", "seq", "trades": [...]}` — the batch's trades, oldest
  first (`taker_side` is the aggressor).
- `{"stream": "AAPL@quote", "type": "quote", ...L1}` — at subscribe, then whenever it changed.
- `{"stream": "AAPL@kline_1m", "type": "kline", "seq", "kline": <bar>}` — 1m, 5m, 1h, 1d; the
  bar of every interval bucket a batch traded in (history: the REST `candles` route).

Prices are ticks with `*_text` exact decimal strings on trades, quotes and klines; depth levels are
bare [ticks, lots] (the REST depth route gives the scale).

Limits: a client frame is at most `MAX_FRAME` bytes (larger: close 1009), a socket holds at most
`max_streams` streams (default 50). Each socket has a bounded queue (`queue_size` messages); a
client that falls that far behind is closed with 4429 "too slow" (reconnect and resubscribe).
Server shutdown (`close`) closes sockets with 1001.

Fan-out: one bus subscription per (process, instrument) with subscribers, shared by every socket
(`_Channel`); each message is decoded once and each frame rendered once (cached), then handed to
each subscribed socket's queue, O(sockets) per message. Snapshots come from this process's
`MarketData` (the `marketdata` lookup), O(levels).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from casebook.engines.matching import candles
from casebook.engines.matching.candles import Candle
from casebook.engines.matching.marketdata import (
    ALL_LEVELS,
    DepthUpdate,
    MarketData,
    TapeTrade,
)
from casebook.engines.matching.md_api import (
    InstrumentInfo,
    InstrumentLookup,
    MarketDataLookup,
)
from casebook.engines.matching.types import TRADE, Side
from casebook.platform.bus import SubscriberTooSlow
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput, Problem

log = structlog.get_logger("casebook.matching.md_live")

MAX_FRAME = 16 * 1024
MAX_STREAMS = 50
QUEUE_SIZE = 512
READY_TIMEOUT = 5.0
HELD_BARS = 16
"""Bars the publisher keeps per instrument (4 intervals x the current and a few recent buckets);
an evicted bar is read again from the database if a late trade touches it."""

STREAM = re.compile(r"^([A-Za-z0-9._-]{1,20})@(trade|depth|quote|kline_(?:1m|5m|1h|1d))$")
QUOTE_FIELDS = ("bid_price", "bid_qty", "ask_price", "ask_qty", "last_price", "last_qty")


class CloseCode:
    GOING_AWAY = 1001
    TOO_BIG = 1009
    TOO_SLOW = 4429


class InvalidFrame(InvalidInput):
    type_ = "matching/invalid-frame"
    title = "The frame is not valid"


class UnknownStream(InvalidInput):
    type_ = "matching/unknown-stream"
    title = "No such stream"


class TooManyStreams(InvalidInput):
    type_ = "matching/too-many-streams"
    title = "Too many streams on this socket"


def channel(venue: str, instrument_id: int) -> str:
    """The bus channel of an instrument's market data."""
    return f"matching:{venue}:md:{instrument_id}"


# -- publishing ------------------------------------------------------------------------------------


@dataclass
class _Bars:
    """The publisher's current kline bars and last quote of one instrument."""

    held: OrderedDict[tuple[str, int], Candle] = field(default_factory=OrderedDict)
    quote: tuple[Any, ...] | None = None


def _publisher_state(platform: Platform, venue: str, instrument_id: int) -> _Bars:
    states: dict[tuple[str, int], _Bars] = platform.state.setdefault("matching:md-live:bars", {})
    state = states.get((venue, instrument_id))
    if state is None:
        state = states[(venue, instrument_id)] = _Bars()
    return state


def _trade_tuple(trade: TapeTrade) -> tuple[int, ...]:
    # candles.aggregate reads trade_seq, taker_side, price, qty and ts of a TRADE tuple; the
    # order and account ids are not part of a bar.
    return (TRADE, trade.trade_seq, 0, 0, 0, 0, int(trade.taker_side), trade.price, trade.qty, 0, 0,
            trade.ts)  # fmt: skip


async def _touched_bars(
    platform: Platform, md: MarketData, bars: _Bars, trades: Iterable[TapeTrade], npl: int
) -> dict[str, list[Candle]]:
    """interval → the whole bars (oldest first) the trades touched. One `candles.bar` read per
    bar this process does not hold yet; raises SQLAlchemyError when that read fails."""
    batch = candles.aggregate([_trade_tuple(t) for t in trades], npl)
    out: dict[str, list[Candle]] = {}
    for key, part in batch.items():
        held = bars.held.get(key)
        if held is None:
            async with platform.db.session() as session:
                stored = await candles.bar(session, md.venue, md.instrument_id, *key)
            if stored is None:
                held = part
            elif stored.last_trade_seq < part.first_trade_seq:
                held = stored.merged(part)  # stored before this batch (not recorded with it)
            else:
                held = stored  # the writer recorded this batch in it
        elif part.first_trade_seq > held.last_trade_seq:
            held = held.merged(part)
        bars.held[key] = held
        bars.held.move_to_end(key)
        out.setdefault(key[0], []).append(held)
    while len(bars.held) > HELD_BARS:
        bars.held.popitem(last=False)
    return out


async def publish(
    platform: Platform, md: MarketData, update: DepthUpdate | None, *, npl: int
) -> None:
    """Publish the market-data update of one committed batch of `md`'s instrument.

    Call it right after `update = md.apply(events)` (or `md.reset_from_book(...)`) and before the
    next apply: the quote is read from `md`. `npl` is the instrument's notional per lot·tick
    (for the bars' quote volume). Nothing is published for `update is None`. Never raises for a
    bus or database failure (logged; subscribers resync on the gap). O(levels touched + trades x
    intervals), plus one database read for a bar this process has not held yet."""
    if update is None:
        return
    bars = _publisher_state(platform, md.venue, md.instrument_id)
    l1 = md.l1()
    quote_key = tuple(l1[name] for name in QUOTE_FIELDS)
    message: dict[str, Any] = {
        "seq": update.seq,
        "prev_seq": update.prev_seq,
        "snapshot": update.snapshot,
        "bids": update.bids,
        "asks": update.asks,
        "trades": [[t.trade_seq, t.price, t.qty, int(t.taker_side), t.ts] for t in update.trades],
        "quote": l1 if quote_key != bars.quote or update.snapshot else None,
        "klines": {},
    }
    bars.quote = quote_key
    try:
        if update.trades:
            touched = await _touched_bars(platform, md, bars, update.trades, npl)
            message["klines"] = {
                interval: [_bar_fields(bar) for bar in touched_bars]
                for interval, touched_bars in touched.items()
            }
        await platform.bus.publish(channel(md.venue, md.instrument_id), orjson.dumps(message))
    except (RedisError, OSError, SQLAlchemyError, TimeoutError):
        log.exception("market data not published", venue=md.venue, seq=update.seq)


_BAR_FIELDS = ("interval", "bucket", "open", "high", "low", "close", "volume", "quote_volume",
               "trade_count", "first_trade_seq", "last_trade_seq")  # fmt: skip


def _bar_fields(bar: Candle) -> list[Any]:
    return [getattr(bar, name) for name in _BAR_FIELDS]


# -- one instrument's messages, decoded once ---------------------------------------------------


class _Message:
    """A bus message of one instrument, with each stream's frame rendered on first use."""

    def __init__(self, info: InstrumentInfo, data: dict[str, Any]) -> None:
        self.info = info
        self.seq: int = data["seq"]
        self.prev_seq: int = data["prev_seq"]
        self.snapshot: bool = data["snapshot"]
        self.data = data

    def depth_frame(self) -> str:
        """The update frame (or, for a reset, the snapshot frame)."""
        return self._depth

    @cached_property
    def _depth(self) -> str:
        kind = "snapshot" if self.snapshot else "update"
        frame: dict[str, Any] = {"stream": f"{self.info.symbol}@depth", "type": kind}
        frame["seq"] = self.seq
        if not self.snapshot:
            frame["prev_seq"] = self.prev_seq
        frame["bids"], frame["asks"] = self.data["bids"], self.data["asks"]
        return orjson.dumps(frame).decode()

    @cached_property
    def trade_frame(self) -> str | None:
        rows = self.data["trades"]
        if not rows:
            return None
        trades = [
            TapeTrade(trade_seq=s, price=p, qty=q, taker_side=Side(side), ts=ts).as_dict(
                self.info.scale
            )
            for s, p, q, side, ts in rows
        ]
        frame = {"stream": f"{self.info.symbol}@trade", "type": "trade", "seq": self.seq}
        return orjson.dumps({**frame, "trades": trades}).decode()

    @cached_property
    def quote_frame(self) -> str | None:
        l1 = self.data["quote"]
        if l1 is None:
            return None
        return _quote_text(self.info, l1)

    def kline_frames(self, interval: str) -> list[str]:
        return self._klines.get(interval, [])

    @cached_property
    def _klines(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for interval, rows in self.data["klines"].items():
            stream = f"{self.info.symbol}@kline_{interval}"
            out[interval] = [
                orjson.dumps(
                    {
                        "stream": stream,
                        "type": "kline",
                        "seq": self.seq,
                        "kline": Candle(*row).as_dict(self.info.scale),
                    }
                ).decode()
                for row in rows
            ]
        return out


def _quote_text(info: InstrumentInfo, l1: dict[str, Any]) -> str:
    scale = info.scale
    frame: dict[str, Any] = {"stream": f"{info.symbol}@quote", "type": "quote", **l1}
    for name in ("bid_price", "ask_price", "last_price"):
        frame[f"{name}_text"] = None if l1[name] is None else scale.price_text(l1[name])
    for name in ("bid_qty", "ask_qty", "last_qty"):
        frame[f"{name}_text"] = None if l1[name] is None else scale.qty_text(l1[name])
    return orjson.dumps(frame).decode()


# -- the sockets of one venue in this process --------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Snapshot:
    """Queue item: take and send a depth snapshot of the instrument now."""

    instrument_id: int


@dataclass(frozen=True, slots=True)
class _Quote:
    """Queue item: send the instrument's current quote now."""

    instrument_id: int


_Item = str | tuple[int, _Message] | _Snapshot | _Quote


class _Channel:
    """The one bus subscription of an instrument in this process, fanned out to its sockets."""

    def __init__(self, hub: _Hub, info: InstrumentInfo) -> None:
        self.hub = hub
        self.info = info
        self.clients: set[_Client] = set()
        self.ready = asyncio.Event()
        self.task = asyncio.create_task(self._pump(), name=f"md-live-{info.instrument_id}")

    async def _pump(self) -> None:
        name = channel(self.hub.venue, self.info.instrument_id)
        while True:
            try:
                async with self.hub.platform.bus.subscribe(name) as messages:
                    self.ready.set()
                    async for raw in messages:
                        try:
                            message = _Message(self.info, orjson.loads(raw))
                        except (orjson.JSONDecodeError, KeyError, TypeError):
                            log.warning("bad market data message", channel=name)
                            continue
                        for client in list(self.clients):
                            client.offer((self.info.instrument_id, message))
                return
            except SubscriberTooSlow:
                # Lost messages: subscribe again; the next update's prev_seq shows the gap and
                # each depth subscriber resyncs from a snapshot.
                log.warning("market data channel fell behind; resubscribing", channel=name)


@dataclass
class _Hub:
    """The channels and sockets of one venue in this process."""

    platform: Platform
    venue: str
    channels: dict[int, _Channel] = field(default_factory=dict)
    sockets: set[WebSocket] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False

    async def join(self, client: _Client, info: InstrumentInfo) -> None:
        """Add `client` to the instrument's channel, once the bus subscription is live."""
        async with self.lock:
            found = self.channels.get(info.instrument_id)
            if found is None:
                found = self.channels[info.instrument_id] = _Channel(self, info)
            found.clients.add(client)
        try:
            await asyncio.wait_for(found.ready.wait(), READY_TIMEOUT)
        except TimeoutError:
            await self.leave(client, info.instrument_id)
            raise

    async def leave(self, client: _Client, instrument_id: int) -> None:
        async with self.lock:
            found = self.channels.get(instrument_id)
            if found is None:
                return
            found.clients.discard(client)
            if found.clients:
                return
            del self.channels[instrument_id]
        found.task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await found.task

    async def close(self) -> None:
        self.closed = True
        for socket in list(self.sockets):
            with contextlib.suppress(Exception):
                await socket.close(CloseCode.GOING_AWAY, "server shutting down")
        self.sockets.clear()


def _hub(platform: Platform, venue: str) -> _Hub:
    key = f"matching:md-live:{venue}"
    hub = platform.state.get(key)
    if hub is None or hub.closed:
        hub = platform.state[key] = _Hub(platform, venue)
    assert isinstance(hub, _Hub)
    return hub


async def close(platform: Platform, venue: str) -> None:
    """Close every market-data socket of `venue` in this process (1001); for shutdown hooks."""
    hub = platform.state.pop(f"matching:md-live:{venue}", None)
    if isinstance(hub, _Hub):
        await hub.close()


class _Client:
    """One socket: its streams, its bounded queue of frames, its depth seq per instrument."""

    def __init__(
        self,
        hub: _Hub,
        websocket: WebSocket,
        instruments: InstrumentLookup,
        marketdata: MarketDataLookup,
        *,
        queue_size: int,
        max_streams: int,
    ) -> None:
        self.hub = hub
        self.websocket = websocket
        self.instruments = instruments
        self.marketdata = marketdata
        self.max_streams = max_streams
        self.queue: asyncio.Queue[_Item] = asyncio.Queue(queue_size)
        self.overflowed = asyncio.Event()
        self.streams: dict[int, set[str]] = {}
        """instrument id → its subscribed kinds ("trade", "depth", "quote", "kline_1m", ...)."""
        self.infos: dict[int, InstrumentInfo] = {}
        self.depth_seq: dict[int, int] = {}
        """instrument id → seq of the last depth frame sent (absent until the snapshot)."""

    def offer(self, item: _Item) -> None:
        """Queue `item` without waiting; on overflow the socket is closed as too slow. O(1)."""
        if self.overflowed.is_set():
            return
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.overflowed.set()

    @property
    def stream_count(self) -> int:
        return sum(len(kinds) for kinds in self.streams.values())

    # -- client frames ---------------------------------------------------------------------------

    async def listen(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            if len(text) > MAX_FRAME:
                await self.websocket.close(CloseCode.TOO_BIG, f"frames are at most {MAX_FRAME} B")
                return
            frame: Any = None
            with contextlib.suppress(orjson.JSONDecodeError):
                frame = orjson.loads(text)
            request_id = frame.get("id") if isinstance(frame, dict) else None
            if not isinstance(request_id, int | str) or isinstance(request_id, bool):
                request_id = None
            try:
                for item in await self._answer(frame, request_id):
                    self.offer(item)
            except Problem as problem:
                error: dict[str, Any] = {"op": "error", "problem": problem.body()}
                if request_id is not None:
                    error["id"] = request_id
                self.offer(orjson.dumps(error).decode())

    async def _answer(self, frame: Any, request_id: int | str | None) -> list[_Item]:
        """What to queue for one client frame (after doing what it asks): the reply, then any
        depth snapshots and quotes the new streams start with. Raises a Problem."""
        if not isinstance(frame, dict):
            raise InvalidFrame("A frame is a JSON object with an op.")
        op = frame.get("op")
        if op == "ping":
            return [orjson.dumps({"op": "pong"}).decode()]
        if op not in ("subscribe", "unsubscribe"):
            raise InvalidFrame("op must be subscribe, unsubscribe or ping.")
        streams = frame.get("streams")
        if (
            not isinstance(streams, list)
            or not streams
            or len(streams) > self.max_streams
            or not all(isinstance(s, str) for s in streams)
        ):
            raise InvalidFrame(f"streams is a list of 1..{self.max_streams} stream names.")
        parsed = []
        for stream in streams:
            match = STREAM.match(stream)
            if match is None:
                raise UnknownStream(
                    f"{stream!r} is not SYMBOL@trade|depth|quote|kline_1m|kline_5m|kline_1h|"
                    "kline_1d."
                )
            parsed.append((match.group(1).upper(), match.group(2)))
        follow: list[_Item] = []
        if op == "subscribe":
            names, follow = await self._subscribe(parsed)
        else:
            names = await self._unsubscribe(parsed)
        reply: dict[str, Any] = {"op": f"{op}d", "streams": names}
        if request_id is not None:
            reply["id"] = request_id
        return [orjson.dumps(reply).decode(), *follow]

    async def _subscribe(self, parsed: list[tuple[str, str]]) -> tuple[list[str], list[_Item]]:
        """Subscribe every stream or none (unknown symbol: NotFound; over the limit:
        TooManyStreams); the stream names, and the snapshot/quote items the new depth and quote
        streams start with (taken when the socket's queue reaches them, after the bus joined)."""
        wanted: dict[int, set[str]] = {}
        infos: dict[int, InstrumentInfo] = {}
        by_symbol: dict[str, InstrumentInfo] = {}
        async with self.hub.platform.db.session() as session:
            for symbol, kind in parsed:
                info = by_symbol.get(symbol)
                if info is None:
                    info = await self.instruments(self.hub.platform, session, symbol)
                    by_symbol[symbol] = info
                infos[info.instrument_id] = info
                wanted.setdefault(info.instrument_id, set()).add(kind)
        new = {
            iid: kinds - self.streams.get(iid, set())
            for iid, kinds in wanted.items()
            if kinds - self.streams.get(iid, set())
        }
        if self.stream_count + sum(len(kinds) for kinds in new.values()) > self.max_streams:
            raise TooManyStreams(f"A socket holds at most {self.max_streams} streams.")
        for iid, kinds in new.items():
            if iid not in self.streams:
                await self.hub.join(self, infos[iid])  # the bus first, then the snapshot
                self.infos[iid] = infos[iid]
                self.streams[iid] = set()
            self.streams[iid] |= kinds
        follow: list[_Item] = []
        for iid, kinds in new.items():
            if "depth" in kinds:
                follow.append(_Snapshot(iid))
            if "quote" in kinds:
                follow.append(_Quote(iid))
        names = [f"{infos[iid].symbol}@{kind}" for iid, kinds in wanted.items() for kind in kinds]
        return sorted(names), follow

    async def _unsubscribe(self, parsed: list[tuple[str, str]]) -> list[str]:
        """Drop the named streams (unsubscribing one not held is not an error)."""
        symbols = {info.symbol: iid for iid, info in self.infos.items()}
        names = []
        for symbol, kind in parsed:
            iid = symbols.get(symbol)
            names.append(f"{symbol}@{kind}")
            if iid is None or kind not in self.streams.get(iid, set()):
                continue
            self.streams[iid].discard(kind)
            if kind == "depth":
                self.depth_seq.pop(iid, None)
            if not self.streams[iid]:
                del self.streams[iid]
                del self.infos[iid]
                await self.hub.leave(self, iid)
        return names

    # -- frames to the client --------------------------------------------------------------------

    async def deliver(self) -> None:
        while True:
            item = await self.queue.get()
            for text in self._frames(item):
                await self.websocket.send_text(text)

    def _frames(self, item: _Item) -> list[str]:
        """The frames `item` makes for this socket now (by its current streams)."""
        if isinstance(item, str):
            return [item]
        if isinstance(item, _Snapshot):
            wanted = "depth" in self.streams.get(item.instrument_id, set())
            return [self._snapshot(item.instrument_id)] if wanted else []
        if isinstance(item, _Quote):
            info = self.infos.get(item.instrument_id)
            if info is None or "quote" not in self.streams.get(item.instrument_id, set()):
                return []
            return [_quote_text(info, self.marketdata(self.hub.platform, item.instrument_id).l1())]
        iid, message = item
        kinds = self.streams.get(iid)
        if not kinds:
            return []
        out: list[str] = []
        if "depth" in kinds and iid in self.depth_seq:
            out.extend(self._depth(iid, message))
        if "trade" in kinds and message.trade_frame is not None:
            out.append(message.trade_frame)
        if "quote" in kinds and message.quote_frame is not None:
            out.append(message.quote_frame)
        for kind in kinds:
            if kind.startswith("kline_"):
                out.extend(message.kline_frames(kind.removeprefix("kline_")))
        return out

    def _depth(self, iid: int, message: _Message) -> list[str]:
        held = self.depth_seq[iid]
        if message.seq <= held:
            return []  # already in the snapshot this socket holds
        if message.snapshot:
            self.depth_seq[iid] = message.seq
            return [message.depth_frame()]
        if message.prev_seq == held:
            self.depth_seq[iid] = message.seq
            return [message.depth_frame()]
        # A lost message: resync from this process's market data.
        return [self._snapshot(iid)]

    def _snapshot(self, iid: int) -> str:
        md = self.marketdata(self.hub.platform, iid)
        depth = md.l2(ALL_LEVELS)
        self.depth_seq[iid] = depth["seq"]
        frame = {
            "stream": f"{self.infos[iid].symbol}@depth",
            "type": "snapshot",
            "seq": depth["seq"],
            "bids": [[price, qty] for price, qty, _ in depth["bids"]],
            "asks": [[price, qty] for price, qty, _ in depth["asks"]],
        }
        return orjson.dumps(frame).decode()

    # -- lifetime --------------------------------------------------------------------------------

    async def run(self) -> None:
        listen = asyncio.create_task(self.listen())
        deliver = asyncio.create_task(self.deliver())
        overflow = asyncio.create_task(self.overflowed.wait())
        tasks = {listen, deliver, overflow}
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if overflow in done:
                await self.websocket.close(CloseCode.TOO_SLOW, "too slow: fell behind; reconnect")
            for task in done:
                error = None if task.cancelled() else task.exception()
                if error is not None and not isinstance(error, WebSocketDisconnect):
                    raise error
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for iid in list(self.streams):
                await self.hub.leave(self, iid)
            self.streams.clear()


def router(
    venue: str,
    *,
    instruments: InstrumentLookup,
    marketdata: MarketDataLookup,
    queue_size: int = QUEUE_SIZE,
    max_streams: int = MAX_STREAMS,
) -> APIRouter:
    """The market-data WebSocket of `venue` at the router's root (a system mounts it at
    `/ws/<venue>/market`). `instruments`/`marketdata` are md_api's lookups (NotFound for a
    symbol that is not the venue's; the live `MarketData` of this process)."""
    if queue_size < 1 or max_streams < 1:
        raise ValueError("queue_size and max_streams must be at least 1")
    api = APIRouter()

    async def market_socket(websocket: WebSocket) -> None:
        platform: Platform = websocket.app.state.platform
        hub = _hub(platform, venue)
        await websocket.accept()
        hub.sockets.add(websocket)
        client = _Client(
            hub,
            websocket,
            instruments,
            marketdata,
            queue_size=queue_size,
            max_streams=max_streams,
        )
        try:
            await client.run()
        finally:
            hub.sockets.discard(websocket)
            if websocket.application_state != WebSocketState.DISCONNECTED:
                with contextlib.suppress(Exception):
                    await websocket.close()

    api.add_api_websocket_route("", market_socket, name=f"{venue}-market-socket")
    return api
