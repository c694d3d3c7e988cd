"""The live market-data WebSocket (md_live) through a real uvicorn server: depth snapshot + diffs
that rebuild `MarketData.l2` exactly over random batches of a real OrderBook (also for a socket
that joins mid-stream and after a lost bus message), trades, quotes and kline bars, unsubscribe,
bad frames answered with error frames on an open socket, stream limits, oversized frames, slow
consumers closed with 4429, and delivery from another process's bus connection (Redis run)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import ConnectionClosed

from casebook.engines.matching import candles, md_live
from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.marketdata import ALL_LEVELS, MarketData, Scale
from casebook.engines.matching.md_api import InstrumentInfo
from casebook.engines.matching.types import PLACE, TRADE, SelfTrade, Side, TimeInForce
from casebook.platform.context import Platform
from casebook.platform.errors import NotFound
from tests.engines.matching.test_marketdata_book import random_command
from tests.servers import serve_in_loop

VENUE = "md-live-test"
AAPL = InstrumentInfo(instrument_id=11, symbol="AAPL", npl=1, scale=Scale(1, 1, 1, 100))
MSFT = InstrumentInfo(instrument_id=12, symbol="MSFT", npl=1, scale=Scale(1, 1, 1, 100))
WAIT = 5.0
MINUTE = candles.MINUTE
T0 = 1_700_000_000 * 10**9 // MINUTE * MINUTE  # a minute boundary


class Market:
    """The venue's instruments in this test: market data and a real book per instrument."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self.md = {i.instrument_id: MarketData(VENUE, i.instrument_id) for i in (AAPL, MSFT)}
        self.books = {i.instrument_id: OrderBook(i.instrument_id) for i in (AAPL, MSFT)}
        self.next_id = 1

    async def run(self, info: InstrumentInfo, commands: list[tuple[Any, ...]]) -> list[Any]:
        """Apply one batch to the book and market data, then publish it; the events."""
        events: list[tuple[Any, ...]] = []
        for command in commands:
            self.books[info.instrument_id].apply(command, events)
        md = self.md[info.instrument_id]
        await md_live.publish(self.platform, md, md.apply(events), npl=info.npl)
        return events

    def order(self, side: Side, price: int, qty: int, ts: int, account: int = 1) -> tuple[Any, ...]:
        self.next_id += 1
        return (PLACE, self.next_id, account, side, price, qty, TimeInForce.GTC, 0,
                SelfTrade.NONE, ts)  # fmt: skip


@pytest.fixture
def market(app: FastAPI, platform: Platform) -> Market:
    market = Market(platform)
    by_symbol = {AAPL.symbol: AAPL, MSFT.symbol: MSFT}

    async def instruments(platform: Platform, session: AsyncSession, symbol: str) -> InstrumentInfo:
        if symbol not in by_symbol:
            raise NotFound(f"No instrument {symbol} on {VENUE}.")
        return by_symbol[symbol]

    def marketdata(platform: Platform, instrument_id: int) -> MarketData:
        return market.md[instrument_id]

    lookups: dict[str, Any] = {"instruments": instruments, "marketdata": marketdata}
    app.include_router(md_live.router(VENUE, **lookups), prefix=f"/ws/{VENUE}/market")
    app.include_router(md_live.router(VENUE, **lookups, queue_size=2), prefix=f"/ws/{VENUE}/slow")
    app.include_router(md_live.router(VENUE, **lookups, max_streams=3), prefix=f"/ws/{VENUE}/few")
    return market


@pytest.fixture
async def ws_base(app: FastAPI, market: Market) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + f"/ws/{VENUE}"


async def recv(socket: ClientConnection) -> dict[str, Any]:
    frame: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
    return frame


async def send(socket: ClientConnection, frame: dict[str, Any]) -> None:
    await socket.send(orjson.dumps(frame).decode())


@asynccontextmanager
async def subscribed(url: str, *streams: str) -> AsyncIterator[ClientConnection]:
    async with ws_connect(url) as socket:
        await send(socket, {"op": "subscribe", "streams": list(streams), "id": 7})
        reply = await recv(socket)
        names = sorted(f"{s.split('@')[0].upper()}@{s.split('@')[1]}" for s in streams)
        assert reply == {"op": "subscribed", "streams": names, "id": 7}
        yield socket


