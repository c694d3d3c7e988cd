"""KiteTicker: Kite's streaming WebSocket at /ws/zerodha (`?api_key=&access_token=`), binary ticks.

Protocol (what the official `KiteTicker` speaks): the client sends text frames
`{"a": "subscribe"|"unsubscribe", "v": [token, …]}` and `{"a": "mode", "v": ["ltp"|"quote"|
"full", [token, …]]}` (a subscription starts in `quote`); the server sends binary frames
`[uint16 packet count][uint16 length][packet]…`, big-endian, and a 1-byte heartbeat each second
of silence. Packets (prices in paise, Kite's divisor 100 for NSE):

- ltp, 8 bytes: token, last price;
- quote, 44 bytes: token, last price, last quantity, average price, volume, total buy and sell
  quantity (top five levels), open, high, low, close (the previous day's close);
- full, 184 bytes: quote + last trade time, three OI fields (0 for equities), exchange time,
  then five bids and five asks of (quantity uint32, price uint32, orders uint16, 2 pad bytes).

Errors (a bad frame, an unknown token) come as text `{"type": "error", "data": "…"}` and change
nothing; a bad token/key closes the handshake (403). Ticks follow the exchange's market-data bus
channel (`md_live.channel`: one message per committed batch, in any process), one bus
subscription per instrument per socket; the depth comes from this process's MarketData, as
md_live's snapshots do. A socket that falls 256 frames behind is closed (1013) and reconnects
(KiteTicker reconnects by itself). Cost per batch: O(packet size) per subscribed socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from casebook.engines.matching import candles, md_live
from casebook.engines.matching.venue import Instrument, Venue
from casebook.engines.matching.venue import get as get_venue
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.runtime import VENUE
from casebook.systems.zerodha import kite_auth
from casebook.systems.zerodha.kite_tokens import instrument_of

log = structlog.get_logger("casebook.zerodha.ticker")

MODES = ("ltp", "quote", "full")
MAX_TOKENS = 500
OUTBOX = 256
HEARTBEAT_S = 1.0
TOO_SLOW = 1013


@dataclass
class Tick:
    """What the packets of one instrument say, kept per socket. Prices in paise."""

    token: int
    last_price: int = 0
    last_qty: int = 0
    last_trade_s: int = 0
    day: list[int] = field(default_factory=lambda: [0, 0, 0, 0])
    """Today's open, high, low (paise) and volume (shares)."""
    day_value: int = 0
    """Today's traded value in paise (for the average price)."""
    prev_close: int = 0
    depth: tuple[list[list[int]], list[list[int]]] = ([], [])
    """(bids, asks): [price paise, qty, orders], best first, at most five."""

    def packet(self, mode: str) -> bytes:
        """The packet of `mode` (ltp 8 B, quote 44 B, full 184 B). O(1)."""
        if mode == "ltp":
            return struct.pack(">II", self.token, self.last_price)
        open_, high, low, volume = self.day
        average = self.day_value // volume if volume else 0
        bids, asks = self.depth
        quote = struct.pack(
            ">11I",
            self.token,
            self.last_price,
            self.last_qty,
            average,
            volume,
            sum(level[1] for level in bids),
            sum(level[1] for level in asks),
            open_,
            high,
            low,
            self.prev_close,
        )
        if mode == "quote":
            return quote
        levels = b"".join(
            struct.pack(">IIHxx", qty, price, orders)
            for side in (bids, asks)
            for price, qty, orders in (side + [[0, 0, 0]] * 5)[:5]
        )
        return quote + struct.pack(">5I", self.last_trade_s, 0, 0, 0, int(time.time())) + levels


def frame(packets: list[bytes]) -> bytes:
    """A binary message of `packets` as KiteTicker splits it. O(total size)."""
    return struct.pack(">H", len(packets)) + b"".join(
        struct.pack(">H", len(p)) + p for p in packets
    )


