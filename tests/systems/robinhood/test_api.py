"""`/api/robinhood` through the app: the seed's register/login, onboarding with the AML screen,
cash, a dollar order and a share order, stock reads with news, charts, watchlist, portfolio
value, and that no customer reaches another's orders; bad input is a 422 that changes nothing."""

from __future__ import annotations

import secrets
from decimal import Decimal

import httpx
import pytest

from casebook.engines.matching import news
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from tests.systems.robinhood.conftest import aapl, market_maker, rest

API = "/api/robinhood"
FEATURE = "robinhood"
PERSON = {"legal_name": "Ada Lovelace", "date_of_birth": "1990-12-10", "country": "US"}


async def signed_in(client: httpx.AsyncClient) -> dict[str, str]:
    email, password = f"rh-{secrets.token_hex(5)}@example.com", secrets.token_urlsafe(12)
    made = await client.post(
        f"{API}/users/register", json={"username": email, "password": password}
    )
    assert made.status_code == 201, made.text
    login = await client.post(f"{API}/users/login", json={"username": email, "password": password})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


@pytest.mark.feature(FEATURE, "account-setup")
async def test_onboarding_screens_identity_and_sanctions_before_trading(
    client: httpx.AsyncClient, started: Venue
) -> None:
    headers = await signed_in(client)
    refused = await client.post(
        f"{API}/orders", json={"symbol": "AAPL", "side": "buy", "dollars": "10"}, headers=headers
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("robinhood/onboarding-required")
    sanctioned = await client.post(
        f"{API}/onboarding",
        json={**PERSON, "legal_name": "MADURO moros, Nicolás", "tax_id": "123456789"},
        headers=headers,
    )
    assert sanctioned.status_code == 201
    assert sanctioned.json()["status"] == "rejected"
    bad_ssn = await client.post(
        f"{API}/onboarding", json={**PERSON, "tax_id": "666123456"}, headers=headers
    )
    assert bad_ssn.json()["status"] == "rejected"
    ok = await client.post(
        f"{API}/onboarding", json={**PERSON, "tax_id": "123456789"}, headers=headers
    )
    assert ok.json() == {**ok.json(), "status": "approved", "tax_id_last4": "6789"}
    again = await client.post(
        f"{API}/onboarding", json={**PERSON, "tax_id": "123456789"}, headers=headers
    )
    assert again.status_code == 409


@pytest.mark.feature(FEATURE, "orders")
@pytest.mark.feature(FEATURE, "quotes")
@pytest.mark.feature(FEATURE, "charts")
@pytest.mark.feature(FEATURE, "news")
@pytest.mark.feature(FEATURE, "account")
async def test_a_customer_trades_reads_and_cannot_reach_another_customers_orders(
    client: httpx.AsyncClient, platform: Platform, started: Venue
) -> None:
    instrument = await aapl(started)
    maker = await market_maker(platform, started, AAPL=100)
    await rest(started, maker, instrument, "sell", 10, 15000)
    async with platform.db.session() as session:
        await news.publish(session, started.name, "AAPL", "Apple ships", "A new phone.")
    headers = await signed_in(client)
    await client.post(f"{API}/onboarding", json={**PERSON, "tax_id": "123456789"}, headers=headers)
    funded = await client.post(
        f"{API}/transfers", json={"direction": "deposit", "amount": "1000.00"}, headers=headers
    )
    assert funded.status_code == 201, funded.text
    assert funded.json()["cash"] == "1000.00"

    bad = await client.post(
        f"{API}/orders",
        json={"symbol": "AAPL", "side": "buy", "shares": "1", "dollars": "5"},
        headers=headers,
    )
    assert bad.status_code == 422
    bought = await client.post(
        f"{API}/orders", json={"symbol": "AAPL", "side": "buy", "shares": "1.5"}, headers=headers
    )
    assert bought.status_code == 201, bought.text
    body = bought.json()
    assert (body["status"], body["filled_shares"], body["amount"]) == (
        "filled",
        "1.500000",
        "225.00",
    )
    assert body["commission"] == "0.00"

    account = (await client.get(f"{API}/account", headers=headers)).json()
    assert account["cash"] == "775.00"
    assert account["positions"] == [
        {"symbol": "AAPL", "shares": "1.500000", "price": "150.00", "value": "225.00"}
    ]
    points = (await client.get(f"{API}/account/portfolio", headers=headers)).json()
    assert [p["total"] for p in points] == ["1000.00", "1000.00"]
    lines = (await client.get(f"{API}/account/statement", headers=headers)).json()
    assert [line["code"] for line in lines][-1] == "deposit"

    stock = (await client.get(f"{API}/stocks/aapl")).json()
    assert (stock["name"], stock["last_price"], stock["ask"]) == ("Apple Inc.", "150.00", "150.00")
    assert [n["headline"] for n in stock["news"]] == ["Apple ships"]
    bars = (await client.get(f"{API}/stocks/AAPL/chart?interval=1m")).json()
    assert bars[-1]["close"] == "150.00" and bars[-1]["volume"] >= 2
    assert (await client.get(f"{API}/stocks/NOPE")).status_code == 404

    assert (await client.put(f"{API}/watchlist/AAPL", headers=headers)).status_code == 204
    watch = (await client.get(f"{API}/watchlist", headers=headers)).json()
    assert [s["symbol"] for s in watch["symbols"]] == ["AAPL"]

    other = await signed_in(client)
    order_id = body["id"]
    assert (await client.get(f"{API}/orders/{order_id}", headers=other)).status_code == 404
    assert (await client.delete(f"{API}/orders/{order_id}", headers=other)).status_code == 404
    assert (await client.get(f"{API}/orders", headers=other)).json()["orders"] == []
    assert (await client.get(f"{API}/watchlist", headers=other)).json()["symbols"] == []
    mine = (await client.get(f"{API}/orders", headers=headers)).json()["orders"]
    assert [o["id"] for o in mine] == [order_id]
    assert Decimal(mine[0]["average_price"]) == Decimal("150.00")
