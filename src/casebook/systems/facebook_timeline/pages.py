"""`/facebook-timeline/`: a user's profile timeline and their own activity log, server-rendered
over the same functions as the JSON API (`profile`, `life_events`, `photos`, `featured`,
`activity` and the feed engine's `service`).

- `GET /users/{id}` — the timeline as the visitor may see it: featured posts on top, then items
  grouped by year and month, a year/month navigation built from `profile.month_index` (only
  months holding an item this visitor may see), life events shown as such, photos inline. The
  owner also gets the composer (text post, photo, life event, each with an audience picker)
  and pin/unpin buttons.
- `GET /activity` — the signed-in user's own activity log, filterable by kind and date; each
  entry has a button that posts a form undoing it. There is no way to name another user's log:
  the page always shows the visitor's own, and undo acts on the visitor's entries only
  (`activity.undo` answers 404 for anybody else's).

Writes need the session cookie (anonymous visitors go to `/login?next=…`) and pass the
same-origin check (`casebook.web.csrf`). A refused write re-renders the page with the reason and
the problem's status; nothing is changed. Cost: a profile page is one timeline page
(`profile.read_timeline`) plus the month index (`profile.month_index`).
"""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import posts, service
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import InvalidInput, Problem
from casebook.systems.facebook_timeline import activity, featured, life_events, photos, profile
from casebook.systems.facebook_timeline.api import LifeEventType
from casebook.systems.facebook_timeline.models import LIFE_EVENT_TYPES, SYSTEM
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

templates = Templates(FilePath(__file__).with_name("templates"))
router = APIRouter()

HOME = "/facebook-timeline/"
API = "/api/facebook-timeline"
ITEMS_PER_PAGE = 20
ENTRIES_PER_PAGE = 50
AUDIENCES = (
    ("public", "Public"),
    ("followers", "Followers"),
    ("friends", "Friends"),
    ("only_me", "Only me"),
)
UNDO_LABELS = {
    "post": "Delete",
    "reaction": "Remove reaction",
    "comment": "Delete comment",
    "follow": "Unfollow",
    "friend": "Unfriend",
}

PlatformDep = Annotated[Platform, Depends(get_platform)]
UserId = Annotated[int, Path(ge=1, le=2**63 - 1)]
AudienceField = Annotated[str, Form(max_length=32)]


class InvalidDate(InvalidInput):
    type_ = "facebook-timeline/invalid-date"
    title = "Invalid date"


def _runtime(platform: Platform) -> FeedRuntime:
    return feed_runtime(platform, SYSTEM)


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def _profile_path(user_id: int) -> str:
    return f"{HOME}users/{user_id}"


def _form_date(value: str, name: str) -> date | None:
    """A date field of a form (`YYYY-MM-DD`); None when left empty. Raises InvalidDate."""
    if not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise InvalidDate(f"{name} is a date, YYYY-MM-DD.") from None


def _years(months: list[dict[str, Any]]) -> list[tuple[int, list[dict[str, Any]]]]:
    """The month index grouped by year, newest first (it arrives newest first)."""
    years: list[tuple[int, list[dict[str, Any]]]] = []
    for month in months:
        if not years or years[-1][0] != month["year"]:
            years.append((month["year"], []))
        years[-1][1].append(month)
    return years


