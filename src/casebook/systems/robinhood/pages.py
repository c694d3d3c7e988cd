"""`/robinhood/`: the broker's mobile-first page — onboarding, cash and portfolio value (with its
history), holdings, the watchlist with quotes, a symbol view (quote, a price chart drawn on a
<canvas> from the exchange's candles, news), an order ticket in shares or dollars, and the
customer's orders with cancel.

The page is server-rendered once (the listings are the house's `STOCKS`, known without a query);
`static/robinhood.js` (our own vanilla JS, no library, no CDN) then calls `/api/robinhood` with
the session cookie. A signed-out visitor sees the public stock view and a sign-in link.
"""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from casebook.platform.errors import NotFound
from casebook.systems.robinhood.house import STOCKS
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()

STATIC_FILES = {
    "robinhood.js": "text/javascript; charset=utf-8",
    "robinhood.css": "text/css; charset=utf-8",
}
"""The page's own files and their media types; nothing else is served from `static/`."""


class StaticFileNotFound(NotFound):
    type_ = "robinhood/static-file-not-found"
    title = "No such file"


@router.get("/", response_class=HTMLResponse)
async def robinhood_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """The broker: stock reads for everyone, the account and trading for a signed-in user."""
    listings = [{"symbol": symbol, "name": name} for symbol, name, _ in STOCKS]
    return templates.render(request, "robinhood_home.html", {"listings": listings}, viewer=viewer)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"/robinhood/static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
