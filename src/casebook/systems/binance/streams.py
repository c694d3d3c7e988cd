"""Binance-shaped market streams: `/ws/binance/stream?streams=btcusdt@trade/btcusdt@depth/
btcusdt@kline_1m` (combined streams: every frame is `{"stream": name, "data": payload}`).

Payloads (Binance's field names; prices and quantities 8-place decimal strings):
- `<symbol>@trade` → `{"e": "trade", "E", "s", "t" (trade id), "p", "q", "T" (trade time, ms),
  "m" (buyer is maker), "M": true}`, one frame per trade;
- `<symbol>@depth` (also `@depth@100ms`) → `{"e": "depthUpdate", "E", "s", "U", "u", "b", "a"}`
  with the final quantity of every level changed ("0" = gone). U/u are the venue's market-data
  sequence: keep a local book with Binance's procedure (GET /api/v3/depth gives lastUpdateId;
  drop events with u <= lastUpdateId; each next event has U == previous u + 1, otherwise
  refetch). A reset of the venue's book is NOT sent as a diff (it has no diff form): the next
  event's U then skips, which is exactly the signal to refetch;
- `<symbol>@kline_<1m|5m|1h|1d>` → `{"e": "kline", "E", "s", "k": {"t", "T", "s", "i", "f",
  "L", "o", "c", "h", "l", "v", "n", "x", "q", "V", "Q", "B"}}` for every bar a batch traded in
  (taker-buy volumes "0": the engine's bars do not keep them; `x` is true once the bar's interval
  has ended).

The socket also takes Binance's live requests: `{"method": "SUBSCRIBE"|"UNSUBSCRIBE", "params":
[...], "id": n}` → `{"result": null, "id": n}`, `{"method": "LIST_SUBSCRIPTIONS", "id": n}` →
`{"result": [...], "id": n}`; a bad request gets `{"error": {"code", "msg"}, "id"}` and changes
nothing. An unknown stream in the URL refuses the handshake (close 1008).

Source: the venue's market-data bus channel (md_live publishes one message per committed batch,
across processes in cluster mode). Each socket holds one bus subscription per instrument it
watches: O(sockets x instruments) subscriptions, simpler than md_live's shared hub and fine for
the stream counts a page or a bot opens; a frame costs O(levels touched + trades). A socket whose
queue (512 frames) overflows is closed with 1008 "too slow": reconnect and resync.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from casebook.engines.matching import md_live
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import Instrument, Venue
from casebook.platform.context import Platform
from casebook.systems.binance.rest import KLINE_MS, amount_text, price_text, qty_text
from casebook.systems.binance.spot import VENUE, exchange

MAX_STREAMS = 50
QUEUE_SIZE = 512
MAX_FRAME = 16 * 1024
_STREAM = re.compile(r"^([a-z0-9]{1,20})@(trade|depth|depth@100ms|kline_(1m|5m|1h|1d))$")
_POLICY_VIOLATION = 1008


class StreamError(ValueError):
    pass


def parse_stream(venue: Venue, name: str) -> tuple[Instrument, str]:
    """(instrument, kind) of a stream name; StreamError when malformed or unknown."""
    found = _STREAM.match(name)
    if found is None:
        raise StreamError(f"Invalid stream name: {name!r}.")
    symbol = found.group(1).upper()
    # O(pairs): a venue lists a handful; the venue's own index is private.
    instrument = next((i for i in venue.listed.values() if i.symbol == symbol), None)
    if instrument is None:
        raise StreamError(f"Unknown symbol in stream {name!r}.")
    kind = found.group(2)
    return instrument, "depth" if kind.startswith("depth") else kind


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


def trade_payloads(instrument: Instrument, message: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "e": "trade",
            "E": _now_ms(),
            "s": instrument.symbol,
            "t": trade_seq,
            "p": price_text(instrument, price),
            "q": qty_text(instrument, qty),
            "T": ts // 1_000_000,
            "m": taker_side == Side.SELL,
            "M": True,
        }
        for trade_seq, price, qty, taker_side, ts in message["trades"]
    ]


def depth_payload(instrument: Instrument, message: dict[str, Any]) -> dict[str, Any] | None:
    if message["snapshot"]:
        return None
    return {
        "e": "depthUpdate",
        "E": _now_ms(),
        "s": instrument.symbol,
        "U": message["prev_seq"] + 1,
        "u": message["seq"],
        "b": [[price_text(instrument, p), qty_text(instrument, q)] for p, q in message["bids"]],
        "a": [[price_text(instrument, p), qty_text(instrument, q)] for p, q in message["asks"]],
    }


def kline_payloads(
    instrument: Instrument, message: dict[str, Any], interval: str
) -> list[dict[str, Any]]:
    out = []
    now = _now_ms()
    for bar in message["klines"].get(interval, ()):
        (_, bucket, o, h, low, c, volume, quote_volume, count, first, last) = bar
        start = bucket // 1_000_000
        end = start + KLINE_MS[interval] - 1
        out.append(
            {
                "e": "kline",
                "E": now,
                "s": instrument.symbol,
                "k": {
                    "t": start,
                    "T": end,
                    "s": instrument.symbol,
                    "i": interval,
                    "f": first,
                    "L": last,
                    "o": price_text(instrument, o),
                    "c": price_text(instrument, c),
                    "h": price_text(instrument, h),
                    "l": price_text(instrument, low),
                    "v": qty_text(instrument, volume),
                    "n": count,
                    "x": now > end,
                    "q": amount_text(quote_volume),
                    "V": "0",
                    "Q": "0",
                    "B": "0",
                },
            }
        )
    return out


@dataclass
class _Socket:
    platform: Platform
    websocket: WebSocket
    venue: Venue
    streams: dict[str, tuple[Instrument, str]] = field(default_factory=dict)
    pumps: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    queue: asyncio.Queue[str | None] = field(default_factory=lambda: asyncio.Queue(QUEUE_SIZE))

    def offer(self, frame: str | None) -> None:
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            for pump in self.pumps.values():
                pump.cancel()
            self.queue = asyncio.Queue(1)
            self.queue.put_nowait(None)

    async def _pump(self, instrument: Instrument, ready: asyncio.Event) -> None:
        name = md_live.channel(VENUE, instrument.id)
        async with self.platform.bus.subscribe(name) as messages:
            ready.set()
            async for raw in messages:
                self.relay(instrument, orjson.loads(raw))

    def relay(self, instrument: Instrument, message: dict[str, Any]) -> None:
        """Turn one bus message into the frames of the streams watching its instrument."""
        for name, (watched, kind) in list(self.streams.items()):
            if watched.id != instrument.id:
                continue
            payloads: list[dict[str, Any]]
            if kind == "trade":
                payloads = trade_payloads(instrument, message)
            elif kind == "depth":
                depth = depth_payload(instrument, message)
                payloads = [] if depth is None else [depth]
            else:
                payloads = kline_payloads(instrument, message, kind.removeprefix("kline_"))
            for payload in payloads:
                self.offer(orjson.dumps({"stream": name, "data": payload}).decode())

    async def watch(self, names: list[str]) -> None:
        """Add streams (all or none: StreamError changes nothing); waits until each new
        instrument's bus subscription is live, so no message published after this returns is
        missed."""
        parsed = {name: parse_stream(self.venue, name) for name in names}
        if len(set(self.streams) | set(parsed)) > MAX_STREAMS:
            raise StreamError(f"At most {MAX_STREAMS} streams per connection.")
        self.streams.update(parsed)
        waits = []
        for instrument, _ in parsed.values():
            if instrument.id not in self.pumps:
                ready = asyncio.Event()
                self.pumps[instrument.id] = asyncio.create_task(self._pump(instrument, ready))
                waits.append(ready.wait())
        if waits:
            await asyncio.wait_for(asyncio.gather(*waits), 5.0)

    def unwatch(self, names: list[str]) -> None:
        for name in names:
            self.streams.pop(name, None)
        still = {instrument.id for instrument, _ in self.streams.values()}
        for instrument_id in [i for i in self.pumps if i not in still]:
            self.pumps.pop(instrument_id).cancel()

    async def requests(self) -> None:
        """Read the client's requests until it leaves."""
        while True:
            raw = await self.websocket.receive_text()
            if len(raw) > MAX_FRAME:
                await self.websocket.close(code=1009)
                return
            self.offer(await self.answer(raw))

    async def answer(self, raw: str) -> str:
        request_id: Any = None
        try:
            request = orjson.loads(raw)
            if not isinstance(request, dict):
                raise StreamError("A request is a JSON object.")
            request_id = request.get("id")
            method = request.get("method")
            params = request.get("params", [])
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                raise StreamError("params is a list of stream names.")
            if method == "SUBSCRIBE":
                await self.watch(params)
                result: Any = None
            elif method == "UNSUBSCRIBE":
                self.unwatch(params)
                result = None
            elif method == "LIST_SUBSCRIPTIONS":
                result = sorted(self.streams)
            else:
                raise StreamError("method is SUBSCRIBE, UNSUBSCRIBE or LIST_SUBSCRIPTIONS.")
        except (StreamError, orjson.JSONDecodeError) as error:
            return orjson.dumps(
                {"error": {"code": 2, "msg": str(error)}, "id": request_id}
            ).decode()
        return orjson.dumps({"result": result, "id": request_id}).decode()

    async def send(self) -> None:
        while True:
            frame = await self.queue.get()
            if frame is None:
                await self.websocket.close(code=_POLICY_VIOLATION, reason="too slow")
                return
            await self.websocket.send_text(frame)

    async def close(self) -> None:
        for pump in self.pumps.values():
            pump.cancel()
        for pump in self.pumps.values():
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await pump


router = APIRouter()


@router.websocket("/stream")
async def combined_stream(websocket: WebSocket) -> None:
    """Combined market streams (see the module docstring). Anonymous, like Binance's."""
    platform: Platform = websocket.app.state.platform
    socket = _Socket(platform, websocket, exchange(platform))
    names = [n for n in websocket.query_params.get("streams", "").split("/") if n]
    try:
        await socket.watch(names)
    except StreamError as error:
        await socket.close()
        await websocket.close(code=_POLICY_VIOLATION, reason=str(error)[:120])
        return
    await websocket.accept()
    reader = asyncio.create_task(socket.requests())
    sender = asyncio.create_task(socket.send())
    try:
        await asyncio.wait({reader, sender}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (reader, sender):
            task.cancel()
        for task in (reader, sender):
            with contextlib.suppress(asyncio.CancelledError, WebSocketDisconnect, Exception):
                await task
        await socket.close()
