"""`/binance/launchpad`: the Launchpad page — every sale with its terms and a live countdown to
its next moment (start, end, distribution), a commit form per open sale and, for a signed-in
user, their own commitment and allocation per sale.

Server-rendered from the database (the list works without JavaScript); `static/launchpad.js`
(our own vanilla JS, no library, no CDN), served at `/binance/launchpad/launchpad.js`, runs the
countdowns, commits through `POST /api/binance/launchpad/projects/{id}/commit` (session cookie,
a fresh Idempotency-Key per submission) and fills "my allocation" from `/my`."""

from __future__ import annotations

from pathlib import Path as FilePath

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import select

from casebook.platform.db import Session
from casebook.platform.pagination import PageParams
from casebook.systems.binance.launchpad_api import NEWEST_FIRST, ProjectOut
from casebook.systems.binance.launchpad_models import LaunchpadProject
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")
router = APIRouter()
SHOWN = 50
"""Sales on the page (newest first)."""


@router.get("/launchpad", response_class=HTMLResponse)
async def launchpad_page(
    request: Request, viewer: OptionalViewer, session: Session
) -> HTMLResponse:
    """The newest sales, with commit forms and the viewer's allocations when signed in."""
    rows, _ = await NEWEST_FIRST.fetch(
        session, select(LaunchpadProject), PageParams(cursor=None, limit=SHOWN)
    )
    projects = [ProjectOut.of(row) for row in rows]
    return templates.render(
        request,
        "binance_launchpad.html",
        {"projects": projects},
        viewer=viewer,
    )


@router.get("/launchpad/launchpad.js")
async def launchpad_script() -> FileResponse:
    """The page's script."""
    return FileResponse(
        HERE / "static" / "launchpad.js",
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
