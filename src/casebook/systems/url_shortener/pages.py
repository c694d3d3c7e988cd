"""`/url-shortener/`: create a link, list your links, and see a link's clicks as a bar chart.

Plain HTML forms over the same service functions as the API, signed in by the session cookie
(anonymous visitors are sent to `/login?next=…`). Every POST passes the same-origin check.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.deps import client_ip
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import Problem
from casebook.platform.pagination import PageParams
from casebook.systems.url_shortener import analytics, service
from casebook.systems.url_shortener.api import get_shortener, link_out
from casebook.systems.url_shortener.chart import bar_chart
from casebook.systems.url_shortener.errors import InvalidExpiry, LinkNotFound
from casebook.systems.url_shortener.models import Domain
from casebook.systems.url_shortener.runtime import Shortener
from casebook.systems.url_shortener.schemas import MAX_SUBMITTED_URL
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()

HOME = "/url-shortener/"
LINKS_PER_PAGE = 25

PlatformDep = Annotated[Platform, Depends(get_platform)]
State = Annotated[Shortener, Depends(get_shortener)]
Code = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$")]


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def _link_path(code: str, domain: str | None) -> str:
    return f"{HOME}links/{code}" + (f"?domain={quote(domain)}" if domain else "")


async def _home(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    state: Shortener,
    cursor: str | None,
    *,
    error: str | None = None,
    form: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    views, next_cursor = await service.list_links(
        session, viewer.user_id, PageParams(cursor=cursor, limit=LINKS_PER_PAGE)
    )
    domains = await session.scalars(
        select(Domain.host)
        .where(Domain.owner_id == viewer.user_id, Domain.verified_at.is_not(None))
        .order_by(Domain.host)
    )
    context: dict[str, Any] = {
        "links": [(link_out(state, v), _link_path(v.link.code, v.domain_host)) for v in views],
        "next_cursor": next_cursor,
        "domains": list(domains),
        "error": error,
        "form": form or {"url": "", "alias": "", "redirect_type": "302", "expires_at": ""},
        "max_url": MAX_SUBMITTED_URL,
        "home": HOME,
    }
    return templates.render(
        request, "url_shortener_home.html", context, viewer=viewer, status_code=status_code
    )


@router.get("/", response_class=HTMLResponse)
async def home(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    state: State,
    cursor: str | None = None,
) -> Response:
    """Your links and the form to shorten a new one."""
    if viewer is None:
        return _login_redirect(request)
    return await _home(request, viewer, session, state, cursor)


def _parse_expiry(value: str) -> datetime | None:
    """A `datetime-local` form value, read as UTC; None when empty. Raises InvalidExpiry."""
    if not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidExpiry("The expiry is not a date and time.") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


@router.post("/links", response_class=HTMLResponse)
async def create(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    state: State,
    url: Annotated[str, Form(max_length=MAX_SUBMITTED_URL)],
    alias: Annotated[str, Form(max_length=64)] = "",
    redirect_type: Annotated[Literal["301", "302"], Form()] = "302",
    expires_at: Annotated[str, Form(max_length=40)] = "",
    domain: Annotated[str, Form(max_length=253)] = "",
) -> Response:
    """Shorten from the form; on success go to the new link's page, else show why."""
    if viewer is None:
        return _login_redirect(request)
    form = {"url": url, "alias": alias, "redirect_type": redirect_type, "expires_at": expires_at}
    try:
        await service.enforce_shorten_limits(
            platform, state.config, client_ip(request), signed_in=True, api_key_id=None
        )
        view = await service.shorten(
            state,
            viewer.user_id,
            url,
            alias=alias.strip() or None,
            domain=domain.strip() or None,
            redirect_type=int(redirect_type),
            expires_at=_parse_expiry(expires_at),
        )
    except Problem as problem:
        return await _home(
            request,
            viewer,
            session,
            state,
            None,
            error=problem.detail,
            form=form,
            status_code=problem.status,
        )
    return RedirectResponse(_link_path(view.link.code, view.domain_host), status_code=303)


@router.get("/links/{code}", response_class=HTMLResponse)
async def link_page(
    request: Request,
    code: Code,
    viewer: OptionalViewer,
    session: Session,
    state: State,
    domain: str | None = None,
    bucket: analytics.Granularity = "day",
) -> Response:
    """One of your links: where it goes, its clicks per day (or hour) and top sources."""
    if viewer is None:
        return _login_redirect(request)
    try:
        view = await service.owned_link(session, viewer.user_id, code, domain)
    except LinkNotFound as missing:
        context: dict[str, Any] = {"missing": missing.detail, "home": HOME}
        return templates.render(
            request, "url_shortener_link.html", context, viewer=viewer, status_code=404
        )
    stats = await analytics.click_stats(session, view.link.id, bucket)
    context = {
        "missing": None,
        "link": link_out(state, view),
        "stats": stats,
        "chart": bar_chart(stats.series, bucket),
        "bucket": bucket,
        "path": _link_path(code, domain),
        "home": HOME,
    }
    return templates.render(request, "url_shortener_link.html", context, viewer=viewer)


@router.post("/links/{code}/delete")
async def delete(
    request: Request,
    code: Code,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    state: State,
    domain: str | None = None,
) -> Response:
    """Delete your link and go back to the list."""
    if viewer is None:
        return _login_redirect(request)
    await service.delete_link(session, state, viewer.user_id, code, domain)
    return RedirectResponse(HOME, status_code=303)
