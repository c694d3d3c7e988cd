"""The demo: a Zerodha client with holdings and a contract note, a quoted INR book; loading it
twice adds nothing; the books balance."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.systems.zerodha.demo import CLIENT, DEMO_PASSWORD, load_demo
from casebook.systems.zerodha.models import ZerodhaOrder
from tests.systems.zerodha.test_oms import charged


async def test_demo_loads_idempotently_and_shows_a_portfolio(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform
) -> None:
    await load_demo(platform)
    async with platform.db.session() as session:
        orders = await session.scalar(select(func.count()).select_from(ZerodhaOrder))
    await load_demo(platform)
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(ZerodhaOrder)) == orders
    login = await client.post(
        "/api/auth/login", json={"email": CLIENT[0], "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    portfolio = (await client.get("/api/zerodha/portfolio", headers=headers)).json()
    holdings = {h["symbol"]: h for h in portfolio["holdings"]}
    assert holdings["INFY"]["quantity"] == 10 and holdings["TCS"]["t1_quantity"] == 5
    [mine] = (await client.get("/api/zerodha/orders", headers=headers)).json()
    assert mine["status"] == "COMPLETE"
    await charged(platform, int(mine["order_id"]))
    tcs = await zerodha.instrument(None, "TCS")  # type: ignore[arg-type]
    depth = zerodha.marketdata(tcs.id).l2(5)
    assert len(depth["bids"]) == 5 and len(depth["asks"]) == 5
    async with platform.db.session() as session:
        assert (await verify(session)).ok