class DepthClient:
    """What a client does with the depth stream: a snapshot, then updates chained by seq."""

    def __init__(self) -> None:
        self.seq: int | None = None
        self.sides: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
        self.snapshots = 0
        self.first_seq: int | None = None

    def take(self, frame: dict[str, Any]) -> None:
        if frame["type"] == "snapshot":
            self.snapshots += 1
            if self.first_seq is None:
                self.first_seq = frame["seq"]
            self.sides = {side: {p: q for p, q in frame[side]} for side in ("bids", "asks")}
        else:
            assert frame["type"] == "update"
            assert frame["prev_seq"] == self.seq, "an update that does not chain"
            for side in ("bids", "asks"):
                for price, qty in frame[side]:
                    if qty:
                        self.sides[side][price] = qty
                    else:
                        self.sides[side].pop(price, None)
        self.seq = frame["seq"]

    def depth(self) -> dict[str, list[list[int]]]:
        return {
            "bids": sorted(([p, q] for p, q in self.sides["bids"].items()), reverse=True),
            "asks": sorted([p, q] for p, q in self.sides["asks"].items()),
        }

    async def follow(self, socket: ClientConnection, md: MarketData) -> None:
        """Read depth frames until this client is at md's seq."""
        while self.seq != md.seq:
            frame = await recv(socket)
            assert frame["stream"] == "AAPL@depth"
            self.take(frame)


def l2(md: MarketData) -> dict[str, list[list[int]]]:
    depth = md.l2(ALL_LEVELS)
    return {side: [[p, q] for p, q, _ in depth[side]] for side in ("bids", "asks")}


async def random_batches(
    market: Market, rng: random.Random, count: int, live: list[int], pause: float = 0
) -> None:
    for batch_no in range(count):
        commands = []
        for _ in range(rng.randint(1, 5)):
            command = random_command(rng, T0 + batch_no, live, market.next_id)
            if command[0] == PLACE:
                live.append(market.next_id)
                market.next_id += 1
            commands.append(command)
        await market.run(AAPL, commands)
        if batch_no % 8 == 7:
            # Bursts of batches between pauses: sockets subscribe while updates are queued.
            await asyncio.sleep(pause)


@pytest.mark.feature("stock-exchange", "market-data")
async def test_snapshot_then_diffs_rebuild_the_depth_for_early_and_late_subscribers(
    ws_base: str, market: Market
) -> None:
    rng, live = random.Random(61), list[int]()
    md = market.md[AAPL.instrument_id]
    await random_batches(market, rng, 40, live)
    early, late = DepthClient(), DepthClient()
    async with subscribed(f"{ws_base}/market", "AAPL@depth") as first:
        publishing = asyncio.create_task(random_batches(market, rng, 300, live, 0.001))
        await asyncio.sleep(0.02)
        # The second socket subscribes while batches are being published.
        async with subscribed(f"{ws_base}/market", "aapl@depth") as second:
            await publishing
            await early.follow(first, md)
            await late.follow(second, md)
    assert md.seq > 200
    assert early.first_seq is not None and late.first_seq is not None
    assert early.first_seq < late.first_seq < md.seq  # the late socket joined mid-stream
    assert early.depth() == late.depth() == l2(md)
    assert (early.snapshots, late.snapshots) == (1, 1)
    assert early.depth()["bids"] and early.depth()["asks"]


async def test_a_lost_bus_message_is_answered_with_a_fresh_snapshot(
    ws_base: str, market: Market
) -> None:
    md = market.md[AAPL.instrument_id]
    client = DepthClient()
    async with subscribed(f"{ws_base}/market", "AAPL@depth") as socket:
        await market.run(AAPL, [market.order(Side.BUY, 100, 5, T0)])
        await client.follow(socket, md)
        # A batch whose bus message was lost: applied, never published.
        lost: list[tuple[Any, ...]] = []
        market.books[AAPL.instrument_id].apply(market.order(Side.BUY, 99, 3, T0), lost)
        assert md.apply(lost) is not None
        await market.run(AAPL, [market.order(Side.SELL, 105, 2, T0)])
        frame = await recv(socket)
        assert frame["type"] == "snapshot" and frame["seq"] == md.seq
        client.take(frame)
    assert client.depth() == l2(md) == {"bids": [[100, 5], [99, 3]], "asks": [[105, 2]]}


