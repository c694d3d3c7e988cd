"""`/zerodha/`: a Kite-like page — watchlist with live last prices, a 1-minute candle chart of the
chosen stock, an order window (CNC/MIS, limit/market), the day's orders with cancel, positions
and holdings with P&L, and funds. Server-rendered once; `static/kite.js` (our own vanilla JS, no
library, no CDN) talks to /api/zerodha with the session cookie, reads candles from the
exchange's public market data, and follows quotes and klines on the exchange's WebSocket."""

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

STATIC_FILES = {"kite.js": "text/javascript; charset=utf-8"}
"""The page's own files and their media types; nothing else is served from `static/`."""


class StaticFileNotFound(NotFound):
    type_ = "zerodha/static-file-not-found"
    title = "No such file"


@router.get("/", response_class=HTMLResponse)
async def kite_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """The trading page: market data for everyone, trading for a signed-in client."""
    return templates.render(request, "zerodha_home.html", {}, viewer=viewer)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"/zerodha/static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
