"""The seed's own API (seed-004 §2 "API Design") on the Binance venue: register and log in,
list pairs with prices, place and cancel orders in decimal amounts, balances and trades."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import spot
from tests.systems.binance.spot_support import User, binance_app, fund

API = "/api/binance"


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def seed_user(client: httpx.AsyncClient, platform: Platform) -> User:
    email, password = f"s-{secrets.token_hex(4)}@example.com", secrets.token_urlsafe(12)
    created = await client.post(f"{API}/users", json={"username": email, "password": password})
    assert created.status_code == 201, created.text
    login = await client.post(f"{API}/login", json={"username": email, "password": password})
    assert login.status_code == 200, login.text
    user_id = int(created.json()["user_id"])
    async with platform.db.session() as session:
        account_id = await spot.existing_account(session, user_id)
    assert account_id is not None
    return User(user_id, account_id, {"Authorization": f"Bearer {login.json()['access_token']}"})


@pytest.mark.feature("binance", "user-accounts")
async def test_register_and_login_through_the_seed_endpoints(client: httpx.AsyncClient) -> None:
    email = f"s-{secrets.token_hex(4)}@example.com"
    body = {"username": email, "password": "correct-horse-1"}
    assert (await client.post(f"{API}/users", json=body)).status_code == 201
    assert (await client.post(f"{API}/users", json=body)).status_code == 409
    wrong = await client.post(f"{API}/login", json={**body, "password": "wrong-horse-1"})
    assert wrong.status_code == 401
    assert (await client.post(f"{API}/login", json={"username": email})).status_code == 422


@pytest.mark.feature("binance", "trade-history")
@pytest.mark.feature("binance", "trading-pairs")
async def test_orders_balances_and_trades_in_decimals(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    buyer, seller = await seed_user(client, platform), await seed_user(client, platform)
    await fund(platform, buyer, "USDT", "2000")
    await fund(platform, seller, "BTC", "0.5")
    ask = await client.post(
        f"{API}/trading/orders",
        json={"symbol": "BTC/USDT", "side": "sell", "price": "40000", "quantity": "0.5"},
        headers=seller.headers,
    )
    assert ask.status_code == 201, ask.text
    assert ask.json()["status"] == "open" and ask.json()["price"] == "40000.00000000"
    bid = await client.post(
        f"{API}/trading/orders",
        json={"symbol": "BTC/USDT", "side": "buy", "type": "market", "quantity": "0.02"},
        headers=buyer.headers,
    )
    assert bid.json()["status"] == "filled", bid.text
    pairs = (await client.get(f"{API}/trading/pairs")).json()
    assert {"symbol": "BTC/USDT", "price": "40000.00000000"} in pairs
    assert {"symbol": "ETH/USDT", "price": None} in pairs
    balance = (await client.get(f"{API}/account/balance", headers=buyer.headers)).json()
    # 0.02 BTC at 40,000 = 800 USDT + 0.8 fee (10 bps).
    assert balance == {"BTC": "0.02000000", "USDT": "1199.20000000"}
    trades = (await client.get(f"{API}/account/trades", headers=buyer.headers)).json()
    assert [(t["symbol"], t["side"], t["price"], t["quantity"]) for t in trades] == [
        ("BTC/USDT", "buy", "40000.00000000", "0.02000000")
    ]
    assert (await client.get(f"{API}/account/trades", headers=seller.headers)).json()[0][
        "side"
    ] == "sell"
    order_id = ask.json()["order_id"]
    stolen = await client.delete(f"{API}/trading/orders/{order_id}", headers=buyer.headers)
    assert stolen.status_code == 404
    cancelled = await client.delete(f"{API}/trading/orders/{order_id}", headers=seller.headers)
    assert cancelled.status_code == 204
    again = await client.delete(f"{API}/trading/orders/{order_id}", headers=seller.headers)
    assert again.status_code == 409
    seller_balance = (await client.get(f"{API}/account/balance", headers=seller.headers)).json()
    assert seller_balance == {"BTC": "0.48000000", "USDT": "799.20000000"}


@pytest.mark.feature("binance", "spot-trading")
async def test_bad_orders_are_422_and_change_nothing(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await seed_user(client, platform)
    await fund(platform, user, "USDT", "100")
    bad = [
        {"symbol": "BTC/USDT", "side": "buy", "price": "40000.001", "quantity": "0.001"},
        {"symbol": "BTC/USDT", "side": "buy", "price": "40000", "quantity": "0.000001"},
        {"symbol": "BTC/USDT", "side": "buy", "quantity": "0.001"},
        {"symbol": "BTC/USDT", "side": "buy", "price": 40000, "quantity": "0.001"},
        {"symbol": "BTC/USDT", "side": "hold", "price": "40000", "quantity": "0.001"},
    ]
    for body in bad:
        answer = await client.post(f"{API}/trading/orders", json=body, headers=user.headers)
        assert answer.status_code == 422, (body, answer.text)
    unknown = await client.post(
        f"{API}/trading/orders",
        json={"symbol": "DOGE/USDT", "side": "buy", "price": "1", "quantity": "1"},
        headers=user.headers,
    )
    assert unknown.status_code == 404
    poor = await client.post(
        f"{API}/trading/orders",
        json={"symbol": "BTC/USDT", "side": "buy", "price": "40000", "quantity": "1"},
        headers=user.headers,
    )
    assert poor.status_code == 409
    assert (await client.get(f"{API}/account/balance", headers=user.headers)).json() == {
        "USDT": "100.00000000"
    }
    assert (await client.post(f"{API}/trading/orders", json=bad[0])).status_code == 401
