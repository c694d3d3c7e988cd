"""`/ws/stock-exchange/…`: the public market-data WebSocket of the exchange at `/market`
(the matching engine's md_live protocol: depth snapshot + diffs, trades, quote, klines)."""

from __future__ import annotations

from fastapi import APIRouter

from casebook.engines.matching import mount
from casebook.systems.stock_exchange.runtime import VENUE

router = APIRouter()
router.include_router(mount.realtime_router(VENUE), prefix="/market")