async def test_trades_quotes_and_klines_stream_with_decimal_texts(
    ws_base: str, market: Market, platform: Platform
) -> None:
    streams = ("AAPL@trade", "AAPL@quote", "AAPL@kline_1m", "AAPL@kline_1h")
    await market.run(AAPL, [market.order(Side.SELL, 18955, 10, T0, account=2)])
    async with subscribed(f"{ws_base}/market", *streams) as socket:
        quote = await recv(socket)
        assert quote["stream"] == "AAPL@quote" and quote["seq"] == 1
        assert (quote["ask_price"], quote["ask_price_text"], quote["bid_price"]) == (
            18955,
            "189.55",
            None,
        )
        # Two trades in minute 0 (one batch), one in minute 1.
        first = await market.run(
            AAPL,
            [market.order(Side.BUY, 18955, 3, T0 + 1), market.order(Side.BUY, 18955, 2, T0 + 2)],
        )
        second = await market.run(AAPL, [market.order(Side.BUY, 18960, 1, T0 + MINUTE + 5)])
        frames = [await recv(socket) for _ in range(8)]
    by_stream: dict[str, list[dict[str, Any]]] = {}
    for frame in frames:
        by_stream.setdefault(frame["stream"], []).append(frame)
    trades = [t for f in by_stream["AAPL@trade"] for t in f["trades"]]
    assert [(t["trade_seq"], t["price_text"], t["qty"], t["taker_side"]) for t in trades] == [
        (1, "189.55", 3, "buy"),
        (2, "189.55", 2, "buy"),
        (3, "189.55", 1, "buy"),
    ]
    assert [q["ask_qty"] for q in by_stream["AAPL@quote"]] == [5, 4]
    assert by_stream["AAPL@quote"][-1]["last_price_text"] == "189.55"
    all_trades = [e for e in (*first, *second) if e[0] == TRADE]
    expected = candles.aggregate(all_trades, npl=1)
    minute_bars = [f["kline"] for f in by_stream["AAPL@kline_1m"]]
    assert [(b["open_time"], b["volume"], b["trade_count"]) for b in minute_bars] == [
        (T0, 5, 2),
        (T0 + MINUTE, 1, 1),
    ]
    hour = by_stream["AAPL@kline_1h"]
    # The hour bar is the whole bar so far: both batches merged, as the candle table has it.
    assert hour[-1]["kline"] == expected[("1h", candles.bucket_start(T0, "1h"))].as_dict(AAPL.scale)
    assert hour[-1]["seq"] == market.md[AAPL.instrument_id].seq


async def test_a_kline_starts_from_the_stored_bar_of_this_bucket(
    ws_base: str, market: Market, platform: Platform
) -> None:
    """A publisher that did not see the bar's earlier trades (a restart) reads it once."""
    await market.run(AAPL, [market.order(Side.SELL, 500, 10, T0, account=2)])
    earlier: list[tuple[Any, ...]] = []
    market.books[AAPL.instrument_id].apply(market.order(Side.BUY, 500, 4, T0 + 1), earlier)
    market.md[AAPL.instrument_id].apply(earlier)
    later: list[tuple[Any, ...]] = []
    market.books[AAPL.instrument_id].apply(market.order(Side.BUY, 500, 1, T0 + 2), later)
    async with platform.db.session(write=True) as session:
        # What the writer does inside each batch's transaction.
        await candles.record(session, VENUE, AAPL.instrument_id, 1, earlier + later)
    async with subscribed(f"{ws_base}/market", "AAPL@kline_1m") as socket:
        md = market.md[AAPL.instrument_id]
        await md_live.publish(platform, md, md.apply(later), npl=1)
        bar = (await recv(socket))["kline"]
    assert (bar["open_time"], bar["volume"], bar["trade_count"]) == (T0, 5, 2)


