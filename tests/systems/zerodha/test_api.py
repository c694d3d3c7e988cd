"""Zerodha's own REST (the seed's order and portfolio endpoints) and its page: orders in paise,
holdings vs positions, contract notes, rate limits, isolation between clients."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from tests.systems.zerodha.conftest import API, onboarded
from tests.systems.zerodha.test_oms import charged


async def place(
    client: httpx.AsyncClient, headers: dict[str, str], **body: object
) -> httpx.Response:
    return await client.post(f"{API}/orders", json=body, headers=headers)


@pytest.mark.feature("zerodha", "portfolio")
async def test_delivery_buys_become_holdings_and_intraday_trades_stay_positions(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    seller = await onboarded(client, zerodha, platform, cash=1_000_000, shares={"RELIANCE": 20})
    me = await onboarded(client, zerodha, platform, cash=10_000_000)
    for qty, product in ((4, "MIS"), (6, "CNC")):
        ask = await place(
            client,
            seller.headers,
            symbol="RELIANCE",
            side="sell",
            quantity=qty,
            product="CNC",
            price=295_000,
        )
        assert ask.status_code == 201, ask.text
        bid = await place(
            client,
            me.headers,
            symbol="RELIANCE",
            side="buy",
            quantity=qty,
            product=product,
            order_type="MARKET",
        )
        assert bid.status_code == 201, bid.text
        assert bid.json()["status"] == "COMPLETE" and bid.json()["average_price"] == 295_000
    await charged(platform, int(bid.json()["order_id"]))
    portfolio = (await client.get(f"{API}/portfolio", headers=me.headers)).json()
    positions = {p["product"]: p for p in portfolio["positions"]}
    assert positions["MIS"]["quantity"] == 4 and positions["CNC"]["quantity"] == 6
    assert positions["MIS"]["buy_value"] == 4 * 295_000
    [holding] = portfolio["holdings"]
    # The intraday 4 are not held; the delivery 6 bought today wait as T1.
    assert (holding["symbol"], holding["quantity"], holding["t1_quantity"]) == ("RELIANCE", 0, 6)
    assert holding["average_price"] == 295_000
    notes = (await client.get(f"{API}/charges", headers=me.headers)).json()
    assert {n["product"]: n["brokerage"] for n in notes} == {"CNC": 0, "MIS": 354}
    orders = (await client.get(f"{API}/orders", headers=me.headers)).json()
    assert [o["status"] for o in orders] == ["COMPLETE", "COMPLETE"]


@pytest.mark.feature("zerodha", "order-placement")
async def test_orders_are_the_callers_own_and_bad_ones_change_nothing(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform, cash=1_000_000)
    other = await onboarded(client, zerodha, platform, cash=1_000_000)
    placed = await place(
        client, me.headers, symbol="HDFCBANK", side="buy", quantity=1, price=160_000
    )
    assert placed.status_code == 201 and placed.json()["status"] == "OPEN"
    order_id = placed.json()["order_id"]
    assert (await client.get(f"{API}/orders/{order_id}", headers=other.headers)).status_code == 404
    assert (
        await client.delete(f"{API}/orders/{order_id}", headers=other.headers)
    ).status_code == 404
    for bad in (
        {"symbol": "HDFCBANK", "side": "buy", "quantity": 0, "price": 100},
        {"symbol": "HDFCBANK", "side": "hold", "quantity": 1, "price": 100},
        {"symbol": "HDFCBANK", "side": "buy", "quantity": 1},  # a limit order without a price
        {"symbol": "HDFCBANK", "side": "buy", "quantity": 1, "order_type": "MARKET", "price": 1},
    ):
        refused = await place(client, me.headers, **bad)
        assert refused.status_code == 422, bad
    unknown = await place(client, me.headers, symbol="NOPE", side="buy", quantity=1, price=100)
    assert unknown.status_code == 404
    orders = (await client.get(f"{API}/orders", headers=me.headers)).json()
    assert [o["order_id"] for o in orders] == [order_id]
    cancelled = await client.delete(f"{API}/orders/{order_id}", headers=me.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "CANCELLED"
    funds = (await client.get(f"{API}/funds", headers=me.headers)).json()
    assert funds == {"total": 1_000_000, "blocked": 0, "available": 1_000_000, "currency": "INR"}
    anonymous = await client.get(f"{API}/orders")
    assert anonymous.status_code == 401


@pytest.mark.feature("zerodha", "algo-trading")
async def test_order_requests_are_rate_limited_per_client(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    me = await onboarded(client, zerodha, platform)
    answers = await asyncio.gather(
        *(
            place(client, me.headers, symbol="NOPE", side="buy", quantity=1, price=100)
            for _ in range(14)
        )
    )
    codes = sorted(a.status_code for a in answers)
    assert 429 in codes and codes.count(404) >= 10
    limited = next(a for a in answers if a.status_code == 429)
    assert int(limited.headers["retry-after"]) >= 1


@pytest.mark.feature("zerodha", "charts")
async def test_the_page_has_watchlist_chart_order_window_and_its_own_script(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    page = await client.get("/zerodha/")
    assert page.status_code == 200
    for marker in ('id="zk-watchlist"', '<canvas id="zk-chart"', "/login?next=/zerodha/"):
        assert marker in page.text
    assert "cdn" not in page.text.lower()
    me = await onboarded(client, zerodha, platform)
    signed = await client.get("/zerodha/", headers=me.headers)
    for marker in (
        'id="zk-order"',
        'id="zk-positions"',
        'id="zk-holdings"',
        'data-signed-in="yes"',
    ):
        assert marker in signed.text
    script = await client.get("/zerodha/static/kite.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "/ws/stock-exchange/market" in script.text and 'getContext("2d")' in script.text
    assert (await client.get("/zerodha/static/other.js")).status_code == 404
    listings = (await client.get(f"{API}/instruments")).json()
    assert {"RELIANCE", "INFY", "TCS", "HDFCBANK"} <= {i["symbol"] for i in listings}
