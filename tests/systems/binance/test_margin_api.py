"""The margin REST (`/api/binance/margin/*`): a whole session of transfer, borrow, a margin
order on the spot book, repay and transfer out; Idempotency-Key on borrows; problem+json for bad
input; and isolation between users."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.matching.types import Side
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from tests.systems.binance.margin_support import books_balance, limit, venue_account
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "margin-trading")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def _funded(client: httpx.AsyncClient, platform: Platform, usdt: str) -> User:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", usdt)
    moved = await client.post(
        "/api/binance/margin/transfer",
        json={"asset": "USDT", "amount": usdt, "direction": "to_margin"},
        headers=user.headers,
    )
    assert moved.status_code == 200, moved.text
    return user


def _asset(view: dict[str, object], asset: str) -> dict[str, str]:
    rows = view["assets"]
    assert isinstance(rows, list)
    return next(row for row in rows if row["asset"] == asset)


async def test_transfer_borrow_trade_repay_and_transfer_out(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    maker = await venue_account(platform, "test:maker", {"BTC": "1"})
    await limit(platform, maker, Side.SELL, 60_000, 1_000)
    user = await new_user(client, platform, key=False)
    empty = await client.get("/api/binance/margin/account", headers=user.headers)
    assert empty.status_code == 200 and empty.json()["status"] == "none"
    await fund(platform, user, "USDT", "500")
    moved = await client.post(
        "/api/binance/margin/transfer",
        json={"asset": "USDT", "amount": "500", "direction": "to_margin"},
        headers=user.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["max_borrowable"]["USDT"] == "500.00000000"
    borrowed = await client.post(
        "/api/binance/margin/borrow",
        json={"asset": "USDT", "amount": "400"},
        headers={**user.headers, "Idempotency-Key": "borrow-1"},
    )
    assert borrowed.status_code == 200, borrowed.text
    again = await client.post(
        "/api/binance/margin/borrow",
        json={"asset": "USDT", "amount": "400"},
        headers={**user.headers, "Idempotency-Key": "borrow-1"},
    )
    assert again.json() == borrowed.json()
    account = borrowed.json()
    assert _asset(account, "USDT")["borrowed"] == "400.00000000"
    assert account["level"] == "2.2500"
    order = await client.post(
        "/api/binance/margin/orders",
        json={"symbol": "BTCUSDT", "side": "buy", "price": 6_000_000, "qty": 1_000},
        headers=user.headers,
    )
    assert order.status_code == 201, order.text
    assert order.json()["status"] == "filled"
    listed = await client.get("/api/binance/margin/orders", headers=user.headers)
    assert [o["id"] for o in listed.json()["items"]] == [order.json()["id"]]
    spot_orders = await client.get("/api/binance/venue/orders", headers=user.headers)
    assert spot_orders.json()["items"] == []
    after = (await client.get("/api/binance/margin/account", headers=user.headers)).json()
    assert _asset(after, "BTC")["free"] == "0.01000000"
    repaid = await client.post(
        "/api/binance/margin/repay",
        json={"asset": "USDT", "amount": "250"},
        headers=user.headers,
    )
    assert repaid.status_code == 200, repaid.text
    assert repaid.json()["repaid"] == {"interest": "0.00000000", "principal": "250.00000000"}
    out = await client.post(
        "/api/binance/margin/transfer",
        json={"asset": "BTC", "amount": "0.01", "direction": "to_spot"},
        headers=user.headers,
    )
    assert out.status_code == 409
    assert out.json()["type"].endswith("binance/margin-level-too-low")
    small = await client.post(
        "/api/binance/margin/transfer",
        json={"asset": "USDT", "amount": "1", "direction": "to_spot"},
        headers=user.headers,
    )
    assert small.status_code == 200, small.text
    await books_balance(platform)


@pytest.mark.parametrize(
    ("path", "body", "status", "kind"),
    [
        ("/borrow", {"asset": "USDT", "amount": "0.000000001"}, 422, None),
        ("/borrow", {"asset": "USDT", "amount": "-5"}, 422, None),
        ("/borrow", {"asset": "USDT", "amount": "0"}, 422, "invalid-input"),
        ("/borrow", {"asset": "DOGE", "amount": "1"}, 422, "binance/unknown-asset"),
        ("/borrow", {"asset": "USDT", "amount": "1", "extra": 1}, 422, None),
        ("/borrow", {"asset": "USDT", "amount": "101"}, 409, "binance/margin-level-too-low"),
        ("/repay", {"asset": "USDT", "amount": "1"}, 422, "binance/repay-exceeds-debt"),
        (
            "/transfer",
            {"asset": "USDT", "amount": "101", "direction": "to_spot"},
            409,
            "ledger/exceeds-credits",
        ),
        ("/transfer", {"asset": "USDT", "amount": "1", "direction": "sideways"}, 422, None),
    ],
)
async def test_bad_requests_are_problems_and_change_nothing(
    client: httpx.AsyncClient,
    platform: Platform,
    path: str,
    body: dict[str, object],
    status: int,
    kind: str | None,
) -> None:
    user = await _funded(client, platform, "100")
    before = (await client.get("/api/binance/margin/account", headers=user.headers)).json()
    answer = await client.post("/api/binance/margin" + path, json=body, headers=user.headers)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    if kind is not None:
        assert answer.json()["type"].endswith(kind)
    after = (await client.get("/api/binance/margin/account", headers=user.headers)).json()
    assert after == before


async def test_margin_routes_need_a_session_and_see_only_the_callers_account(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    assert (await client.get("/api/binance/margin/account")).status_code == 401
    anonymous = await client.post(
        "/api/binance/margin/borrow", json={"asset": "USDT", "amount": "1"}
    )
    assert anonymous.status_code == 401
    alice = await _funded(client, platform, "100")
    bob = await new_user(client, platform, key=False)
    await client.post(
        "/api/binance/margin/borrow", json={"asset": "USDT", "amount": "50"}, headers=alice.headers
    )
    resting = await client.post(
        "/api/binance/margin/orders",
        json={"symbol": "BTCUSDT", "side": "buy", "price": 100_000, "qty": 10},
        headers=alice.headers,
    )
    assert resting.status_code == 201, resting.text
    order_id = resting.json()["id"]
    seen = (await client.get("/api/binance/margin/account", headers=bob.headers)).json()
    assert seen["status"] == "none" and seen["assets"] == []
    assert (
        await client.get(f"/api/binance/margin/orders/{order_id}", headers=bob.headers)
    ).status_code == 404
    assert (
        await client.delete(f"/api/binance/margin/orders/{order_id}", headers=bob.headers)
    ).status_code == 404
    assert (await client.get("/api/binance/margin/orders", headers=bob.headers)).json()[
        "items"
    ] == []
    repay = await client.post(
        "/api/binance/margin/repay", json={"asset": "USDT", "amount": "1"}, headers=bob.headers
    )
    # Listing opened bob's (empty) margin account; he owes nothing, and alice's loan is untouched.
    assert repay.status_code == 422 and repay.json()["type"].endswith("repay-exceeds-debt")
    mine = (await client.get("/api/binance/margin/account", headers=alice.headers)).json()
    assert _asset(mine, "USDT")["borrowed"] == "50.00000000"
    cancelled = await client.delete(f"/api/binance/margin/orders/{order_id}", headers=alice.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    await books_balance(platform)


async def test_the_margin_page_shows_the_forms_to_a_signed_in_user_and_serves_its_script(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    anonymous = await client.get("/binance/margin")
    assert anonymous.status_code == 200
    assert "Sign in" in anonymous.text and 'id="mg-app"' not in anonymous.text
    user = await new_user(client, platform, key=False)
    token = user.headers["Authorization"].removeprefix("Bearer ")
    client.cookies.set("casebook_access", token)
    page = await client.get("/binance/margin")
    assert page.status_code == 200
    for marker in ('id="mg-app"', 'id="mg-transfer"', 'id="mg-borrow"', 'id="mg-repay"'):
        assert marker in page.text
    assert 'data-assets="BTC,ETH,BNB,USDT"' in page.text
    home = await client.get("/binance/")
    assert 'href="/binance/margin"' in home.text
    script = await client.get("/binance/margin/margin.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/api/binance/margin" in script.text
