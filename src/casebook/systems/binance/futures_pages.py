"""`/binance/futures`: the USDT-M perpetual futures page — the caller's positions with mark, PnL
and liquidation price, the futures wallet, an order form with leverage and margin type, the
spot ⇄ futures transfer, and each contract's mark, index and funding rate with a countdown to
the next funding time.

Server-rendered once; `static/futures.js` (our own JS, no library, no CDN) reads
`/api/binance/futures/premium-index` (public) and `/api/binance/futures/account` (session
cookie) every few seconds, and posts the forms with an Idempotency-Key each."""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from casebook.systems.binance.futures import CONTRACTS
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()


@router.get("/futures", response_class=HTMLResponse)
async def futures_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """Market figures for everyone; positions and trading for a signed-in user."""
    symbols = [contract.spec.symbol for contract in CONTRACTS]
    return templates.render(request, "binance_futures.html", {"symbols": symbols}, viewer=viewer)


@router.get("/futures/futures.js")
async def futures_script() -> FileResponse:
    """The page's script."""
    return FileResponse(
        HERE / "static" / "futures.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
