"""Telegram's pages, mounted at `/telegram/`: the engine's chat page (`/telegram/`, in the
language of `?lang=` or Accept-Language, strings from the catalogue) and the bot console
(`/telegram/bots`).

The bot console is server-rendered HTML with plain forms (no script): the signed-in user's bots
with their state (live or revoked), webhook (URL, failures in a row, last error), number of
pending updates and the newest few of them; a form that creates a bot and shows its token once;
a button that revokes a token. Forms post with the session cookie and pass the same-origin check
(casebook.web.csrf). Interface strings come from the catalogue (i18n.py / i18n.toml) in the
language of `?lang=` or Accept-Language.

Costs: the console is one query for the user's bots (at most `bots.MAX_BOTS_PER_USER`), then
per bot one COUNT and one range read of its newest `RECENT_UPDATES` updates on the
(bot_id, update_id) primary key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from casebook.engines.messaging import web
from casebook.platform.context import Platform, get_platform
from casebook.platform.errors import Problem
from casebook.systems.telegram import bots, i18n, updates
from casebook.systems.telegram.models import TelegramBot, TelegramUpdate
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(Path(__file__).parent / "templates")
PlatformDep = Annotated[Platform, Depends(get_platform)]
RECENT_UPDATES = 5
"""Pending updates shown per bot, newest first."""
TEXT_PREVIEW = 80


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def _update_row(update: TelegramUpdate) -> dict[str, Any]:
    body = update.payload.get(update.kind) or {}
    text = body.get("text") or body.get("caption") or body.get("data") or ""
    if len(text) > TEXT_PREVIEW:
        text = text[: TEXT_PREVIEW - 1] + "…"
    return {"update_id": update.update_id, "kind": update.kind, "text": text}


async def _console_bots(platform: Platform, owner_id: int) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    async with platform.db.session() as session:
        for bot in await bots.list_bots(session, owner_id):
            recent = await session.scalars(
                select(TelegramUpdate)
                .where(TelegramUpdate.bot_id == bot.id)
                .order_by(TelegramUpdate.update_id.desc())
                .limit(RECENT_UPDATES)
            )
            rows.append(
                {
                    "bot": bot,
                    "pending": await updates.pending_count(session, bot.id),
                    "recent": [_update_row(u) for u in recent],
                }
            )
    return rows


def router(system: str, title: str) -> APIRouter:
    """The chat page of `system` plus its bot console, for the app to mount at `/<system>/`."""
    pages = APIRouter()
    pages.include_router(web.pages_router(system, title, localize=i18n.chat_locale))
    home = f"/{system}/"

    async def render(
        request: Request,
        viewer: Viewer,
        platform: Platform,
        lang: str,
        *,
        created: tuple[TelegramBot, str] | None = None,
        error: str | None = None,
        form: dict[str, str] | None = None,
        status_code: int = 200,
    ) -> HTMLResponse:
        context = {
            "t": i18n.strings(lang),
            "lang": lang,
            "languages": [(code, i18n.strings(code)["language_name"]) for code in i18n.LANGUAGES],
            "home": home,
            "bots": await _console_bots(platform, viewer.user_id),
            "created": created,
            "api_base": f"{request.base_url}api/{system}/bot",
            "error": error,
            "form": form or {"name": "", "username": ""},
        }
        headers = {"Content-Language": lang, "Vary": "Accept-Language, Cookie"}
        if created is not None:
            headers["Cache-Control"] = "no-store"  # the token must not sit in a cache
        return templates.render(
            request,
            "telegram_bots.html",
            context,
            viewer=viewer,
            status_code=status_code,
            headers=headers,
        )

    @pages.get("/bots", response_class=HTMLResponse)
    async def bot_console(
        request: Request, viewer: OptionalViewer, platform: PlatformDep
    ) -> Response:
        """The signed-in user's bots; anonymous visitors go to log in (303)."""
        if viewer is None:
            return _login_redirect(request)
        return await render(request, viewer, platform, i18n.choose(request))

    @pages.post("/bots", response_class=HTMLResponse)
    async def create_bot(
        request: Request,
        viewer: OptionalViewer,
        _: SameOrigin,
        platform: PlatformDep,
        name: Annotated[str, Form(max_length=200)],
        username: Annotated[str, Form(max_length=200)],
    ) -> Response:
        """Create a bot from the form and show its token, once."""
        if viewer is None:
            return _login_redirect(request)
        lang = i18n.choose(request)
        form = {"name": name, "username": username}
        try:
            # create_bot checks the name and username and answers the Problem to show.
            async with platform.db.session(write=True) as session:
                bot, token = await bots.create_bot(
                    session, viewer.user_id, name=name, username=username.strip()
                )
        except Problem as problem:
            return await render(
                request,
                viewer,
                platform,
                lang,
                error=problem.detail,
                form=form,
                status_code=problem.status,
            )
        return await render(request, viewer, platform, lang, created=(bot, token), status_code=201)

    @pages.post("/bots/{bot_id}/revoke")
    async def revoke_bot(
        request: Request,
        bot_id: int,
        viewer: OptionalViewer,
        _: SameOrigin,
        platform: PlatformDep,
    ) -> Response:
        """Revoke one of your bots' tokens, then back to the console (303)."""
        if viewer is None:
            return _login_redirect(request)
        lang = i18n.choose(request)
        try:
            async with platform.db.session(write=True) as session:
                await bots.revoke_bot(session, viewer.user_id, bot_id)
        except Problem as problem:
            return await render(
                request, viewer, platform, lang, error=problem.detail, status_code=problem.status
            )
        return RedirectResponse(f"{home}bots?lang={lang}", status_code=303)

    return pages
