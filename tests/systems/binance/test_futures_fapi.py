"""The real `ccxt` client (binanceusdm, its async flavour) against a served app: it loads the
perpetual contracts from `/fapi/v1/exchangeInfo` and reads the mark price and funding rate from
`/fapi/v1/premiumIndex`, parsing our shapes exactly as it parses Binance's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import ccxt.async_support as ccxt
import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.binance import futures
from tests.servers import serve_in_loop
from tests.systems.binance.spot_support import binance_app

pytestmark = pytest.mark.feature("binance", "futures-trading")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


async def test_ccxt_binanceusdm_reads_contracts_mark_and_funding(
    app: FastAPI, platform: Platform
) -> None:
    async with serve_in_loop(app) as base:
        exchange = ccxt.binanceusdm(
            {
                "urls": {"api": {"fapiPublic": f"{base}/api/binance/fapi/v1"}},
                "options": {
                    "fetchMarkets": {"types": ["linear"]},
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                },
            }
        )
        try:
            markets = await exchange.load_markets()
            rate = await exchange.fetch_funding_rate("BTC/USDT:USDT")
        finally:
            await exchange.close()
    assert set(markets) == {"BTC/USDT:USDT", "ETH/USDT:USDT"}
    btc = markets["BTC/USDT:USDT"]
    assert btc["swap"] and btc["linear"] and btc["settle"] == "USDT"
    assert btc["precision"]["price"] == 0.01 and btc["precision"]["amount"] == 0.001
    async with platform.db.session() as session:
        instrument = await futures.futures_venue(platform).instrument(session, "BTCUSDT-PERP")
    quote = futures.prices(platform, instrument)
    assert rate["markPrice"] == pytest.approx(quote.mark / 100)
    assert rate["indexPrice"] == pytest.approx(quote.index / 100)
    assert rate["fundingRate"] == pytest.approx(quote.funding_rate_e8 / 10**8)
    assert rate["fundingTimestamp"] == futures.next_funding_time() * 1000


async def test_an_unknown_contract_is_binances_invalid_symbol(
    app: FastAPI, client: httpx.AsyncClient
) -> None:
    answer = await client.get("/api/binance/fapi/v1/premiumIndex?symbol=DOGEUSDT")
    assert answer.status_code == 400 and answer.json()["code"] == -1121
    every = await client.get("/api/binance/fapi/v1/premiumIndex")
    assert [item["symbol"] for item in every.json()] == ["BTCUSDT", "ETHUSDT"]
