"""The official `kiteconnect` client against Casebook's Kite Connect compatible API: the login
flow, orders (place, modify, cancel, history, trades), portfolio, margins, quotes, candles,
the instruments dump and Kite's error envelope. The client speaks `requests`, so the app is
served by a real uvicorn server and the client runs in a worker thread. The client's root is
Casebook's own origin, as `casebook serve` offers it (the Kite fast path serves requests that
carry `X-Kite-Version`); test_gtt.py drives the same client through `kite_origin`, the
dedicated-origin deployment."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from fastapi import FastAPI
from kiteconnect import KiteConnect
from kiteconnect import exceptions as kite_errors

from casebook.engines.ledger.verify import verify
from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from tests.servers import serve_in_loop
from tests.systems.zerodha.conftest import API, Client, onboarded

pytestmark = pytest.mark.feature("zerodha", "algo-trading")


@pytest.fixture
async def kite_root(app: FastAPI, zerodha: Venue) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield base


async def kite_session(client: httpx.AsyncClient, me: Client, root: str) -> KiteConnect:
    """The Kite login flow: an app, /connect/login as the signed-in user → request_token in the
    redirect, then the client's own generate_session (checksum) → access_token."""
    made = await client.post(
        f"{API}/apps",
        json={"name": "algo", "redirect_url": "https://algo.example.com/callback"},
        headers=me.headers,
    )
    assert made.status_code == 201, made.text
    app = made.json()
    kite = KiteConnect(api_key=app["api_key"], root=root)
    login = await client.get(
        f"{API}/kite/connect/login", params={"api_key": app["api_key"], "v": 3}, headers=me.headers
    )
    assert login.status_code == 302
    target = urlparse(login.headers["location"])
    assert target.netloc == "algo.example.com"
    query = parse_qs(target.query)
    assert query["status"] == ["success"]
    token = query["request_token"][0]
    profile = await asyncio.to_thread(kite.generate_session, token, app["api_secret"])
    assert profile["user_id"] == me.client_code
    assert isinstance(profile["login_time"], datetime)
    # A request_token works once.
    with pytest.raises(kite_errors.TokenException):
        await asyncio.to_thread(kite.generate_session, token, app["api_secret"])
    return kite


