"""The demo loads once and the page has a portfolio at once: an approved customer with cash,
a fractional holding, a dollar-bought one, a watchlist, filled and open orders; the books are
exact."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.robinhood.demo import load_demo
from casebook.systems.stock_exchange.demo import DEMO_PASSWORD
from tests.systems.robinhood.test_brokerage import assert_books

API = "/api/robinhood"


@pytest.mark.feature("robinhood", "account")
async def test_the_demo_customer_has_a_portfolio_at_once(
    client: httpx.AsyncClient, platform: Platform, started: Venue
) -> None:
    await load_demo(platform)
    await load_demo(platform)  # idempotent: nothing more
    login = await client.post(
        "/api/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    account = (await client.get(f"{API}/account", headers=headers)).json()
    shares = {p["symbol"]: p["shares"] for p in account["positions"]}
    # 10 Ford bought, 4 of them escrowed by the resting limit sell.
    assert shares["AAPL"] == "2.500000" and shares["F"] == "6.000000"
    assert 0 < float(shares["MSFT"]) < 1  # $50 of a $415 stock
    assert float(account["reserved"]) == 180.00  # the resting limit buy
    assert 0 < float(account["cash"]) < 10_000
    orders = (await client.get(f"{API}/orders", headers=headers)).json()["orders"]
    assert sorted(o["status"] for o in orders) == ["filled", "filled", "filled", "open", "open"]
    watching = (await client.get(f"{API}/watchlist", headers=headers)).json()["symbols"]
    assert [q["symbol"] for q in watching] == ["AAPL", "MSFT", "F"]
    points = (await client.get(f"{API}/account/portfolio", headers=headers)).json()
    assert points
    for symbol in ("AAPL", "MSFT", "F"):
        await assert_books(platform, started, symbol)
