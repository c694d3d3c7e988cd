"""Assembles the matching engine for one system: its HTTP routes (mounted under `/api/<slug>`),
its market-data WebSocket (mounted at `/ws/<slug>/market`), and its start and stop hooks.

    router = mount.api_router("stock-exchange", account_for)       # trading + market-data REST
    socket = mount.realtime_router("stock-exchange")               # the app mounts it
    on_startup: await mount.startup(platform, VenueConfig(venue="stock-exchange", can_trade=...))
    on_shutdown: await mount.shutdown(platform, "stock-exchange")
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from fastapi import APIRouter
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.api import AccountFor
from casebook.engines.matching.venue import Venue, VenueConfig
from casebook.platform.context import Platform

if TYPE_CHECKING:
    from casebook.engines.matching.marketdata import MarketData
    from casebook.engines.matching.md_api import (
        InstrumentInfo,
        InstrumentLookup,
        MarketDataLookup,
    )

DEFAULT_QUOTE_SCALE = 100
"""Quote minor units per whole unit when a system does not say (cents, paise)."""


def _lookups(
    venue: str, quote_scales: Mapping[str, int] | None
) -> tuple[InstrumentLookup, MarketDataLookup]:
    from casebook.engines.matching import md_api
    from casebook.engines.matching import venue as venues
    from casebook.engines.matching.marketdata import Scale

    scales = dict(quote_scales or {})

    async def instrument_info(
        platform: Platform, session: AsyncSession, symbol: str
    ) -> InstrumentInfo:
        found = await venues.get(platform, venue).instrument(session, symbol)
        return md_api.InstrumentInfo(
            instrument_id=found.id,
            symbol=found.symbol,
            npl=found.npl,
            scale=Scale(
                tick_size=found.tick_size,
                lot_size=found.lot_size,
                base_scale=found.base_scale,
                quote_scale=scales.get(found.quote_asset, DEFAULT_QUOTE_SCALE),
            ),
        )

    def marketdata(platform: Platform, instrument_id: int) -> MarketData:
        return venues.get(platform, venue).marketdata(instrument_id)

    return instrument_info, marketdata


def api_router(
    venue: str, account_for: AccountFor, quote_scales: Mapping[str, int] | None = None
) -> APIRouter:
    """The venue's trading REST (api.py) and its public market-data REST (md_api.py).

    `quote_scales` maps a quote asset to its minor units per whole unit for decimal renderings
    (default 100 for any asset not named: USD cents, INR paise)."""
    from casebook.engines.matching import api, md_api

    instruments, marketdata = _lookups(venue, quote_scales)
    router = api.router(venue, account_for)
    router.include_router(md_api.router(venue, instruments=instruments, marketdata=marketdata))
    return router


def realtime_router(venue: str, quote_scales: Mapping[str, int] | None = None) -> APIRouter:
    """The public market-data WebSocket of `venue` at the router's root (md_live.py)."""
    from casebook.engines.matching import md_live

    instruments, marketdata = _lookups(venue, quote_scales)
    return md_live.router(venue, instruments=instruments, marketdata=marketdata)


async def startup(platform: Platform, config: VenueConfig) -> Venue:
    """Start the system's venue in this process: rebuild its books from snapshot + journal,
    start its writer, re-submit accepted orders that never reached a book."""
    from casebook.engines.matching import venue as venues

    return await venues.start(platform, config)


async def shutdown(platform: Platform, venue: str) -> None:
    """Close the venue's market-data sockets, commit what its writer has queued, stop it."""
    from casebook.engines.matching import md_live
    from casebook.engines.matching import venue as venues

    await md_live.close(platform, venue)
    await venues.stop(platform, venue)