@pytest.mark.feature("zerodha", "order-placement")
@pytest.mark.feature("zerodha", "portfolio")
@pytest.mark.feature("zerodha", "charts")
async def test_the_official_client_trades_and_reads_its_portfolio(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, kite_root: str
) -> None:
    seller = await onboarded(client, zerodha, platform, cash=100_000, shares={"TCS": 50})
    buyer = await onboarded(client, zerodha, platform, cash=10_000_000)
    sk = await kite_session(client, seller, kite_root)
    bk = await kite_session(client, buyer, kite_root)

    def flow() -> dict[str, Any]:
        out: dict[str, Any] = {}
        out["ask"] = sk.place_order(
            variety=sk.VARIETY_REGULAR,
            exchange=sk.EXCHANGE_NSE,
            tradingsymbol="TCS",
            transaction_type=sk.TRANSACTION_TYPE_SELL,
            quantity=5,
            product=sk.PRODUCT_CNC,
            order_type=sk.ORDER_TYPE_LIMIT,
            price=4100.5,
        )
        out["modified"] = sk.modify_order(
            variety=sk.VARIETY_REGULAR, order_id=out["ask"], price=4100.25
        )
        out["bid"] = bk.place_order(
            variety=bk.VARIETY_REGULAR,
            exchange=bk.EXCHANGE_NSE,
            tradingsymbol="TCS",
            transaction_type=bk.TRANSACTION_TYPE_BUY,
            quantity=3,
            product=bk.PRODUCT_MIS,
            order_type=bk.ORDER_TYPE_MARKET,
        )
        out["buyer_orders"] = bk.orders()
        out["seller_history"] = sk.order_history(out["ask"])
        out["buyer_trades"] = bk.trades()
        out["order_trades"] = bk.order_trades(out["bid"])
        out["positions"] = bk.positions()
        out["seller_holdings"] = sk.holdings()
        out["margins"] = bk.margins()
        out["equity"] = bk.margins("equity")
        out["ltp"] = bk.ltp("NSE:TCS", "NSE:NOSUCH")
        out["ohlc"] = bk.ohlc("NSE:TCS")
        out["quote"] = bk.quote(["NSE:TCS"])
        out["cancelled"] = sk.cancel_order(variety=sk.VARIETY_REGULAR, order_id=out["ask"])
        out["after_cancel"] = sk.order_history(out["ask"])[-1]
        out["instruments"] = bk.instruments()
        out["nse"] = bk.instruments("NSE")
        token = next(i for i in out["instruments"] if i["tradingsymbol"] == "TCS")
        now = datetime.now()
        out["candles"] = bk.historical_data(
            token["instrument_token"], now - timedelta(days=1), now + timedelta(days=1), "minute"
        )
        out["profile"] = bk.profile()
        return out

    out = await asyncio.to_thread(flow)
    assert out["modified"] == out["ask"]
    bid = next(o for o in out["buyer_orders"] if o["order_id"] == out["bid"])
    assert bid["status"] == "COMPLETE" and bid["filled_quantity"] == 3
    assert bid["average_price"] == 4100.25 and bid["product"] == "MIS"
    assert isinstance(bid["order_timestamp"], datetime)
    statuses = [h["status"] for h in out["seller_history"]]
    assert statuses[0] == "OPEN" and statuses[-1] == "OPEN"  # partly filled, still open
    assert out["seller_history"][-1]["filled_quantity"] == 3
    assert out["after_cancel"]["status"] == "CANCELLED"
    assert [t["quantity"] for t in out["buyer_trades"]] == [3]
    assert out["order_trades"][0]["average_price"] == 4100.25
    mis = next(p for p in out["positions"]["net"] if p["product"] == "MIS")
    assert (mis["tradingsymbol"], mis["quantity"], mis["buy_quantity"]) == ("TCS", 3, 3)
    assert mis["buy_value"] == 12_300.75
    holding = next(h for h in out["seller_holdings"] if h["tradingsymbol"] == "TCS")
    assert holding["quantity"] + holding["t1_quantity"] == 47
    assert out["margins"]["equity"]["enabled"] is True
    assert out["equity"]["utilised"]["debits"] == 0.0
    assert out["ltp"] == {
        "NSE:TCS": {"instrument_token": bid["instrument_token"], "last_price": 4100.25}
    }
    assert out["ohlc"]["NSE:TCS"]["ohlc"]["close"] == 4100.25
    depth = out["quote"]["NSE:TCS"]["depth"]
    assert len(depth["buy"]) == len(depth["sell"]) == 5
    symbols = {i["tradingsymbol"] for i in out["instruments"]}
    assert {"RELIANCE", "INFY", "TCS", "HDFCBANK"} <= symbols
    assert out["nse"] == out["instruments"]
    assert out["candles"] and out["candles"][-1]["close"] == 4100.25
    assert out["candles"][-1]["volume"] == 3
    assert out["profile"]["user_id"] == buyer.client_code
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks


