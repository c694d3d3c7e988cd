"""KiteTicker: our binary packets parse with the official client's own parser in every mode, and
the official `KiteTicker` (Twisted, in its thread) connected to a served app receives a tick for a
trade; bad frames and tokens are refused without closing the socket, a bad access token at the
handshake."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from kiteconnect import KiteTicker
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.zerodha import oms
from casebook.systems.zerodha.kite import kite_origin
from casebook.systems.zerodha.kite_tokens import token_of
from casebook.systems.zerodha.ticker import Tick, frame
from tests.servers import serve_in_loop
from tests.systems.zerodha.conftest import onboarded
from tests.systems.zerodha.test_kite import kite_session
from tests.systems.zerodha.test_oms import order, zclient

pytestmark = pytest.mark.feature("zerodha", "market-data")


def test_packets_parse_with_the_official_parser_in_every_mode() -> None:
    tick = Tick(
        token=(3 << 8) | 1,
        last_price=410_025,
        last_qty=3,
        last_trade_s=1_700_000_000,
        day=[400_000, 411_000, 399_500, 120],
        day_value=120 * 405_000,
        prev_close=398_000,
        depth=([[410_000, 5, 1], [409_500, 7, 2]], [[410_050, 4, 1]]),
    )
    parsed = KiteTicker("key", "token")._parse_binary(
        frame([tick.packet("ltp"), tick.packet("quote"), tick.packet("full")])
    )
    ltp, quote, full = parsed
    assert ltp == {
        "tradable": True,
        "mode": "ltp",
        "instrument_token": 769,
        "last_price": 4100.25,
    }
    assert quote["mode"] == "quote" and quote["last_traded_quantity"] == 3
    assert quote["average_traded_price"] == 4050.0 and quote["volume_traded"] == 120
    assert (quote["total_buy_quantity"], quote["total_sell_quantity"]) == (12, 4)
    assert quote["ohlc"] == {"open": 4000.0, "high": 4110.0, "low": 3995.0, "close": 3980.0}
    assert round(quote["change"], 4) == round((4100.25 - 3980) * 100 / 3980, 4)
    assert full["mode"] == "full"
    assert full["depth"]["buy"][:2] == [
        {"quantity": 5, "price": 4100.0, "orders": 1},
        {"quantity": 7, "price": 4095.0, "orders": 2},
    ]
    assert full["depth"]["sell"][0] == {"quantity": 4, "price": 4100.5, "orders": 1}
    assert full["depth"]["sell"][1] == {"quantity": 0, "price": 0.0, "orders": 0}
    assert len(full["depth"]["buy"]) == len(full["depth"]["sell"]) == 5
    assert KiteTicker("key", "token")._parse_binary(b"\x00") == []  # a heartbeat


@pytest.fixture
async def served(app: FastAPI, zerodha: Venue) -> AsyncIterator[tuple[str, str]]:
    """(the app's base URL, the Kite API origin's)."""
    async with serve_in_loop(app) as base, serve_in_loop(kite_origin(app)) as kite_root:
        yield base, kite_root


async def test_the_official_ticker_receives_a_tick_for_a_trade(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, served: tuple[str, str]
) -> None:
    me = await onboarded(client, zerodha, platform)
    base, kite_root = served
    kite = await kite_session(client, me, kite_root)
    infy = await zerodha.instrument(None, "INFY")  # type: ignore[arg-type]
    token = token_of(zerodha, infy.id)
    ticks: list[dict[str, Any]] = []
    connected = threading.Event()
    ticker = KiteTicker(
        kite.api_key, kite.access_token, root=base.replace("http", "ws") + "/ws/zerodha"
    )

    def on_connect(ws: KiteTicker, response: Any) -> None:
        ws.subscribe([token])
        ws.set_mode(ws.MODE_FULL, [token])
        connected.set()

    full_seen, trade_seen = threading.Event(), threading.Event()

    def on_ticks(ws: KiteTicker, batch: list[dict[str, Any]]) -> None:
        ticks.extend(batch)
        if any(t["mode"] == "full" for t in batch):
            full_seen.set()
        if any(t.get("last_price") == 1870.5 for t in batch):
            trade_seen.set()

    ticker.on_connect = on_connect
    ticker.on_ticks = on_ticks
    ticker.connect(threaded=True)
    try:
        assert await asyncio.to_thread(connected.wait, 5)
        assert await asyncio.to_thread(full_seen.wait, 5)
        seller = await onboarded(client, zerodha, platform, shares={"INFY": 2})
        buyer = await onboarded(client, zerodha, platform, cash=1_000_000)
        await oms.place(
            platform, zerodha, await zclient(platform, seller), order("sell", 2, 187_050)
        )
        await oms.place(platform, zerodha, await zclient(platform, buyer), order("buy", 2, 187_050))
        assert await asyncio.to_thread(trade_seen.wait, 5)
    finally:
        ticker.close()
    traded = next(t for t in ticks if t.get("last_price") == 1870.5)
    assert traded["instrument_token"] == token and traded["last_traded_quantity"] == 2
    assert traded["mode"] == "full" and traded["volume_traded"] >= 2


async def test_bad_frames_and_tokens_are_answered_and_a_bad_session_is_refused(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, served: tuple[str, str]
) -> None:
    me = await onboarded(client, zerodha, platform)
    base, kite_root = served
    kite = await kite_session(client, me, kite_root)
    url = base.replace("http", "ws") + "/ws/zerodha"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{url}?api_key={kite.api_key}&access_token=forged"):
            pass
    assert refused.value.response.status_code == 403
    infy = await zerodha.instrument(None, "INFY")  # type: ignore[arg-type]
    async with connect(f"{url}?api_key={kite.api_key}&access_token={kite.access_token}") as ws:

        async def next_text() -> dict[str, Any]:
            while True:
                message = await asyncio.wait_for(ws.recv(), 3)
                if isinstance(message, str):
                    return dict(orjson.loads(message))

        for bad in (
            "not json",
            '{"a": "dance", "v": []}',
            '{"a": "subscribe", "v": [999]}',
            '{"a": "mode", "v": ["loud", [769]]}',
        ):
            await ws.send(bad)
            answer = await next_text()
            assert answer["type"] == "error", bad
        await ws.send(orjson.dumps({"a": "subscribe", "v": [token_of(zerodha, infy.id)]}).decode())
        while True:
            message = await asyncio.wait_for(ws.recv(), 3)
            if isinstance(message, bytes) and len(message) > 2:
                break
        parsed = KiteTicker("k", "t")._parse_binary(message)
        assert parsed[0]["mode"] == "quote"
        assert parsed[0]["instrument_token"] == token_of(zerodha, infy.id)
