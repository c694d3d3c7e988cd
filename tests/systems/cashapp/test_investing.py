"""Cash App Investing through the app: stocks bought by dollar amount (fractional) or shares
and sold, paid from and into the Cash App balance through the brokerage engine on the real
Stock Exchange; exact to the cent; refused orders write nothing; no overspend under
concurrency; nobody reaches another's orders."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.robinhood.models import Order
from casebook.systems.stock_exchange import runtime
from tests.systems.cashapp.conftest import API, NewUser, balance, register
from tests.systems.robinhood.conftest import aapl, market_maker, rest

FEATURE = "cashapp"
INVEST = f"{API}/investments"


@pytest.fixture
async def market(platform: Platform) -> Venue:
    """The exchange with a market maker quoting AAPL at $149.00 / $150.00."""
    venue = runtime.exchange(platform)
    instrument = await aapl(venue)
    maker = await market_maker(platform, venue, AAPL=1_000, USD=10_000_000)
    await rest(venue, maker, instrument, "sell", 100, 15_000)
    await rest(venue, maker, instrument, "buy", 100, 14_900)
    return venue


async def stocks(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    response = await client.get(f"{INVEST}/stocks", headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def books_balance(platform: Platform) -> None:
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks


@pytest.mark.feature(FEATURE, "stock-investing")
async def test_buy_by_dollar_amount_and_sell_shares_from_the_balance(
    client: httpx.AsyncClient, platform: Platform, market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=100_000)

    bought = await client.post(
        f"{INVEST}/stocks/buy", json={"symbol": "AAPL", "amount": 2_500}, headers=ann.headers
    )
    assert bought.status_code == 201, bought.text
    order = bought.json()
    # $25.00 at the $150.00 ask: floor(2500 x 10^6 / 15000) = 166,666 micro-shares, worth
    # 166,666 x 150.00 / 10^6 = $24.9999 -> $25.00 (half up), never more than the amount.
    assert order | {"shares": "0.166666", "filled_shares": "0.166666", "amount": 2_500} == order
    assert order["status"] == "filled"
    assert (await balance(client, ann))["balance"] == 97_500
    held = await stocks(client, ann.headers)
    assert held["balance"] == 97_500
    assert [(h["symbol"], h["shares"]) for h in held["holdings"]] == [("AAPL", "0.166666")]

    whole = await client.post(
        f"{INVEST}/stocks/buy", json={"symbol": "AAPL", "shares": "2"}, headers=ann.headers
    )
    assert whole.status_code == 201, whole.text
    assert (whole.json()["amount"], whole.json()["status"]) == (30_000, "filled")
    assert (await balance(client, ann))["balance"] == 67_500

    sold = await client.post(
        f"{INVEST}/stocks/sell", json={"symbol": "AAPL", "shares": "0.1"}, headers=ann.headers
    )
    assert sold.status_code == 201, sold.text
    # 0.1 share sold at the $149.00 bid: $14.90 into the balance.
    assert (sold.json()["amount"], sold.json()["status"]) == (1_490, "filled")
    held = await stocks(client, ann.headers)
    assert held["balance"] == 67_500 + 1_490
    assert held["holdings"][0]["shares"] == "2.066666"
    assert held["value"] == 2_066_666 * held["holdings"][0]["price"] // 1_000_000 + (
        1 if 2_066_666 * held["holdings"][0]["price"] % 1_000_000 >= 500_000 else 0
    )

    listed = await client.get(f"{INVEST}/orders", headers=ann.headers)
    assert [o["side"] for o in listed.json()["items"]] == ["sell", "buy", "buy"]
    await books_balance(platform)


@pytest.mark.feature(FEATURE, "stock-investing")
async def test_refused_orders_write_nothing_and_orders_are_private(
    client: httpx.AsyncClient, platform: Platform, market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=1_000)
    bob = await new_user(cash=100_000)
    cases = [
        ({"symbol": "AAPL", "amount": 100, "shares": "1"}, 422),  # both
        ({"symbol": "AAPL"}, 422),  # neither
        ({"symbol": "AAPL", "amount": -5}, 422),
        ({"symbol": "AAPL", "shares": "0.0000001"}, 422),  # below a micro-share
        ({"symbol": "ZZZZ", "amount": 500}, 404),
        ({"symbol": "AAPL", "amount": 50}, 422),  # under $1.00
        ({"symbol": "AAPL", "shares": "1"}, 409),  # $150 + protection > $10 balance
    ]
    for body, status in cases:
        refused = await client.post(f"{INVEST}/stocks/buy", json=body, headers=ann.headers)
        assert refused.status_code == status, (body, refused.text)
        assert refused.headers["content-type"].startswith("application/problem+json")
    sell = await client.post(
        f"{INVEST}/stocks/sell", json={"symbol": "AAPL", "shares": "1"}, headers=ann.headers
    )
    assert sell.status_code == 409
    assert (await balance(client, ann))["balance"] == 1_000
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Order)) == 0

    # No $cashtag, no investing (like every Cash App money movement).
    _, token = await register(client)
    bare = await client.post(
        f"{INVEST}/stocks/buy",
        json={"symbol": "AAPL", "amount": 500},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert (bare.status_code, bare.json()["type"]) == (409, "/problems/cashapp/profile-required")

    mine = await client.post(
        f"{INVEST}/stocks/buy", json={"symbol": "AAPL", "amount": 500}, headers=bob.headers
    )
    assert mine.status_code == 201
    order_id = mine.json()["id"]
    assert (await client.get(f"{INVEST}/orders/{order_id}", headers=bob.headers)).status_code == 200
    assert (await client.get(f"{INVEST}/orders/{order_id}", headers=ann.headers)).status_code == 404
    assert (await client.get(f"{INVEST}/orders", headers=ann.headers)).json()["items"] == []
    # The same person's Robinhood account does not see Cash App orders either.
    robinhood = await client.get(f"/api/robinhood/orders/{order_id}", headers=bob.headers)
    assert robinhood.status_code == 404
    assert (await stocks(client, ann.headers))["holdings"] == []
    await books_balance(platform)


@pytest.mark.feature(FEATURE, "stock-investing")
async def test_concurrent_buys_never_spend_more_than_the_balance(
    client: httpx.AsyncClient, platform: Platform, market: Venue, new_user: NewUser
) -> None:
    ann = await new_user(cash=10_000)

    async def buy(key: int) -> httpx.Response:
        return await client.post(
            f"{INVEST}/stocks/buy",
            json={"symbol": "AAPL", "amount": 3_000},
            headers={**ann.headers, "Idempotency-Key": f"buy-{key}"},
        )

    answers = await asyncio.gather(*(buy(i) for i in range(8)))
    codes = sorted(a.status_code for a in answers)
    assert codes == [201, 201, 201] + [409] * 5, [a.text for a in answers]
    spent = sum(a.json()["amount"] for a in answers if a.status_code == 201)
    assert spent == 3 * 3_000
    assert (await balance(client, ann))["balance"] == 10_000 - spent
    # A replay with the same key answers the same order and charges nothing more.
    again = await buy(next(i for i, a in enumerate(answers) if a.status_code == 201))
    assert again.status_code == 201
    assert (await balance(client, ann))["balance"] == 10_000 - spent
    held = await stocks(client, ann.headers)
    assert held["holdings"][0]["shares"] == "0.600000"  # 3 x ($30.00 / $150.00)
    await books_balance(platform)
