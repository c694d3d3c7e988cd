"""The Binance spot REST subset at /api/binance/api/v3: HMAC signing, the timestamp window, API
key management, error codes in Binance's shape, the order lifecycle, reads limited to the
caller's own orders, and request weights with 429."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

V3 = "/api/binance/api/v3"
pytestmark = pytest.mark.feature("binance", "signed-api")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def call(
    client: httpx.AsyncClient,
    user: User,
    method: str,
    path: str,
    query: Mapping[str, object] | None = None,
    body: Mapping[str, object] | None = None,
) -> httpx.Response:
    query_string, body_string, headers = user.signed(query, body)
    return await client.request(
        method, f"{V3}{path}?{query_string}", content=body_string or None, headers=headers
    )


def error(response: httpx.Response) -> tuple[int, int]:
    body: dict[str, Any] = response.json()
    assert set(body) == {"code", "msg"}, body
    return response.status_code, body["code"]


async def test_signing_errors_have_binance_codes_and_change_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform)
    await fund(platform, user, "USDT", "100")
    order = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.001",
        "price": "30000.00",
    }
    ok = await call(client, user, "GET", "/account")
    assert ok.status_code == 200, ok.text
    # No key, a malformed key, an unknown key.
    assert error(await client.get(f"{V3}/account?timestamp=1&signature=ab")) == (401, -2014)
    stranger = User(0, 0, {}, api_key="A" * 64, secret="x")
    assert error(await call(client, stranger, "GET", "/account")) == (401, -2015)
    # A wrong secret: the signature does not match.
    forged = User(0, 0, {}, api_key=user.api_key, secret="not-the-secret")
    assert error(await call(client, forged, "POST", "/order", body=order)) == (400, -1022)
    # A body altered after signing.
    _, b, h = user.signed(body=order)
    tampered = b.replace("0.001", "0.002")
    answer = await client.post(f"{V3}/order", content=tampered, headers=h)
    assert error(answer) == (400, -1022)
    # Old and future timestamps; recvWindow too large; timestamp missing.
    now = int(time.time() * 1000)
    old = await call(client, user, "GET", "/account", {"timestamp": now - 6000})
    assert error(old) == (400, -1021)
    wide = await call(
        client, user, "GET", "/account", {"timestamp": now - 6000, "recvWindow": 10000}
    )
    assert wide.status_code == 200
    ahead = await call(client, user, "GET", "/account", {"timestamp": now + 5000})
    assert error(ahead) == (400, -1021)
    too_wide = await call(client, user, "GET", "/account", {"recvWindow": 70000})
    assert error(too_wide) == (400, -1131)
    unsigned = await client.get(f"{V3}/account", headers={"X-MBX-APIKEY": user.api_key})
    assert error(unsigned) == (400, -1102)
    # Nothing was placed by any of these.
    assert (await call(client, user, "GET", "/openOrders")).json() == []


async def test_parameter_errors(client: httpx.AsyncClient, platform: Platform) -> None:
    user = await new_user(client, platform)
    await fund(platform, user, "USDT", "100")
    base = {
        "symbol": "BTCUSDT",
        "side": "BUY",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.001",
        "price": "30000.00",
    }
    cases: list[tuple[dict[str, object], int]] = [
        ({**base, "symbol": "DOGEUSDT"}, -1121),
        ({k: v for k, v in base.items() if k != "quantity"}, -1102),
        ({k: v for k, v in base.items() if k != "timeInForce"}, -1102),
        ({**base, "price": "30000.001"}, -1013),
        ({**base, "quantity": "0.0000001"}, -1013),
        ({**base, "quantity": "0.0001"}, -1013),  # 3 USDT < MIN_NOTIONAL 5
        ({**base, "price": "abc"}, -1100),
        ({**base, "type": "STOP_LOSS"}, -1116),
        ({**base, "side": "HOLD"}, -1117),
        ({**base, "bogus": "1"}, -1104),
        ({**base, "quantity": "1"}, -2010),  # 30,000 USDT: more than the wallet holds
    ]
    for body, code in cases:
        answer = await call(client, user, "POST", "/order", body=body)
        assert error(answer)[1] == code, (body, answer.text)
    duplicated = await client.get(f"{V3}/depth?symbol=BTCUSDT&symbol=ETHUSDT")
    assert error(duplicated) == (400, -1101)
    assert error(await client.get(f"{V3}/klines?symbol=BTCUSDT&interval=3m")) == (400, -1120)
    account = (await call(client, user, "GET", "/account")).json()
    assert {b["asset"]: b["locked"] for b in account["balances"]}["USDT"] == "0.00000000"


@pytest.mark.feature("binance", "order-management")
async def test_order_lifecycle_and_isolation(client: httpx.AsyncClient, platform: Platform) -> None:
    buyer = await new_user(client, platform)
    seller = await new_user(client, platform)
    await fund(platform, buyer, "USDT", "1000")
    await fund(platform, seller, "BTC", "0.1")
    ask = await call(
        client,
        seller,
        "POST",
        "/order",
        body={
            "symbol": "BTCUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.01",
            "price": "50000.00",
            "newClientOrderId": "my-ask-1",
        },
    )
    assert ask.status_code == 200, ask.text
    placed = ask.json()
    assert placed["status"] == "NEW" and placed["fills"] == []
    assert placed["origQty"] == "0.01000000" and placed["price"] == "50000.00000000"
    bid = await call(
        client,
        buyer,
        "POST",
        "/order",
        body={
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "IOC",
            "quantity": "0.004",
            "price": "50010.00",
        },
    )
    taken = bid.json()
    assert taken["status"] == "FILLED", taken
    assert taken["cummulativeQuoteQty"] == "200.00000000"
    assert taken["fills"] == [
        {
            "price": "50000.00000000",
            "qty": "0.00400000",
            "commission": "0.20000000",
            "commissionAsset": "USDT",
            "tradeId": 1,
        }
    ]
    maker_only = await call(client, buyer, "POST", "/order", body={
        "symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT_MAKER",
        "quantity": "0.001", "price": "50000.00"})  # fmt: skip
    assert error(maker_only) == (400, -2010) and "immediately match" in maker_only.text
    by_client = await call(
        client, seller, "GET", "/order", {"symbol": "BTCUSDT", "origClientOrderId": "my-ask-1"}
    )
    assert by_client.json()["status"] == "PARTIALLY_FILLED"
    assert by_client.json()["executedQty"] == "0.00400000"
    # The buyer cannot see or cancel the seller's order.
    peek = await call(
        client, buyer, "GET", "/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert error(peek) == (400, -2013)
    steal = await call(
        client, buyer, "DELETE", "/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert error(steal) == (400, -2011)
    opened = (await call(client, seller, "GET", "/openOrders", {"symbol": "BTCUSDT"})).json()
    assert [o["orderId"] for o in opened] == [placed["orderId"]]
    cancelled = await call(
        client, seller, "DELETE", "/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert cancelled.json()["status"] == "CANCELED", cancelled.text
    again = await call(
        client, seller, "DELETE", "/order", {"symbol": "BTCUSDT", "orderId": placed["orderId"]}
    )
    assert error(again) == (400, -2011)
    everything = (await call(client, seller, "GET", "/allOrders", {"symbol": "BTCUSDT"})).json()
    assert [o["status"] for o in everything] == ["CANCELED"]
    trades = (await call(client, buyer, "GET", "/myTrades", {"symbol": "BTCUSDT"})).json()
    assert [(t["isBuyer"], t["isMaker"], t["qty"]) for t in trades] == [(True, False, "0.00400000")]
    seller_trades = (await call(client, seller, "GET", "/myTrades", {"symbol": "BTCUSDT"})).json()
    assert [(t["isBuyer"], t["isMaker"], t["commission"]) for t in seller_trades] == [
        (False, True, "0.20000000")
    ]
    account = (await call(client, seller, "GET", "/account")).json()
    balances = {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}
    assert balances["BTC"] == ("0.09600000", "0.00000000")
    assert balances["USDT"] == ("199.80000000", "0.00000000")
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("binance", "market-data")
async def test_public_market_data(client: httpx.AsyncClient, platform: Platform) -> None:
    maker = await new_user(client, platform)
    taker = await new_user(client, platform)
    await fund(platform, maker, "ETH", "10")
    await fund(platform, taker, "USDT", "10000")
    for price in ("3000.00", "3001.50"):
        placed = await call(
            client,
            maker,
            "POST",
            "/order",
            body={
                "symbol": "ETHUSDT",
                "side": "SELL",
                "type": "LIMIT",
                "timeInForce": "GTC",
                "quantity": "1",
                "price": price,
            },
        )
        assert placed.status_code == 200, placed.text
    bought = await call(
        client,
        taker,
        "POST",
        "/order",
        body={"symbol": "ETHUSDT", "side": "BUY", "type": "MARKET", "quantity": "0.5"},
    )
    assert bought.json()["status"] == "FILLED", bought.text
    depth = (await client.get(f"{V3}/depth", params={"symbol": "ETHUSDT", "limit": 5})).json()
    assert depth["asks"] == [["3000.00000000", "0.50000000"], ["3001.50000000", "1.00000000"]]
    assert depth["bids"] == [] and depth["lastUpdateId"] > 0
    trades = (await client.get(f"{V3}/trades", params={"symbol": "ETHUSDT"})).json()
    assert [(t["price"], t["qty"], t["isBuyerMaker"]) for t in trades] == [
        ("3000.00000000", "0.50000000", False)
    ]
    price = (await client.get(f"{V3}/ticker/price", params={"symbol": "ETHUSDT"})).json()
    assert price == {"symbol": "ETHUSDT", "price": "3000.00000000"}
    ticker = (await client.get(f"{V3}/ticker/24hr", params={"symbol": "ETHUSDT"})).json()
    assert ticker["lastPrice"] == "3000.00000000" and ticker["volume"] == "0.50000000"
    assert ticker["quoteVolume"] == "1500.00000000" and ticker["count"] == 1
    klines = (
        await client.get(f"{V3}/klines", params={"symbol": "ETHUSDT", "interval": "1m"})
    ).json()
    assert len(klines) == 1 and klines[0][1:6] == [
        "3000.00000000",
        "3000.00000000",
        "3000.00000000",
        "3000.00000000",
        "0.50000000",
    ]
    info = (await client.get(f"{V3}/exchangeInfo", params={"symbol": "ETHUSDT"})).json()
    filters = {f["filterType"]: f for f in info["symbols"][0]["filters"]}
    assert filters["PRICE_FILTER"]["tickSize"] == "0.01000000"
    assert filters["LOT_SIZE"]["stepSize"] == "0.00010000"
    assert filters["MIN_NOTIONAL"]["minNotional"] == "5.00000000"
    assert (await client.get(f"{V3}/ping")).json() == {}
    server = (await client.get(f"{V3}/time")).json()["serverTime"]
    assert abs(server - time.time() * 1000) < 5000


async def test_weights_are_counted_and_over_budget_is_429(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await client.get(f"{V3}/exchangeInfo")
    assert first.headers["X-MBX-USED-WEIGHT-1M"] == "20"
    # depth with limit 5000 weighs 250: the 6,000 budget takes 23 more of them, then 429.
    statuses = []
    for _ in range(24):
        answer = await client.get(f"{V3}/depth", params={"symbol": "BTCUSDT", "limit": 5000})
        statuses.append(answer.status_code)
    assert statuses[:23] == [200] * 23 and statuses[23] == 429
    assert error(answer) == (429, -1003)
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.headers["X-MBX-USED-WEIGHT-1M"] == "6000"


@pytest.mark.feature("binance", "user-accounts")
async def test_api_keys_belong_to_their_owner(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    owner = await new_user(client, platform)
    other = await new_user(client, platform, key=False)
    listed = (await client.get("/api/binance/api-keys", headers=owner.headers)).json()
    assert [k["apiKey"] for k in listed] == [owner.api_key]
    assert "secretKey" not in listed[0]
    assert (await client.get("/api/binance/api-keys", headers=other.headers)).json() == []
    key_id = listed[0]["id"]
    stolen = await client.delete(f"/api/binance/api-keys/{key_id}", headers=other.headers)
    assert stolen.status_code == 404
    assert (await call(client, owner, "GET", "/account")).status_code == 200
    revoked = await client.delete(f"/api/binance/api-keys/{key_id}", headers=owner.headers)
    assert revoked.status_code == 204
    assert error(await call(client, owner, "GET", "/account")) == (401, -2015)
    read_only = await client.post(
        "/api/binance/api-keys", json={"label": "ro", "can_trade": False}, headers=owner.headers
    )
    owner.api_key, owner.secret = read_only.json()["apiKey"], read_only.json()["secretKey"]
    assert (await call(client, owner, "GET", "/account")).status_code == 200
    refused = await call(
        client,
        owner,
        "POST",
        "/order",
        body={
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "0.001",
            "price": "30000.00",
        },
    )
    assert error(refused) == (401, -2015)
    assert (await client.get("/api/binance/api-keys")).status_code == 401
