"""The chat page of a messaging system: `/<slug>/` (mounted by the system as its `pages`).

`pages_router(system, title)` returns the router; a system hooks it up in one line::

    SYSTEM = catalog_entry(SLUG).attach(..., pages=pages_router(SLUG, "Instant Messenger"))

The page itself is a shell (Jinja2, extending the shared `base.html`) plus one script of our own,
`chat.js` (vanilla JavaScript, no third-party code, nothing from a CDN), that talks to the
engine's public surface only: the HTTP API under `/api/<slug>` and the WebSocket `/ws/<slug>`,
both authenticated by the `casebook_access` session cookie. The script:

- registers a messaging device for the browser once (`POST /devices`) and keeps its id in
  localStorage, then says hello on the socket with that device id (the cookie authenticates);
- lists the conversations (unread count, last message, presence of direct peers), pages a
  thread's history by seq, sends text, emoji and attachments (uploaded first through
  `POST /attachments`, image thumbnails shown once the engine has made them), shows per-message
  receipts (sent / delivered / read; "read by k" in groups), presence and typing, all live;
- acknowledges every entry it displays (`ack`) and sends `read` while a thread is on screen;
- starts direct chats (by searching users) and groups.

Every word on the page comes from a strings table (`strings.py`): English unless the system
passes `localize`, a function that picks a `ChatLocale` for each request (Telegram picks its
catalogue's language from `?lang=` or Accept-Language). The template renders from the table and
hands it to the script as a JSON block (`#chat-strings`, `type="application/json"`, which no
browser executes, so the page runs no inline script). A localized page says its language in
`Content-Language` and varies by `Accept-Language` and `Cookie`.

Anonymous visitors get the login page, which brings them back here. Visiting the page creates
the user's profile in the system (so that others can find them by name).

Costs: rendering the page is one primary-key read (plus one insert on a user's first visit).
Loading it in the browser costs one request for the list of conversations (100 newest), then one
or two per conversation (its last message; the peer of a direct chat), four in flight at a
time; opening a thread costs two (members with their receipt marks, the newest 50 entries).
Everything after that arrives on the socket.

Static files (`chat.js`, `chat.css`) are served from a fixed list under `/<slug>/static/`,
versioned by the product version so a release never runs a stale script.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from casebook import __version__
from casebook.engines.messaging.contacts import ensure_profile
from casebook.engines.messaging.models import MessagingProfile
from casebook.engines.messaging.web.strings import DEFAULT_LOCALE, ChatLocale
from casebook.platform.context import Platform, get_platform
from casebook.platform.errors import NotFound
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer

HERE = Path(__file__).parent
templates = Templates(HERE / "templates")

STATIC_FILES = {
    "chat.js": "text/javascript; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
}
"""The page's own files and their media types; nothing else is served from the directory."""
STATIC_DIR = HERE / "static"

Localize = Callable[[Request], ChatLocale]
"""Picks the language of the chat page for a request."""


class StaticFileNotFound(NotFound):
    type_ = "messaging/static-file-not-found"
    title = "No such file"


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def pages_router(system: str, title: str, localize: Localize | None = None) -> APIRouter:
    """The chat page of `system` (shown as `title`) and its static files, for the app to mount
    at `/<system>/`. `localize` picks the page's language per request (None: English)."""
    router = APIRouter()
    home = f"/{system}/"

    @router.get("/", response_class=HTMLResponse)
    async def chat_page(
        request: Request,
        viewer: OptionalViewer,
        platform: Annotated[Platform, Depends(get_platform)],
    ) -> Response:
        """The chat for the signed-in user; anonymous visitors go to log in (303)."""
        if viewer is None:
            return _login_redirect(request)
        async with platform.db.session() as session:
            profile = await session.get(MessagingProfile, (system, viewer.user_id))
            name = profile.display_name if profile is not None else None
        if name is None:
            # Others find people by their profile here; opening the page makes it (a write,
            # so in a write session: once per user and system).
            async with platform.db.session(write=True) as session:
                name = (await ensure_profile(session, system, viewer.user_id)).display_name
        config: dict[str, Any] = {
            "system": system,
            "title": title,
            "api": f"/api/{system}",
            "ws": f"/ws/{system}",
            "home": home,
            "me": {"id": str(viewer.user_id), "name": name},
        }
        locale = DEFAULT_LOCALE if localize is None else localize(request)
        context = {
            "title": title,
            "config": config,
            "static": f"{home}static",
            "v": __version__,
            "locale": locale,
            "s": locale.strings,
            "home": home,
            "strings": {"lang": locale.lang, "strings": dict(locale.strings)},
        }
        headers = (
            None
            if localize is None
            else {"Content-Language": locale.lang, "Vary": "Accept-Language, Cookie"}
        )
        return templates.render(
            request, "messaging_chat.html", context, viewer=viewer, headers=headers
        )

    @router.get("/static/{name}")
    async def chat_static(name: str) -> FileResponse:
        """One of the page's own static files (404 for any other name)."""
        media_type = STATIC_FILES.get(name)
        if media_type is None:
            raise StaticFileNotFound(f"{home}static/ has no file {name!r}.")
        return FileResponse(
            STATIC_DIR / name,
            media_type=media_type,
            # The URL carries the version (?v=), so a browser may keep the file for a day.
            headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    return router
