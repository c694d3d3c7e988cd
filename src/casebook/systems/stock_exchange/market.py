"""The venue's market data for the engine's public REST (`md_api.router`): its two lookups (an
instrument of THIS venue by symbol, with the exchange's cent scale; its live `MarketData`)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching import md_api
from casebook.engines.matching.marketdata import MarketData
from casebook.platform.context import Platform
from casebook.systems.stock_exchange import trading
from casebook.systems.stock_exchange.runtime import exchange


async def instrument_info(
    platform: Platform, session: AsyncSession, symbol: str
) -> md_api.InstrumentInfo:
    """The listing `symbol` of the exchange; InstrumentNotFound (404) otherwise."""
    instrument = await exchange(platform).instrument(session, symbol)
    return md_api.InstrumentInfo(
        instrument.id, instrument.symbol, instrument.npl, trading.scale(instrument)
    )


def live_marketdata(platform: Platform, instrument_id: int) -> MarketData:
    return exchange(platform).marketdata(instrument_id)
