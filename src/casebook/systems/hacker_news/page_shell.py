"""What every Hacker News page shares: the templates (with the `paragraphs` and `ago` filters),
rendering with the viewer's Hacker News account, problem pages, the login redirect for anonymous
writers and the local-path check of `goto`. The pages themselves are in `pages.py` (lists, items,
submit) and `people_pages.py` (profiles, login)."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from casebook import __version__
from casebook.platform.context import Platform, get_platform
from casebook.platform.errors import Problem
from casebook.systems.hacker_news import service
from casebook.systems.hacker_news.api import get_state
from casebook.systems.hacker_news.models import Account
from casebook.systems.hacker_news.runtime import HackerNews
from casebook.web.redirects import safe_next
from casebook.web.templating import Templates
from casebook.web.viewer import Viewer

HERE = FilePath(__file__).parent
templates = Templates(HERE / "templates")

HOME = "/hacker-news/"
PER_PAGE = 30
"""Stories per list page, as on Hacker News."""
USER_ITEMS = 30

PlatformDep = Annotated[Platform, Depends(get_platform)]
State = Annotated[HackerNews, Depends(get_state)]
ItemQuery = Annotated[int, Query(alias="id", ge=1, le=2**53)]
ItemField = Annotated[int, Form(alias="id", ge=1, le=2**53)]
GotoField = Annotated[str, Form(max_length=2048)]
TextField = Annotated[str, Form(max_length=4 * service.MAX_TEXT)]
TitleField = Annotated[str, Form(max_length=4 * service.MAX_TITLE)]


def paragraphs(text: str | None) -> list[str]:
    """A comment's or story's text as paragraphs (blank lines separate them, as on HN)."""
    if not text:
        return []
    blocks = [block.strip() for block in text.replace("\r\n", "\n").split("\n\n")]
    return [block for block in blocks if block]


def ago(created: datetime) -> str:
    """ "5 minutes ago" / "3 hours ago" / "2 days ago", as HN shows ages."""
    seconds = max(0, int(time.time() - created.timestamp()))
    for unit, size in (("day", 86_400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if count != 1 else ''} ago"
    return "just now"


templates.env.filters["paragraphs"] = paragraphs
templates.env.filters["ago"] = ago


def here_of(request: Request) -> str:
    """The request's path and query: where a form on this page comes back to."""
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def login_redirect(goto: str) -> RedirectResponse:
    """303 to the Hacker News login page, which returns to `goto` afterwards."""
    return RedirectResponse(f"{HOME}login?goto={quote(goto)}", status_code=303)


def local_goto(target: str, fallback: str = HOME) -> str:
    """A local path to return to after a form (anything else goes to `fallback`)."""
    safe = safe_next(target)
    return safe if safe != "/" or target == "/" else fallback


async def viewer_account(session: AsyncSession, viewer: Viewer | None) -> Account | None:
    return None if viewer is None else await session.get(Account, viewer.user_id)


def render(
    request: Request,
    name: str,
    viewer: Viewer | None,
    me: Account | None,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    values = {"home": HOME, "me": me, "here": here_of(request), "v": __version__, **context}
    return templates.render(request, name, values, viewer=viewer, status_code=status_code)


def message_page(
    request: Request,
    viewer: Viewer | None,
    me: Account | None,
    problem: Problem,
    back: str | None = None,
) -> HTMLResponse:
    """A page explaining why something was refused, with the problem's status code."""
    context = {"heading": problem.title, "detail": problem.detail, "back": back}
    return render(request, "hacker_news_message.html", viewer, me, context, problem.status)


async def writer_or_login(
    request: Request, session: AsyncSession, viewer: Viewer | None, goto: str
) -> Account | RedirectResponse:
    """The signed-in writer's account, or the redirect to log in / choose a username."""
    me = await viewer_account(session, viewer)
    return me if me is not None else login_redirect(goto)
