"""The exchange page and its own script; the market-data socket is mounted."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from fastapi import FastAPI
from websockets.asyncio.client import connect

from tests.servers import serve_in_loop
from tests.systems.stock_exchange.conftest import Member, list_aapl, seed_register, verified

PAGE = "/stock-exchange/"


@pytest.mark.feature("stock-exchange", "market-data")
async def test_page_has_ladder_tape_chart_and_its_own_script(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get(PAGE)
    assert page.status_code == 200
    html = page.text
    for marker in ('id="sx-depth"', 'id="sx-tape"', '<canvas id="sx-chart"', "/login?next="):
        assert marker in html
    assert "cdn" not in html.lower()
    script = await client.get("/stock-exchange/static/exchange.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/ws/stock-exchange/market" in script.text and 'getContext("2d")' in script.text
    missing = await client.get("/stock-exchange/static/../api.py")
    assert missing.status_code == 404
    assert (await client.get("/stock-exchange/static/other.js")).status_code == 404


async def test_signed_in_trader_gets_the_order_form(client: httpx.AsyncClient) -> None:
    member = await seed_register(client)
    page = await client.get(PAGE, headers=member.headers)
    assert 'id="sx-order"' in page.text and 'data-signed-in="yes"' in page.text


@pytest.mark.feature("stock-exchange", "market-data")
async def test_the_market_socket_serves_a_depth_snapshot(
    client: httpx.AsyncClient, app: FastAPI, officer: Member
) -> None:
    await list_aapl(client, officer)
    seller = await verified(client, officer, AAPL=10)
    placed = await client.post(
        "/api/stock-exchange/orders",
        json={"symbol": "AAPL", "side": "sell", "quantity": 7, "price": "151.25"},
        headers=seller.headers,
    )
    assert placed.status_code == 201
    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://") + "/ws/stock-exchange/market"
        async with connect(url, open_timeout=5) as socket:
            await socket.send(orjson.dumps({"op": "subscribe", "id": 1, "streams": ["AAPL@depth"]}))
            frames = [orjson.loads(await socket.recv(decode=True)) for _ in range(2)]
            by_op = {f.get("op") or f.get("type"): f for f in frames}
            assert by_op["subscribed"]["streams"] == ["AAPL@depth"]
            assert by_op["snapshot"]["asks"] == [[15_125, 7]]
            # A new order is streamed as a diff chained to the snapshot.
            more = await client.post(
                "/api/stock-exchange/orders",
                json={"symbol": "AAPL", "side": "sell", "quantity": 2, "price": "151.30"},
                headers=seller.headers,
            )
            assert more.status_code == 201
            async with asyncio.timeout(5):
                update = orjson.loads(await socket.recv(decode=True))
    assert update["type"] == "update"
    assert update["prev_seq"] == by_op["snapshot"]["seq"]
    assert update["asks"] == [[15_130, 2]]
