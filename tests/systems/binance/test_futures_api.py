"""`/api/binance/futures/*` through HTTP: transfer, leverage, orders, positions, premium index,
funding history; bad input is a problem that changes nothing; no user sees or touches another's."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from casebook.systems.binance import futures, futures_api, futures_jobs, spot
from tests.systems.binance.futures_support import (
    assert_books_balance,
    contract,
    usdt,
    venues_up,
    wallet,
)
from tests.systems.binance.spot_support import binance_app

__all__ = ["venues_up"]

pytestmark = pytest.mark.feature("binance", "futures-trading")


@pytest.fixture
async def http(
    venues_up: Platform, mounted: Callable[..., httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    async with mounted(futures_api.router) as client:
        yield client


async def user(
    client: httpx.AsyncClient, platform: Platform, spot_usdt: int
) -> tuple[int, dict[str, str]]:
    """A registered user with `spot_usdt` in the spot wallet."""
    email, password = f"{secrets.token_hex(6)}@example.com", "correct horse battery"
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "U"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    user_id = int(registered.json()["id"])
    async with platform.db.session(write=True) as session:
        account = await spot.account_of(session, user_id)
        await spot.exchange(platform).credit(session, account, "USDT", spot_usdt, new_id(), "in")
    return user_id, {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_a_user_trades_futures_over_http(
    venues_up: Platform, client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    alice_id, alice = await user(client, venues_up, usdt(2000))
    _, bob = await user(client, venues_up, usdt(2000))
    for headers in (alice, bob):
        moved = await http.post(
            "/api/binance/futures/transfer",
            json={"amount": usdt(1000), "direction": "to_futures"},
            headers={**headers, "Idempotency-Key": secrets.token_hex(8)},
        )
        assert moved.status_code == 201, moved.text
    lev = await http.post(
        "/api/binance/futures/leverage",
        json={"symbol": "btcusdt-perp", "leverage": 10},
        headers=alice,
    )
    assert lev.status_code == 200 and lev.json()["leverage"] == 10
    ask = await http.post(
        "/api/binance/futures/orders",
        json={"symbol": "BTCUSDT-PERP", "side": "sell", "qty": 100, "price": 6_000_000},
        headers={**bob, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert ask.status_code == 201 and ask.json()["status"] == "open"
    buy = await http.post(
        "/api/binance/futures/orders",
        json={"symbol": "BTCUSDT-PERP", "side": "buy", "type": "market", "qty": 100},
        headers={**alice, "Idempotency-Key": secrets.token_hex(8)},
    )
    assert buy.status_code == 201 and buy.json()["status"] == "filled", buy.text

    account = (await http.get("/api/binance/futures/account", headers=alice)).json()
    assert account["wallet_balance"] == usdt(1000) - usdt(600) - usdt(3)  # 10x margin + fee
    [pos] = account["positions"]
    assert (pos["symbol"], pos["qty"], pos["entry_price"], pos["leverage"]) == (
        "BTCUSDT-PERP",
        100,
        "60000.00",
        10,
    )
    assert pos["liquidation_price"] is not None and pos["margin"] == usdt(600)
    positions = (await http.get("/api/binance/futures/positions", headers=bob)).json()
    assert [p["qty"] for p in positions["items"]] == [-100]

    index = (await http.get("/api/binance/futures/premium-index?symbol=BTCUSDT-PERP")).json()
    [quote] = index["items"]
    assert quote["mark_price"] == 6_000_000 and quote["funding_rate"] == "0.00010000"
    assert quote["next_funding_time"] % (8 * 3600 * 1000) == 0

    btc = await contract(venues_up)
    await futures_jobs.run_funding(venues_up, btc, futures.next_funding_time(0))
    history = (await http.get("/api/binance/futures/funding-history", headers=alice)).json()
    # 0.01 % of 6,000 = 0.6 USDT paid by the long
    assert [(h["qty"], h["amount"]) for h in history["items"]] == [(100, -usdt("0.6"))]
    async with venues_up.db.session(write=True) as session:
        alice_account = await futures.account_of(session, alice_id)
    assert await wallet(venues_up, alice_account) == (usdt(397) - usdt("0.6"), 0)
    await assert_books_balance(venues_up)


async def test_bad_input_is_a_problem_that_changes_nothing(
    venues_up: Platform, client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    _, alice = await user(client, venues_up, usdt(100))
    cases = [
        ("/api/binance/futures/leverage", {"symbol": "BTCUSDT-PERP", "leverage": 50}, 422),
        ("/api/binance/futures/leverage", {"symbol": "NOPE-PERP", "leverage": 5}, 404),
        ("/api/binance/futures/margin-type", {"symbol": "BTCUSDT-PERP", "margin_type": "x"}, 422),
        ("/api/binance/futures/transfer", {"amount": usdt(101), "direction": "to_futures"}, 409),
        ("/api/binance/futures/transfer", {"amount": 0, "direction": "to_futures"}, 422),
        (
            "/api/binance/futures/orders",
            {"symbol": "BTCUSDT-PERP", "side": "buy", "qty": 100, "price": 6_000_000},
            409,  # no futures balance for the margin
        ),
        (
            "/api/binance/futures/orders",
            {"symbol": "BTCUSDT-PERP", "side": "buy", "type": "market", "qty": 1, "price": 5},
            422,
        ),
    ]
    for path, body, status in cases:
        answer = await http.post(
            path, json=body, headers={**alice, "Idempotency-Key": secrets.token_hex(8)}
        )
        assert answer.status_code == status, (path, body, answer.text)
        assert answer.headers["content-type"].startswith("application/problem+json")
    orders = (await http.get("/api/binance/futures/orders", headers=alice)).json()
    assert orders["items"] == []
    assert (await http.get("/api/binance/futures/orders")).status_code == 401
    await assert_books_balance(venues_up)


async def test_no_user_sees_or_cancels_another_users_orders(
    venues_up: Platform, client: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    alice_id, alice = await user(client, venues_up, usdt(1000))
    _, mallory = await user(client, venues_up, usdt(1000))
    await http.post(
        "/api/binance/futures/transfer",
        json={"amount": usdt(1000), "direction": "to_futures"},
        headers={**alice, "Idempotency-Key": secrets.token_hex(8)},
    )
    placed = await http.post(
        "/api/binance/futures/orders",
        json={"symbol": "BTCUSDT-PERP", "side": "buy", "qty": 10, "price": 5_900_000},
        headers={**alice, "Idempotency-Key": secrets.token_hex(8)},
    )
    order_id = placed.json()["id"]
    stolen = await http.delete(f"/api/binance/futures/orders/{order_id}", headers=mallory)
    assert stolen.status_code == 404
    assert (await http.get("/api/binance/futures/orders", headers=mallory)).json()["items"] == []
    assert (await http.get("/api/binance/futures/account", headers=mallory)).json()[
        "positions"
    ] == []
    mine = (await http.get("/api/binance/futures/orders?open=true", headers=alice)).json()
    assert [(o["id"], o["symbol"]) for o in mine["items"]] == [(order_id, "BTCUSDT-PERP")]
    cancelled = await http.delete(f"/api/binance/futures/orders/{order_id}", headers=alice)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    async with venues_up.db.session(write=True) as session:
        account_id = await futures.account_of(session, alice_id)
    assert await wallet(venues_up, account_id) == (usdt(1000), 0)


async def test_the_binance_app_starts_futures_with_its_jobs(settings: Settings) -> None:
    async with binance_app(settings) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as anonymous:
            answer = await anonymous.get("/api/binance/futures/premium-index")
        platform: Platform = application.state.platform
        funding = [
            job.payload
            for job in await platform.jobs.list_jobs(limit=1000)
            if job.name == futures_jobs.FUNDING_JOB
        ]
    assert answer.status_code == 200
    assert [i["symbol"] for i in answer.json()["items"]] == ["BTCUSDT-PERP", "ETHUSDT-PERP"]
    assert funding == [{"funding_time": futures.next_funding_time()}]


async def test_the_futures_page_serves_everyone_and_trades_for_the_signed_in(
    settings: Settings,
) -> None:
    async with binance_app(settings) as application:
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as browser:
            anonymous = await browser.get("/binance/futures")
            script = await browser.get("/binance/futures/futures.js")
            home = await browser.get("/binance/")
            platform: Platform = application.state.platform
            _, headers = await user(browser, platform, usdt(10))
            browser.cookies.set("casebook_access", headers["Authorization"].removeprefix("Bearer "))
            signed_in = await browser.get("/binance/futures")
    assert anonymous.status_code == 200 and "Sign in" in anonymous.text
    assert 'id="ft-market"' in anonymous.text  # filled by the script from premium-index
    assert 'id="ft-order"' not in anonymous.text
    assert signed_in.status_code == 200 and 'id="ft-order"' in signed_in.text
    assert "<option>BTCUSDT-PERP</option>" in signed_in.text
    assert 'data-signed-in="yes"' in signed_in.text
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert 'href="/binance/futures"' in home.text