class TickerSocket:
    """One KiteTicker connection: its subscriptions, their ticks, and the frames it is owed."""

    def __init__(self, platform: Platform, venue: Venue, websocket: WebSocket) -> None:
        self.platform = platform
        self.venue = venue
        self.websocket = websocket
        self.modes: dict[int, str] = {}
        self.ticks: dict[int, Tick] = {}
        self.feeds: dict[int, asyncio.Task[None]] = {}
        self.outbox: asyncio.Queue[bytes | str] = asyncio.Queue(OUTBOX)
        self.slow = False

    def offer(self, message: bytes | str) -> None:
        try:
            self.outbox.put_nowait(message)
        except asyncio.QueueFull:
            self.slow = True

    def error(self, text: str) -> None:
        self.offer(orjson.dumps({"type": "error", "data": text}).decode())

    async def run(self) -> None:
        writer = asyncio.create_task(self.write())
        try:
            while not writer.done():
                try:
                    text = await self.websocket.receive_text()
                except (WebSocketDisconnect, RuntimeError, KeyError):
                    break
                await self.command(text)
        finally:
            for task in [*self.feeds.values(), writer]:
                task.cancel()
            for task in [*self.feeds.values(), writer]:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task

    async def write(self) -> None:
        while True:
            if self.slow:
                await self.websocket.close(TOO_SLOW, "too slow: reconnect")
                return
            try:
                message = await asyncio.wait_for(self.outbox.get(), HEARTBEAT_S)
            except TimeoutError:
                message = b"\x00"  # Kite's heartbeat
            if isinstance(message, bytes):
                await self.websocket.send_bytes(message)
            else:
                await self.websocket.send_text(message)

    async def command(self, text: str) -> None:
        """One client frame; a bad one is answered with an error and changes nothing."""
        try:
            message = orjson.loads(text)
            action, value = message["a"], message["v"]
        except (orjson.JSONDecodeError, KeyError, TypeError):
            self.error('Frames are {"a": action, "v": value}.')
            return
        if action in ("subscribe", "unsubscribe"):
            tokens = value
            mode = "quote"
        elif action == "mode" and isinstance(value, list) and len(value) == 2:
            mode, tokens = value
            if mode not in MODES:
                self.error(f"mode is one of {', '.join(MODES)}.")
                return
        else:
            self.error("a is subscribe, unsubscribe or mode.")
            return
        if not isinstance(tokens, list) or not all(isinstance(t, int) for t in tokens):
            self.error("v must list instrument tokens.")
            return
        if action == "unsubscribe":
            for token in tokens:
                self.modes.pop(token, None)
                feed = self.feeds.pop(token, None)
                if feed is not None:
                    feed.cancel()
            return
        found: dict[int, Instrument] = {}
        for token in tokens:
            instrument = instrument_of(self.venue, token)
            if instrument is None:
                self.error(f"Unknown instrument token {token}.")
                return
            found[token] = instrument
        if action == "subscribe" and len(set(self.modes) | set(found)) > MAX_TOKENS:
            self.error(f"At most {MAX_TOKENS} tokens per connection.")
            return
        if action == "mode" and not set(found) <= set(self.modes):
            self.error("Subscribe to a token before setting its mode.")
            return
        for token, instrument in found.items():
            if action == "subscribe" and token in self.modes:
                continue
            self.modes[token] = mode
            if token not in self.feeds:
                ready = asyncio.Event()
                self.feeds[token] = asyncio.create_task(self.feed(instrument, token, ready))
                await ready.wait()
            if token not in self.ticks:  # the feed could not start (bus or database down)
                self.modes.pop(token, None)
                self.feeds.pop(token).cancel()
                self.error(f"Ticks for {token} are unavailable now; retry.")
                return
            self.offer(frame([self.ticks[token].packet(mode)]))

    async def feed(self, instrument: Instrument, token: int, ready: asyncio.Event) -> None:
        """Follow one instrument's market-data channel; the first tick is read after the bus
        subscription is in place, so no batch falls between them."""
        channel = md_live.channel(self.venue.name, instrument.id)
        try:
            async with self.platform.bus.subscribe(channel) as subscription:
                self.ticks[token] = await self.first_tick(instrument, token)
                ready.set()
                async for raw in subscription:
                    self.apply(instrument, self.ticks[token], orjson.loads(raw))
                    mode = self.modes.get(token)
                    if mode is not None:
                        self.offer(frame([self.ticks[token].packet(mode)]))
        finally:
            ready.set()

    async def first_tick(self, instrument: Instrument, token: int) -> Tick:
        t = instrument.tick_size
        tick = Tick(token=token)
        md = self.venue.marketdata(instrument.id)
        last = md.last_trade
        ticks = self.venue.last_price.get(instrument.id) or instrument.reference_price or 0
        tick.last_price = ticks * t
        if last is not None:
            tick.last_qty = last.qty * instrument.lot_size
            tick.last_trade_s = last.ts // 1_000_000_000
        async with self.platform.db.session() as session:
            bars = await candles.query(session, self.venue.name, instrument.id, "1d", None, None, 2)
        today = time.time_ns() // candles.INTERVALS["1d"] * candles.INTERVALS["1d"]
        for bar in bars:
            if bar.bucket == today:
                tick.day = [
                    bar.open * t,
                    bar.high * t,
                    bar.low * t,
                    bar.volume * instrument.lot_size,
                ]
                tick.day_value = bar.quote_volume
            else:
                tick.prev_close = bar.close * t
        self.depth(instrument, tick)
        return tick

    def depth(self, instrument: Instrument, tick: Tick) -> None:
        l2 = self.venue.marketdata(instrument.id).l2(5)
        t, lot = instrument.tick_size, instrument.lot_size
        tick.depth = (
            [[p * t, q * lot, n] for p, q, n in l2["bids"]],
            [[p * t, q * lot, n] for p, q, n in l2["asks"]],
        )

    def apply(self, instrument: Instrument, tick: Tick, message: dict[str, Any]) -> None:
        """Fold one bus message (md_live's shape) into the tick."""
        t, lot = instrument.tick_size, instrument.lot_size
        trades = message.get("trades") or []
        if trades:
            _, price, qty, _, ts = trades[-1]
            tick.last_price, tick.last_qty, tick.last_trade_s = price * t, qty * lot, ts // 10**9
        for bar in (message.get("klines") or {}).get("1d", []):
            _, _, open_, high, low, _, volume, quote_volume, *_ = bar
            tick.day = [open_ * t, high * t, low * t, volume * lot]
            tick.day_value = quote_volume
        self.depth(instrument, tick)


router = APIRouter()


@router.websocket("")
async def kite_ticker(websocket: WebSocket, api_key: str = "", access_token: str = "") -> None:
    """Kite's ticker socket (module docstring); the handshake is refused for a bad token."""
    platform: Platform = websocket.app.state.platform
    async with platform.db.session() as session:
        try:
            await kite_auth.authenticate(session, f"token {api_key}:{access_token}")
        except kite_auth.TokenError:
            await websocket.close(code=1008)
            return
    await websocket.accept()
    await TickerSocket(platform, get_venue(platform, VENUE), websocket).run()
