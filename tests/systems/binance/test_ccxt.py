"""The real `ccxt` binance client (its async flavour, aiohttp) against a served app: load the
markets, read the order book, ticker and trades, create, fetch and cancel orders, fetch the
balance and the user's trades. ccxt signs every private call itself (HMAC-SHA256, timestamp,
recvWindow), so this proves our signing, parameters and response shapes against Binance's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt
import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from tests.servers import serve_in_loop
from tests.systems.binance.spot_support import User, binance_app, fund, new_user

pytestmark = pytest.mark.feature("binance", "signed-api")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


def exchange(base: str, user: User) -> ccxt.binance:
    api = f"{base}/api/binance/api/v3"
    return ccxt.binance(
        {
            "apiKey": user.api_key,
            "secret": user.secret,
            "urls": {"api": {"public": api, "private": api}},
            "options": {
                "fetchMarkets": {"types": ["spot"]},
                "fetchMargins": False,
                "fetchCurrencies": False,
                # /trades is served; /aggTrades (ccxt's default) is not.
                "fetchTradesMethod": "publicGetTrades",
            },
        }
    )


@pytest.mark.feature("binance", "spot-trading")
async def test_ccxt_binance_trades_against_casebook(
    app: FastAPI, client: httpx.AsyncClient, platform: Platform
) -> None:
    maker = await new_user(client, platform)
    taker = await new_user(client, platform)
    await fund(platform, maker, "BTC", "1")
    await fund(platform, taker, "USDT", "10000")
    async with serve_in_loop(app) as base:
        maker_ccxt, taker_ccxt = exchange(base, maker), exchange(base, taker)
        try:
            markets = await maker_ccxt.load_markets()
            btc = markets["BTC/USDT"]
            assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.00001
            assert btc["limits"]["cost"]["min"] == 5.0
            assert set(markets) == {"BTC/USDT", "ETH/USDT", "BNB/USDT", "ETH/BTC"}

            ask = await maker_ccxt.create_order("BTC/USDT", "limit", "sell", 0.02, 61000.5)
            assert ask["status"] == "open" and ask["amount"] == 0.02 and ask["price"] == 61000.5
            book = await taker_ccxt.fetch_order_book("BTC/USDT", limit=10)
            assert book["asks"][0][:2] == [61000.5, 0.02] and book["bids"] == []

            bought = await taker_ccxt.create_order("BTC/USDT", "limit", "buy", 0.005, 61000.5)
            assert bought["status"] == "closed" and bought["filled"] == 0.005
            assert bought["cost"] == pytest.approx(305.0025)
            assert bought["trades"][0]["fee"]["currency"] == "USDT"

            fetched = await maker_ccxt.fetch_order(ask["id"], "BTC/USDT")
            assert fetched["filled"] == 0.005 and fetched["remaining"] == 0.015
            open_orders = await maker_ccxt.fetch_open_orders("BTC/USDT")
            assert [o["id"] for o in open_orders] == [ask["id"]]
            cancelled = await maker_ccxt.cancel_order(ask["id"], "BTC/USDT")
            assert cancelled["status"] == "canceled"
            assert await maker_ccxt.fetch_open_orders("BTC/USDT") == []

            balance = await taker_ccxt.fetch_balance()
            assert balance["BTC"]["free"] == 0.005 and balance["BTC"]["used"] == 0
            # 10,000 - 305.0025 - fee 0.30500250 (10 bps)
            assert balance["USDT"]["total"] == pytest.approx(9694.6922475)
            maker_balance = await maker_ccxt.fetch_balance()
            assert maker_balance["BTC"]["total"] == pytest.approx(0.995)

            trades = await taker_ccxt.fetch_my_trades("BTC/USDT")
            assert [(t["side"], t["takerOrMaker"], t["amount"]) for t in trades] == [
                ("buy", "taker", 0.005)
            ]
            ticker = await taker_ccxt.fetch_ticker("BTC/USDT")
            assert ticker["last"] == 61000.5
            public = await taker_ccxt.fetch_trades("BTC/USDT")
            assert [(t["price"], t["amount"], t["side"]) for t in public] == [
                (61000.5, 0.005, "buy")
            ]
            with pytest.raises(ccxt.InsufficientFunds):
                await taker_ccxt.create_order("BTC/USDT", "limit", "buy", 1, 61000)
            with pytest.raises(ccxt.BadRequest, match="MIN_NOTIONAL"):
                await taker_ccxt.create_order("BTC/USDT", "limit", "buy", 0.00001, 61000)
            with pytest.raises(ccxt.OrderNotFound):
                await taker_ccxt.cancel_order(ask["id"], "BTC/USDT")
        finally:
            await maker_ccxt.close()
            await taker_ccxt.close()
    async with platform.db.session() as session:
        assert (await verify(session)).ok
