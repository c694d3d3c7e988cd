"""Demo data loads once, leaves a two-sided book, a verified funded demo trader with trades, and
consistent books in the ledger."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.demo import DEMO_PASSWORD, load_demo

API = "/api/stock-exchange"


@pytest.mark.feature("stock-exchange", "account-balance")
async def test_demo_loads_idempotently(client: httpx.AsyncClient, platform: Platform) -> None:
    await load_demo(platform)
    await load_demo(platform)
    login = await client.post(
        "/api/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    balance = (await client.get(f"{API}/account/balance", headers=headers)).json()
    holdings = {h["asset"]: h["total"] for h in balance["holdings"]}
    assert holdings == {"AAPL": 18, "F": 5}
    me = (await client.get(f"{API}/me", headers=headers)).json()
    assert me["kyc_status"] == "verified"
    listings = {x["symbol"] for x in (await client.get(f"{API}/instruments")).json()}
    # The brokers on the exchange (Robinhood, Zerodha) list their own instruments at startup.
    assert {"AAPL", "F", "MSFT"} <= listings
    depth = (await client.get(f"{API}/instruments/MSFT/depth")).json()
    assert (len(depth["bids"]), len(depth["asks"])) == (5, 5)
    assert depth["bids"][0]["price"] < depth["asks"][0]["price"]
    async with platform.db.session() as session:
        assert (await verify(session)).ok
