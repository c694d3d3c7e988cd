"""`/binance/margin`: the cross-margin page — a margin level gauge (with the 2.0 initial, 1.3
margin-call and 1.1 liquidation marks), the assets and debts table, the recent margin events,
and the transfer, borrow and repay forms.

Server-rendered once; `static/margin.js` (our own JS, no library, no CDN) reads
`/api/binance/margin/account` with the session cookie, refreshes it every few seconds, and
posts the forms to `/api/binance/margin/transfer|borrow|repay` with an Idempotency-Key each."""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from casebook.systems.binance.spot import ASSETS
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()


@router.get("/margin", response_class=HTMLResponse)
async def margin_page(request: Request, viewer: OptionalViewer) -> HTMLResponse:
    """The margin account of the signed-in user (a sign-in prompt otherwise)."""
    return templates.render(request, "binance_margin.html", {"assets": ASSETS}, viewer=viewer)


@router.get("/margin/margin.js")
async def margin_script() -> FileResponse:
    """The page's script."""
    return FileResponse(
        HERE / "static" / "margin.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