async def _profile_page(
    request: Request,
    viewer: Viewer | None,
    session: AsyncSession,
    owner_id: int,
    *,
    cursor: str | None = None,
    until: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    viewer_id = viewer.user_id if viewer is not None else None
    try:
        page = await profile.read_timeline(
            session, viewer_id, owner_id, cursor=cursor, until=until, limit=ITEMS_PER_PAGE
        )
        months = await profile.month_index(session, viewer_id, owner_id)
    except Problem as problem:
        return _message(request, viewer, problem)
    is_owner = viewer_id == owner_id
    older = None
    if page.next_cursor is not None:
        older = f"{_profile_path(owner_id)}?{urlencode({'cursor': page.next_cursor})}"
    context: dict[str, Any] = {
        "home": HOME,
        "api": API,
        "owner": page.owner,
        "profile_path": _profile_path(owner_id),
        "is_owner": is_owner,
        "pinned": page.pinned,
        "sections": page.sections,
        "years": _years(months),
        "current": until,
        "older": older,
        "error": error,
        "audiences": AUDIENCES,
        "event_types": [(kind, life_events.LABELS[kind]) for kind in LIFE_EVENT_TYPES],
        "month_names": list(calendar.month_name),
        "max_body": posts.MAX_BODY,
    }
    return templates.render(
        request, "facebook_timeline_profile.html", context, viewer=viewer, status_code=status_code
    )


def _message(request: Request, viewer: Viewer | None, problem: Problem) -> HTMLResponse:
    context = {"home": HOME, "title": problem.title, "detail": problem.detail}
    return templates.render(
        request,
        "facebook_timeline_message.html",
        context,
        viewer=viewer,
        status_code=problem.status,
    )


@router.get("/", response_class=HTMLResponse)
async def home(request: Request, viewer: OptionalViewer) -> Response:
    """The signed-in user's own timeline (anonymous visitors are asked to log in)."""
    if viewer is None:
        return _login_redirect(request)
    return RedirectResponse(_profile_path(viewer.user_id), status_code=303)


@router.get("/users/{user_id}", response_class=HTMLResponse)
async def timeline_page(
    request: Request,
    user_id: UserId,
    viewer: OptionalViewer,
    session: Session,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
    until: Annotated[str | None, Query(max_length=7)] = None,
) -> HTMLResponse:
    """A user's timeline as the visitor may see it; `until=YYYY-MM` jumps to a month."""
    return await _profile_page(request, viewer, session, user_id, cursor=cursor, until=until)


async def _after_write(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    problem: Problem | None,
) -> Response:
    """Back to one's timeline after a write, or the timeline with the reason it was refused."""
    if problem is None:
        return RedirectResponse(_profile_path(viewer.user_id), status_code=303)
    return await _profile_page(
        request,
        viewer,
        session,
        viewer.user_id,
        error=problem.detail,
        status_code=problem.status,
    )


@router.post("/posts", response_class=HTMLResponse)
async def create_post(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    content: Annotated[str, Form(max_length=4 * posts.MAX_BODY)],
    audience: AudienceField = "public",
) -> Response:
    """Post on one's own timeline from the composer."""
    if viewer is None:
        return _login_redirect(request)
    problem: Problem | None = None
    try:
        if not content.strip():
            raise InvalidInput("Write something to post.")
        await service.publish(_runtime(platform), viewer.user_id, body=content, audience=audience)
    except Problem as refused:
        problem = refused
    return await _after_write(request, viewer, session, problem)


@router.post("/life-events", response_class=HTMLResponse)
async def create_life_event(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    event_type: Annotated[LifeEventType, Form()],
    event_date: Annotated[str, Form(max_length=10)],
    title: Annotated[str, Form(max_length=200)] = "",
    description: Annotated[str, Form(max_length=2000)] = "",
    audience: AudienceField = "public",
) -> Response:
    """Record a life event with its own date from the composer's life-event form."""
    if viewer is None:
        return _login_redirect(request)
    problem: Problem | None = None
    try:
        when = _form_date(event_date, "The date")
        if when is None:
            raise InvalidDate("A life event needs its date.")
        await life_events.create_life_event(
            _runtime(platform),
            viewer.user_id,
            event_type=event_type,
            event_date=when,
            title=title,
            description=description,
            audience=audience,
            today=datetime.now(UTC).date(),
        )
    except Problem as refused:
        problem = refused
    return await _after_write(request, viewer, session, problem)


@router.post("/photos", response_class=HTMLResponse)
async def upload_photo(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    photo: Annotated[UploadFile, File()],
    caption: Annotated[str, Form(max_length=2000)] = "",
    audience: AudienceField = "public",
) -> Response:
    """Post a photo (JPEG, PNG or GIF up to 10 MB) from the composer."""
    if viewer is None:
        return _login_redirect(request)
    problem: Problem | None = None
    try:
        image = await photo.read(photos.MAX_PHOTO_BYTES + 1)
        if len(image) > photos.MAX_PHOTO_BYTES:
            raise photos.InvalidPhoto(f"A photo is at most {photos.MAX_PHOTO_BYTES} bytes.")
        await photos.post_photo(
            _runtime(platform),
            viewer.user_id,
            content_type=(photo.content_type or "").split(";")[0].strip().lower(),
            image=image,
            caption=caption,
            audience=audience,
        )
    except Problem as refused:
        problem = refused
    return await _after_write(request, viewer, session, problem)


@router.post("/pins", response_class=HTMLResponse)
async def change_pin(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    post_id: Annotated[int, Form(ge=1, le=2**63 - 1)],
    action: Annotated[Literal["pin", "unpin"], Form()],
) -> Response:
    """Feature one of one's posts on top of one's timeline, or stop featuring it."""
    if viewer is None:
        return _login_redirect(request)
    problem: Problem | None = None
    try:
        if action == "pin":
            await featured.pin(session, viewer.user_id, post_id)
        elif not await featured.unpin(session, viewer.user_id, post_id):
            raise posts.PostNotFound(f"Post {post_id} is not pinned.")
    except Problem as refused:
        await session.rollback()
        problem = refused
    return await _after_write(request, viewer, session, problem)


async def _activity_page(
    request: Request,
    viewer: Viewer,
    session: AsyncSession,
    *,
    kinds: list[str],
    since: str,
    until: str,
    cursor: str | None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    filters = {"kind": kinds, "since": since, "until": until}
    items: list[dict[str, Any]] = []
    older = None
    try:
        page = await activity.read_log(
            session,
            viewer.user_id,
            kinds=kinds,
            since=_form_date(since, "`since`"),
            until=_form_date(until, "`until`"),
            cursor=cursor,
            limit=ENTRIES_PER_PAGE,
        )
        items = page.items
        if page.next_cursor is not None:
            query = urlencode({**filters, "cursor": page.next_cursor}, doseq=True)
            older = f"{HOME}activity?{query}"
    except Problem as problem:
        error, status_code = problem.detail, problem.status
    context: dict[str, Any] = {
        "home": HOME,
        "profile_path": _profile_path(viewer.user_id),
        "items": items,
        "kinds": activity.KINDS,
        "filters": filters,
        "back": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "undo_labels": UNDO_LABELS,
        "older": older,
        "error": error,
    }
    return templates.render(
        request,
        "facebook_timeline_activity.html",
        context,
        viewer=viewer,
        status_code=status_code,
    )


@router.get("/activity", response_class=HTMLResponse)
async def activity_page(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    kind: Annotated[list[str] | None, Query(max_length=5)] = None,
    since: Annotated[str, Query(max_length=10)] = "",
    until: Annotated[str, Query(max_length=10)] = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    """The visitor's own activity log, newest first, by kind and date (inclusive)."""
    if viewer is None:
        return _login_redirect(request)
    return await _activity_page(
        request, viewer, session, kinds=kind or [], since=since, until=until, cursor=cursor
    )


@router.post("/activity/undo", response_class=HTMLResponse)
async def undo_activity(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    session: Session,
    platform: PlatformDep,
    entry_id: Annotated[str, Form(max_length=40)],
) -> Response:
    """Delete one entry of the visitor's log, undoing its action; back to the log."""
    if viewer is None:
        return _login_redirect(request)
    try:
        await activity.undo(_runtime(platform), viewer.user_id, entry_id)
    except Problem as problem:
        return await _activity_page(
            request,
            viewer,
            session,
            kinds=[],
            since="",
            until="",
            cursor=None,
            error=problem.detail,
            status_code=problem.status,
        )
    return RedirectResponse(f"{HOME}activity", status_code=303)