async def test_unsubscribe_stops_a_stream_and_keeps_the_others(
    ws_base: str, market: Market
) -> None:
    await market.run(AAPL, [market.order(Side.SELL, 100, 9, T0, account=2)])
    async with subscribed(f"{ws_base}/market", "AAPL@depth", "AAPL@trade") as socket:
        assert (await recv(socket))["type"] == "snapshot"
        await send(socket, {"op": "unsubscribe", "streams": ["AAPL@depth", "MSFT@quote"]})
        reply = await recv(socket)
        assert reply == {"op": "unsubscribed", "streams": ["AAPL@depth", "MSFT@quote"]}
        await market.run(AAPL, [market.order(Side.BUY, 100, 1, T0)])
        frame = await recv(socket)  # no depth update before it
        assert frame["stream"] == "AAPL@trade" and frame["trades"][0]["qty"] == 1
        await send(socket, {"op": "unsubscribe", "streams": ["AAPL@trade"]})
        assert (await recv(socket))["op"] == "unsubscribed"
        await market.run(AAPL, [market.order(Side.BUY, 100, 1, T0)])
        await send(socket, {"op": "ping"})
        assert await recv(socket) == {"op": "pong"}
    assert not md_live._hub(market.platform, VENUE).channels  # the bus subscription is gone


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    ws_base: str, market: Market
) -> None:
    bad: list[tuple[Any, str]] = [
        ("not json", "matching/invalid-frame"),
        ({"op": "dance"}, "matching/invalid-frame"),
        ({"op": "subscribe", "streams": "AAPL@trade"}, "matching/invalid-frame"),
        ({"op": "subscribe", "streams": []}, "matching/invalid-frame"),
        ({"op": "subscribe", "streams": ["AAPL@trade"] * 51}, "matching/invalid-frame"),
        ({"op": "subscribe", "streams": ["AAPL@candles"], "id": "x"}, "matching/unknown-stream"),
        ({"op": "subscribe", "streams": ["AAPL@trade", "ZZZ@trade"]}, "not-found"),
    ]
    async with ws_connect(f"{ws_base}/market") as socket:
        for frame, problem_type in bad:
            await socket.send(frame if isinstance(frame, str) else orjson.dumps(frame).decode())
            answer = await recv(socket)
            assert answer["op"] == "error", frame
            assert answer["problem"]["type"].endswith(problem_type), answer
            assert 400 <= answer["problem"]["status"] < 500
        assert answer["problem"]["status"] == 404
        # Nothing was subscribed by the refused frames (AAPL@trade came with an unknown symbol).
        await market.run(AAPL, [market.order(Side.SELL, 100, 1, T0, account=2)])
        await market.run(AAPL, [market.order(Side.BUY, 100, 1, T0)])
        await send(socket, {"op": "subscribe", "streams": ["MSFT@trade"], "id": 1})
        assert await recv(socket) == {"op": "subscribed", "streams": ["MSFT@trade"], "id": 1}
        await send(socket, {"op": "ping"})
        assert await recv(socket) == {"op": "pong"}


async def test_stream_limit_and_frame_size(ws_base: str, market: Market) -> None:
    async with subscribed(f"{ws_base}/few", "AAPL@trade", "AAPL@quote") as socket:
        assert (await recv(socket))["stream"] == "AAPL@quote"
        await send(socket, {"op": "subscribe", "streams": ["MSFT@trade", "MSFT@depth"]})
        refused = await recv(socket)
        assert refused["problem"]["type"].endswith("matching/too-many-streams")
        await send(socket, {"op": "subscribe", "streams": ["AAPL@trade", "MSFT@trade"]})
        assert (await recv(socket))["op"] == "subscribed"  # AAPL@trade was already held
        await socket.send("x" * (md_live.MAX_FRAME + 1))
        with pytest.raises(ConnectionClosed):
            await recv(socket)
        assert socket.close_code == md_live.CloseCode.TOO_BIG


async def test_a_consumer_that_falls_behind_is_closed_with_4429(
    ws_base: str, market: Market, platform: Platform
) -> None:
    name = md_live.channel(VENUE, AAPL.instrument_id)
    recorded: list[bytes] = []
    async with platform.bus.subscribe(name) as messages:
        for price in range(100, 120):
            await market.run(AAPL, [market.order(Side.BUY, price, 1, T0)])
        while len(recorded) < 20:
            recorded.append(await asyncio.wait_for(messages.__anext__(), WAIT))
    async with subscribed(f"{ws_base}/slow", "AAPL@depth") as socket:
        # A burst faster than the socket's queue of 2 drains.
        await platform.bus.publish_many([(name, raw) for raw in recorded])
        with pytest.raises(ConnectionClosed):
            while True:
                await recv(socket)
        assert socket.close_code == md_live.CloseCode.TOO_SLOW
        assert socket.close_reason is not None and "too slow" in socket.close_reason


PlatformFactory = Callable[[], Awaitable[Platform]]


async def test_updates_published_by_another_process_reach_the_socket(
    ws_base: str, market: Market, platform: Platform
) -> None:
    if platform.redis is None:
        pytest.skip("the embedded bus is in-process; the Redis run proves cross-process delivery")
    other = Platform.start(platform.settings)  # another process's own Redis connections
    try:
        msft = MarketData(VENUE, MSFT.instrument_id)
        book = OrderBook(MSFT.instrument_id)
        async with subscribed(f"{ws_base}/market", "MSFT@trade", "AAPL@trade") as socket:
            for publisher, md, own_book, info in (
                (other, msft, book, MSFT),
                (platform, market.md[AAPL.instrument_id], market.books[AAPL.instrument_id], AAPL),
            ):
                events: list[tuple[Any, ...]] = []
                own_book.apply(market.order(Side.SELL, 700, 3, T0, account=2), events)
                own_book.apply(market.order(Side.BUY, 700, 2, T0 + 1), events)
                await md_live.publish(publisher, md, md.apply(events), npl=1)
                frame = await recv(socket)
                assert frame["stream"] == f"{info.symbol}@trade"
                assert [t["qty"] for t in frame["trades"]] == [2]
    finally:
        await other.close()