async def test_kite_errors_come_in_kites_envelope_and_change_nothing(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, kite_root: str
) -> None:
    me = await onboarded(client, zerodha, platform, cash=100_000)
    other = await onboarded(client, zerodha, platform, cash=100_000)
    kite = await kite_session(client, me, kite_root)
    theirs = await kite_session(client, other, kite_root)

    def flow() -> dict[str, Any]:
        out: dict[str, Any] = {}

        def attempt(name: str, call: Any) -> None:
            try:
                out[name] = call()
            except kite_errors.KiteException as error:
                out[name] = (type(error).__name__, error.code, str(error))

        base = {
            "variety": "regular",
            "exchange": "NSE",
            "tradingsymbol": "INFY",
            "transaction_type": "BUY",
            "quantity": 1,
            "product": "CNC",
            "order_type": "LIMIT",
        }
        attempt("no_price", lambda: kite.place_order(**base))
        attempt("bad_product", lambda: kite.place_order(**{**base, "product": "XYZ"}, price=1))
        attempt("too_dear", lambda: kite.place_order(**base, price=5000))
        attempt("unknown", lambda: kite.place_order(**{**base, "tradingsymbol": "NOPE"}, price=1))
        placed = theirs.place_order(**base, price=100)
        attempt("not_mine", lambda: kite.cancel_order(variety="regular", order_id=placed))
        attempt("not_mine_history", lambda: kite.order_history(placed))
        stranger = KiteConnect(api_key=kite.api_key, access_token="forged", root=kite_root)
        attempt("forged", stranger.orders)
        kite.invalidate_access_token()
        attempt("logged_out", kite.orders)
        out["their_orders"] = theirs.orders()
        return out

    out = await asyncio.to_thread(flow)
    assert out["no_price"][:2] == ("InputException", 400)
    assert out["bad_product"][:2] == ("InputException", 400)
    assert out["too_dear"][:2] == ("OrderException", 400)
    assert out["unknown"][:2] == ("GeneralException", 404)
    assert out["not_mine"][:2] == ("GeneralException", 404)
    assert out["not_mine_history"][:2] == ("GeneralException", 404)
    assert out["forged"][:2] == ("TokenException", 403)
    assert out["logged_out"][:2] == ("TokenException", 403)
    assert [o["status"] for o in out["their_orders"]] == ["OPEN"]
    funds = await client.get(f"{API}/funds", headers=me.headers)
    assert funds.json()["blocked"] == 0 and funds.json()["total"] == 100_000


async def test_a_wrong_checksum_or_unknown_app_gets_no_session(
    client: httpx.AsyncClient, zerodha: Venue, platform: Platform, kite_root: str
) -> None:
    me = await onboarded(client, zerodha, platform)
    made = await client.post(
        f"{API}/apps",
        json={"name": "algo", "redirect_url": "https://algo.example.com/cb"},
        headers=me.headers,
    )
    app = made.json()
    login = await client.get(
        f"{API}/kite/connect/login", params={"api_key": app["api_key"]}, headers=me.headers
    )
    token = parse_qs(urlparse(login.headers["location"]).query)["request_token"][0]
    anonymous = await client.get(f"{API}/kite/connect/login", params={"api_key": app["api_key"]})
    assert anonymous.status_code == 403
    assert anonymous.json()["error_type"] == "TokenException"
    kite = KiteConnect(api_key=app["api_key"], root=kite_root)
    with pytest.raises(kite_errors.TokenException):
        await asyncio.to_thread(kite.generate_session, token, "not-the-secret")
    # The right checksum still works afterwards: the failed try did not use the token up.
    good = hashlib.sha256((app["api_key"] + token + app["api_secret"]).encode()).hexdigest()
    answer = await client.post(
        f"{API}/kite/session/token",
        data={"api_key": app["api_key"], "request_token": token, "checksum": good},
    )
    assert answer.status_code == 200 and answer.json()["status"] == "success"
    assert answer.json()["data"]["access_token"]


async def test_only_requests_that_say_kite_reach_the_kite_api_at_the_root(
    client: httpx.AsyncClient, zerodha: Venue
) -> None:
    """The root of Casebook's origin serves Kite's paths only to requests carrying
    `X-Kite-Version`; the console's own URL space is untouched for everyone else."""
    kite = await client.get("/user/profile", headers={"X-Kite-Version": "3"})
    assert kite.status_code == 403
    assert kite.json()["error_type"] == "TokenException"
    plain = await client.get("/user/profile")
    assert plain.status_code == 404
    assert plain.headers["content-type"].startswith("application/problem+json")
    health = await client.get("/api/auth/me", headers={"X-Kite-Version": "3"})
    assert health.status_code == 401  # /api/ paths are never rewritten
