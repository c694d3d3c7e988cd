"""The Binance system on the venue "binance": pairs and units, spot wallets = venue accounts
(chain deposits credit them, orders lock them, fills settle in them), the generic trading REST
for the caller's own account, and isolation between users."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import runtime, spot, staff
from tests.systems.binance.conftest import produce
from tests.systems.binance.spot_support import SCALE, binance_app, fund, new_user


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


@pytest.mark.feature("binance", "trading-pairs")
async def test_pairs_are_listed_with_integer_npl_and_8_decimal_units(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    listed = await client.get("/api/binance/venue/instruments")
    assert listed.status_code == 200
    by_symbol = {i["symbol"]: i for i in listed.json()["items"]}
    assert set(by_symbol) == {"BTCUSDT", "ETHUSDT", "BNBUSDT", "ETHBTC"}
    btc = by_symbol["BTCUSDT"]
    assert (btc["tick_size"], btc["lot_size"], btc["base_scale"]) == (10**6, 10**3, SCALE)
    venue = spot.exchange(platform)
    for instrument in venue.listed.values():
        assert instrument.tick_size * instrument.lot_size % instrument.base_scale == 0
    assert {i.symbol: i.npl for i in venue.listed.values()} == {
        "BTCUSDT": 10,
        "ETHUSDT": 100,
        "BNBUSDT": 1000,
        "ETHBTC": 1,
    }


@pytest.mark.feature("binance", "wallets")
async def test_a_chain_deposit_credits_the_venue_account_and_can_be_traded(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    address = await client.get(
        "/api/binance/wallet/deposit-address", params={"asset": "USDT"}, headers=user.headers
    )
    assert address.status_code == 200, address.text
    async with platform.db.session(write=True) as session:
        await runtime.CHAIN.mint(session, address.json()["address"], "USDT", 1_000 * SCALE)
    await produce(platform.db, runtime.CHAIN, 1 + runtime.POLICIES["USDT"].confirmations)
    # The system's wallet job may credit it first; either way it is credited exactly once.
    await runtime.WALLETS.credit_deposits(platform.db)
    balances = await client.get("/api/binance/venue/balances", headers=user.headers)
    assert balances.json()["items"] == [
        {"asset": "USDT", "total": 1_000 * SCALE, "locked": 0, "available": 1_000 * SCALE}
    ]
    wallet_view = await client.get("/api/binance/wallet/balances", headers=user.headers)
    assert wallet_view.json() == {
        "USDT": {"total": 1_000 * SCALE, "locked": 0, "available": 1_000 * SCALE}
    }
    # 0.01 BTC at 30,000.00: 3,000,000 ticks x 1,000 lots x npl 10 = 300 USDT + 0.3 fee held.
    placed = await client.post(
        "/api/binance/venue/orders",
        json={"symbol": "BTCUSDT", "side": "buy", "qty": 1000, "price": 3_000_000},
        headers=user.headers,
    )
    assert placed.status_code == 201, placed.text
    locked = (await client.get("/api/binance/venue/balances", headers=user.headers)).json()
    assert {b["asset"]: b["locked"] for b in locked["items"]}["USDT"] == 300 * SCALE + 30_000_000
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("binance", "spot-trading")
async def test_a_fill_settles_both_wallets_with_fees_and_users_see_only_their_own(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    buyer = await new_user(client, platform, key=False)
    seller = await new_user(client, platform, key=False)
    await fund(platform, buyer, "USDT", "1000")
    await fund(platform, seller, "BTC", "1")
    ask = await client.post(
        "/api/binance/venue/orders",
        json={"symbol": "BTCUSDT", "side": "sell", "qty": 500, "price": 6_000_000},
        headers=seller.headers,
    )
    assert ask.status_code == 201, ask.text
    bid = await client.post(
        "/api/binance/venue/orders",
        json={"symbol": "BTCUSDT", "side": "buy", "qty": 500, "price": 6_000_000},
        headers=buyer.headers,
    )
    assert bid.json()["status"] == "filled"
    # 0.005 BTC at 60,000.00 = 300 USDT; 10 bps = 0.3 USDT each side.
    want_buyer = {"BTC": 500_000, "USDT": 1000 * SCALE - 300 * SCALE - 30_000_000}
    got = (await client.get("/api/binance/venue/balances", headers=buyer.headers)).json()
    assert {b["asset"]: b["total"] for b in got["items"]} == want_buyer
    got = (await client.get("/api/binance/venue/balances", headers=seller.headers)).json()
    assert {b["asset"]: b["total"] for b in got["items"]} == {
        "BTC": SCALE - 500_000,
        "USDT": 300 * SCALE - 30_000_000,
    }
    other = await client.get(f"/api/binance/venue/orders/{ask.json()['id']}", headers=buyer.headers)
    assert other.status_code == 404
    cancel = await client.delete(
        f"/api/binance/venue/orders/{ask.json()['id']}", headers=buyer.headers
    )
    assert cancel.status_code == 404


@pytest.mark.feature("binance", "wallets")
async def test_concurrent_orders_never_lock_more_than_the_wallet_holds(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    await fund(platform, user, "USDT", "100")
    # Each order holds 30 USDT + 0.03 fee: only three of ten fit in 100 USDT.
    answers = await asyncio.gather(
        *(
            client.post(
                "/api/binance/venue/orders",
                json={"symbol": "BTCUSDT", "side": "buy", "qty": 100, "price": 3_000_000 + i},
                headers=user.headers,
            )
            for i in range(10)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(201) == 3 and statuses.count(409) == 7, statuses
    got = (await client.get("/api/binance/venue/balances", headers=user.headers)).json()
    usdt = {b["asset"]: b for b in got["items"]}["USDT"]
    assert usdt["available"] >= 0 and usdt["locked"] + usdt["available"] == 100 * SCALE
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("binance", "wallets")
async def test_a_withdrawal_holds_the_venue_wallet_then_settles_on_chain(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    user = await new_user(client, platform, key=False)
    reviewer = await new_user(client, platform, key=False)
    async with platform.db.session(write=True) as session:
        await staff.grant(session, reviewer.user_id)
        # The exchange's coins on chain (a withdrawal is paid from its hot wallet).
        await runtime.CHAIN.mint(session, runtime.WALLETS.hot_wallet_address, "BTC", 10 * SCALE)
    await fund(platform, user, "BTC", "6")
    fee = runtime.POLICIES["BTC"].withdrawal_fee
    amount = runtime.POLICIES["BTC"].review_threshold  # waits for staff: nothing settles it yet
    requested = await client.post(
        "/api/binance/wallet/withdrawals",
        json={"asset": "BTC", "address": "0x" + "ab" * 20, "amount": amount},
        headers=user.headers,
    )
    assert requested.status_code == 201, requested.text
    assert requested.json()["status"] == "pending_review"
    # The hold sits on the venue wallet: it cannot be sold while the withdrawal is under way.
    held = (await client.get("/api/binance/venue/balances", headers=user.headers)).json()
    assert {b["asset"]: b["locked"] for b in held["items"]}["BTC"] == amount + fee
    too_much = await client.post(
        "/api/binance/venue/orders",
        json={"symbol": "BTCUSDT", "side": "sell", "qty": 100_000, "price": 6_000_000},
        headers=user.headers,
    )
    assert too_much.status_code == 409
    refused = await client.post(
        f"/api/binance/wallet/withdrawals/{requested.json()['id']}/approve", headers=user.headers
    )
    assert refused.status_code == 403
    approved = await client.post(
        f"/api/binance/wallet/withdrawals/{requested.json()['id']}/approve",
        headers=reviewer.headers,
    )
    assert approved.status_code == 200 and approved.json()["status"] == "broadcast"
    await produce(platform.db, runtime.CHAIN)
    await runtime.WALLETS.settle_withdrawals(platform.db)  # (or the system's job did)
    after = (await client.get("/api/binance/venue/balances", headers=user.headers)).json()
    btc = {b["asset"]: b for b in after["items"]}["BTC"]
    assert (btc["total"], btc["locked"]) == (6 * SCALE - amount - fee, 0)
    async with platform.db.session() as session:
        assert (await verify(session)).ok
