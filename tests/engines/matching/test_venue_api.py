"""The venue's REST: a signed-in user trades through their own account and sees only their rows."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import mount
from casebook.engines.matching.venue import Venue
from casebook.platform.auth.deps import Principal
from casebook.platform.ids import new_id
from tests.engines.matching.conftest import VENUE, list_stock

PREFIX = "/api/test-venue"


@pytest.fixture
async def http(app: FastAPI, venue: Venue, client: httpx.AsyncClient) -> httpx.AsyncClient:
    async def account_for(session: AsyncSession, principal: Principal) -> int:
        return await venue.open_account(session, f"user:{principal.user_id}", principal.user_id)

    app.include_router(mount.api_router(VENUE, account_for), prefix=PREFIX)
    return client


async def sign_in(client: httpx.AsyncClient, email: str) -> tuple[dict[str, str], int]:
    password = "correct horse battery staple"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "T"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}, int(registered.json()["id"])


async def deposit(venue: Venue, user_id: int, **assets: int) -> None:
    async with venue.platform.db.session(write=True) as session:
        account = await venue.open_account(session, f"user:{user_id}", user_id)
        for asset, amount in assets.items():
            await venue.credit(session, account, asset, amount, new_id(), "test deposit")


async def test_trading_through_the_api(http: httpx.AsyncClient, venue: Venue) -> None:
    await list_stock(venue, "AAPL")
    alice, alice_id = await sign_in(http, "alice@example.com")
    bob, bob_id = await sign_in(http, "bob@example.com")
    await deposit(venue, alice_id, USD=10_000)
    await deposit(venue, bob_id, AAPL=10)

    listed = await http.get(f"{PREFIX}/instruments")
    assert [i["symbol"] for i in listed.json()["items"]] == ["AAPL"]
    ask = await http.post(
        f"{PREFIX}/orders",
        json={"symbol": "AAPL", "side": "sell", "qty": 4, "price": 150},
        headers=bob,
    )
    assert ask.status_code == 201, ask.text
    bid = await http.post(
        f"{PREFIX}/orders",
        json={"symbol": "aapl", "side": "buy", "qty": 6, "price": 151, "client_order_id": "x1"},
        headers={**alice, "Idempotency-Key": "k-1"},
    )
    assert bid.status_code == 201, bid.text
    assert (bid.json()["status"], bid.json()["filled_qty"]) == ("partially_filled", 4)
    again = await http.post(
        f"{PREFIX}/orders",
        json={"symbol": "aapl", "side": "buy", "qty": 6, "price": 151, "client_order_id": "x1"},
        headers={**alice, "Idempotency-Key": "k-1"},
    )
    assert again.json()["id"] == bid.json()["id"]  # replayed, not placed twice
    order_id = bid.json()["id"]

    moved = await http.patch(f"{PREFIX}/orders/{order_id}", json={"qty": 1}, headers=alice)
    assert moved.status_code == 200 and moved.json()["open_qty"] == 1
    balances = (await http.get(f"{PREFIX}/balances", headers=alice)).json()["items"]
    assert balances == [
        {"asset": "AAPL", "total": 4, "locked": 0, "available": 4},
        {"asset": "USD", "total": 9_400, "locked": 151, "available": 9_249},
    ]
    mine = (await http.get(f"{PREFIX}/orders?open=true", headers=alice)).json()
    assert [o["id"] for o in mine["items"]] == [order_id]
    fills = (await http.get(f"{PREFIX}/trades", headers=bob)).json()["items"]
    assert [(f["side"], f["qty"], f["price"]) for f in fills] == [("sell", 4, 150)]
    quote = (await http.get(f"{PREFIX}/instruments/AAPL/quote")).json()
    assert quote["bid_price"] == 151 and quote["last_price"] == 150

    # Bob can neither read, change nor cancel Alice's order.
    assert (await http.get(f"{PREFIX}/orders/{order_id}", headers=bob)).status_code == 404
    assert (await http.delete(f"{PREFIX}/orders/{order_id}", headers=bob)).status_code == 404
    patched = await http.patch(f"{PREFIX}/orders/{order_id}", json={"qty": 9}, headers=bob)
    assert patched.status_code == 404
    assert (await http.get(f"{PREFIX}/orders", headers=bob)).json()["items"][0]["side"] == "sell"

    cancelled = await http.delete(f"{PREFIX}/orders/{order_id}", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    again_cancel = await http.delete(f"{PREFIX}/orders/{order_id}", headers=alice)
    assert again_cancel.status_code == 409
    assert again_cancel.headers["content-type"].startswith("application/problem+json")


async def test_bad_requests_are_problems_and_change_nothing(
    http: httpx.AsyncClient, venue: Venue
) -> None:
    await list_stock(venue, "AAPL")
    alice, alice_id = await sign_in(http, "alice@example.com")
    await deposit(venue, alice_id, USD=100)
    cases = [
        ({"symbol": "AAPL", "side": "buy", "qty": 0, "price": 10}, 422),
        ({"symbol": "AAPL", "side": "hold", "qty": 1, "price": 10}, 422),
        ({"symbol": "AAPL", "side": "buy", "qty": 1}, 422),
        ({"symbol": "AAPL", "side": "buy", "type": "market", "qty": 1, "price": 5}, 422),
        ({"symbol": "MSFT", "side": "buy", "qty": 1, "price": 10}, 404),
        ({"symbol": "AAPL", "side": "buy", "qty": 2, "price": 51}, 409),
        ({"symbol": "AAPL", "side": "sell", "qty": 1, "price": 51}, 409),
    ]
    for body, status in cases:
        response = await http.post(f"{PREFIX}/orders", json=body, headers=alice)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (await http.post(f"{PREFIX}/orders", json=cases[0][0])).status_code == 401
    assert (await http.get(f"{PREFIX}/orders", headers=alice)).json()["items"] == []
    balances = (await http.get(f"{PREFIX}/balances", headers=alice)).json()["items"]
    assert balances == [{"asset": "USD", "total": 100, "locked": 0, "available": 100}]
