"""Binance-shaped combined streams at /ws/binance/stream through a real uvicorn server: trades,
depth diffs that chain from the REST snapshot's lastUpdateId, klines, live SUBSCRIBE /
UNSUBSCRIBE / LIST_SUBSCRIPTIONS, and refusals."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from tests.servers import serve_in_loop
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "market-streams")
V3 = "/api/binance/api/v3"
WAIT = 5.0


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def order(client: httpx.AsyncClient, user: User, **body: object) -> dict[str, Any]:
    _, content, headers = user.signed(body={"symbol": "BTCUSDT", **body})
    answer = await client.post(f"{V3}/order", content=content, headers=headers)
    assert answer.status_code == 200, answer.text
    result: dict[str, Any] = answer.json()
    return result


async def frame(socket: ClientConnection) -> dict[str, Any]:
    received: dict[str, Any] = orjson.loads(await asyncio.wait_for(socket.recv(), WAIT))
    return received


async def test_trade_depth_and_kline_frames(
    app: FastAPI, client: httpx.AsyncClient, platform: Platform
) -> None:
    maker = await new_user(client, platform)
    taker = await new_user(client, platform)
    await fund(platform, maker, "BTC", "1")
    await fund(platform, taker, "USDT", "10000")
    await order(client, maker, side="SELL", type="LIMIT", timeInForce="GTC",
                quantity="0.01", price="60000.00")  # fmt: skip
    snapshot = (await client.get(f"{V3}/depth", params={"symbol": "BTCUSDT"})).json()
    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://") + "/ws/binance/stream"
        streams = "btcusdt@trade/btcusdt@depth/btcusdt@kline_1m"
        async with ws_connect(f"{url}?streams={streams}") as socket:
            await order(client, taker, side="BUY", type="LIMIT", timeInForce="GTC",
                        quantity="0.004", price="60000.00")  # fmt: skip
            got = {}
            for _ in range(3):
                received = await frame(socket)
                got[received["stream"]] = received["data"]
            trade = got["btcusdt@trade"]
            assert (trade["e"], trade["s"], trade["p"], trade["q"], trade["m"]) == (
                "trade", "BTCUSDT", "60000.00000000", "0.00400000", False
            )  # fmt: skip
            depth = got["btcusdt@depth"]
            assert depth["e"] == "depthUpdate" and depth["U"] == snapshot["lastUpdateId"] + 1
            assert depth["a"] == [["60000.00000000", "0.00600000"]] and depth["b"] == []
            kline = got["btcusdt@kline_1m"]["k"]
            assert (kline["i"], kline["o"], kline["c"], kline["v"], kline["n"]) == (
                "1m", "60000.00000000", "60000.00000000", "0.00400000", 1
            )  # fmt: skip

            await socket.send(orjson.dumps({"method": "UNSUBSCRIBE",
                                            "params": ["btcusdt@kline_1m", "btcusdt@trade"],
                                            "id": 7}).decode())  # fmt: skip
            assert await frame(socket) == {"result": None, "id": 7}
            await socket.send('{"method": "LIST_SUBSCRIPTIONS", "id": 8}')
            assert await frame(socket) == {"result": ["btcusdt@depth"], "id": 8}
            await socket.send('{"method": "SUBSCRIBE", "params": ["dogeusdt@trade"], "id": 9}')
            refused = await frame(socket)
            assert refused["id"] == 9 and refused["error"]["code"] == 2
            await order(client, taker, side="BUY", type="LIMIT", timeInForce="GTC",
                        quantity="0.001", price="60000.00")  # fmt: skip
            following = await frame(socket)
            assert following["stream"] == "btcusdt@depth"
            assert following["data"]["U"] == depth["u"] + 1
            assert following["data"]["a"] == [["60000.00000000", "0.00500000"]]


async def test_an_unknown_stream_refuses_the_handshake(app: FastAPI) -> None:
    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://") + "/ws/binance/stream?streams=dogeusdt@trade"
        with pytest.raises(InvalidStatus):
            async with ws_connect(url):
                pass
        bad = base.replace("http://", "ws://") + "/ws/binance/stream?streams=btcusdt@kline_3m"
        with pytest.raises(InvalidStatus):
            async with ws_connect(bad):
                pass


async def test_the_page_has_book_tape_chart_and_its_own_script(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    page = await client.get("/binance/")
    assert page.status_code == 200
    for marker in ('id="bn-depth"', 'id="bn-tape"', '<canvas id="bn-chart"', "/login?next="):
        assert marker in page.text
    assert "cdn" not in page.text.lower()
    user = await new_user(client, platform, key=False)
    signed_in = await client.get("/binance/", headers=user.headers)
    assert 'id="bn-order"' in signed_in.text and 'id="bn-wallet"' in signed_in.text
    script = await client.get("/binance/static/binance.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/ws/binance/stream" in script.text and 'getContext("2d")' in script.text
    assert (await client.get("/binance/static/other.js")).status_code == 404
