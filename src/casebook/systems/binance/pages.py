"""`/binance/`: the trading view — a pair selector, the order book and trades (live from the
combined stream `/ws/binance/stream`), a 1-minute candle chart drawn on a <canvas>, and for a
signed-in user the order form, open orders with cancel, the spot wallet (free/locked per asset)
and a deposit address per asset.

Server-rendered once; `static/binance.js` (our own vanilla JS, no library, no CDN) reads the
Binance-compatible public REST (`/api/binance/api/v3/depth|trades|klines`, decimal strings),
keeps the book with Binance's diff-depth procedure, and trades through the venue REST
(`/api/binance/venue/orders`, session cookie)."""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from casebook.platform.errors import NotFound
from casebook.systems.binance import margin_pages
from casebook.systems.binance.futures_pages import router as futures_pages_router
from casebook.systems.binance.launchpad_pages import router as launchpad_pages_router
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()

STATIC_FILES = {"binance.js": "text/javascript; charset=utf-8"}
"""The page's own files and their media types; nothing else is served from `static/`."""


class StaticFileNotFound(NotFound):
    type_ = "binance/static-file-not-found"
    title = "No such file"


@router.get("/", response_class=HTMLResponse)
async def trading_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """The trading view: market data for everyone, trading and the wallet when signed in."""
    return templates.render(request, "binance_home.html", {}, viewer=viewer)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"/binance/static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )


router.include_router(margin_pages.router)
router.include_router(futures_pages_router)
router.include_router(launchpad_pages_router)
