"""Live quotes on the Robinhood page: the page's script follows the exchange's market-data
WebSocket (no polling), and a Robinhood customer's trade on the book reaches a subscriber of
the streams the page subscribes to (`<symbol>@quote`, `<symbol>@trade`)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import ClientConnection, connect

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.robinhood import brokerage
from casebook.systems.robinhood.books import MICRO
from casebook.systems.robinhood.brokerage import OrderRequest
from tests.servers import serve_in_loop
from tests.systems.robinhood.conftest import aapl, customer, market_maker, rest


async def frame(socket: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(5):
        data: dict[str, Any] = orjson.loads(await socket.recv(decode=True))
    return data


@pytest.mark.feature("robinhood", "quotes")
async def test_the_page_script_follows_the_market_socket_instead_of_polling(
    client: httpx.AsyncClient,
) -> None:
    script = (await client.get("/robinhood/static/robinhood.js")).text
    assert "/ws/stock-exchange/market" in script
    assert "@quote" in script and "@trade" in script
    assert "setInterval" not in script
    page = await client.get("/robinhood/")
    assert 'id="rh-live"' in page.text


@pytest.mark.feature("robinhood", "quotes")
async def test_a_customer_trade_reaches_a_subscriber_of_the_page_streams(
    app: FastAPI, platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15_000)
    alice = await customer(platform, 100_000)
    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://") + "/ws/stock-exchange/market"
        async with connect(url, open_timeout=5) as socket:
            streams = ["AAPL@quote", "AAPL@trade"]
            await socket.send(orjson.dumps({"op": "subscribe", "id": 1, "streams": streams}))
            first = [await frame(socket) for _ in range(2)]
            assert {f.get("op") or f.get("type") for f in first} == {"subscribed", "quote"}
            quote = next(f for f in first if f.get("type") == "quote")
            assert (quote["ask_price_text"], quote["ask_qty"]) == ("150.00", 10)

            order = await brokerage.place(
                platform, alice, OrderRequest("AAPL", "buy", micro_shares=MICRO)
            )
            assert order.status == "filled"
            seen: dict[str, dict[str, Any]] = {}
            while len(seen) < 2:
                update = await frame(socket)
                seen[update["type"]] = update
    trade = seen["trade"]["trades"][0]
    assert (trade["price"], trade["qty"], trade["taker_side"]) == (15_000, 1, "buy")
    assert seen["quote"]["last_price_text"] == "150.00"
    assert seen["quote"]["ask_qty"] == 9
