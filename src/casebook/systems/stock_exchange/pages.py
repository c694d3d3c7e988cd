"""`/stock-exchange/`: the exchange page — a live depth ladder, the trade tape and a candle chart
for the chosen listing (public market data), and for a signed-in trader an order form, open
orders with cancel, balances and the KYC status.

The page is server-rendered once; `static/exchange.js` (our own vanilla JS, no library, no CDN)
then talks to the JSON API with the session cookie and subscribes to the market-data WebSocket
(`/ws/stock-exchange/market`: depth snapshot + diffs, trades, quote, 1m klines), drawing the
candles on a <canvas> itself.
"""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from casebook.platform.errors import NotFound
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()

STATIC_FILES = {"exchange.js": "text/javascript; charset=utf-8"}
"""The page's own files and their media types; nothing else is served from `static/`."""


class StaticFileNotFound(NotFound):
    type_ = "stock-exchange/static-file-not-found"
    title = "No such file"


@router.get("/", response_class=HTMLResponse)
async def exchange_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """The exchange: market data for everyone, trading for a signed-in member."""
    return templates.render(request, "stock_exchange_home.html", {}, viewer=viewer)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"/stock-exchange/static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
