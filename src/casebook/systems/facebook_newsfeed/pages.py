"""`/facebook-newsfeed/`: the home feed as people use it — a composer with an audience picker,
the reader's ranked feed with reactions and comments, sponsored ad slots with tracked clicks, and
new posts arriving live — server-rendered over the same functions as the JSON API.

Signed-in only (anonymous visitors go to `/login?next=…`). Every POST passes the same-origin
check (`casebook.web.csrf`) and answers 303 back to the feed, or the feed again with the
problem's status and message. Privacy is the engine's: the page shows exactly the posts
`home.newsfeed_page` returns for the reader (visible to them now, from sources they follow) and
the comments `comments.list_comments` lets them see; reacting or commenting on a post they may not
see is the engine's 404.

The page loads `static/newsfeed.js` (ours; no third-party code), which opens
`/ws/facebook-newsfeed` with the session cookie and puts each pushed post on top of the feed
(and takes deleted ones out) without a reload.

Costs of one page: the Newsfeed read (`home.newsfeed_page`: the engine's read, analytics, ad
slots), one indexed `IN` probe for the reader's own reactions on the page, and for each post
with comments one range scan of its first `COMMENTS_SHOWN` comments: O(P) queries for P posts.
"""

from __future__ import annotations

from pathlib import Path as FilePath
from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, Path, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import select

from casebook import __version__
from casebook.engines.feed import comments, moderation, reactions, service
from casebook.engines.feed.engagement_api import comment_views, engagement_config
from casebook.engines.feed.engagement_models import FeedReaction
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import utcnow
from casebook.platform.errors import NotFound, Problem
from casebook.systems.facebook_newsfeed import home
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

SLUG = "facebook-newsfeed"
HOME = f"/{SLUG}/"
HERE = FilePath(__file__).parent
PER_PAGE = 20
COMMENTS_SHOWN = 3
"""Comments shown under each post of the feed (the first of its thread, depth-first)."""
AUDIENCES = (
    ("public", "Public"),
    ("friends", "Friends"),
    ("followers", "Followers"),
    ("only_me", "Only me"),
)
STATIC_FILES = {
    "newsfeed.js": "text/javascript; charset=utf-8",
    "newsfeed.css": "text/css; charset=utf-8",
}
"""The page's own files and their media types; nothing else is served from `static/`."""

templates = Templates(HERE / "templates")
router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
PostId = Annotated[int, Path(ge=1, le=2**63 - 1)]
BodyField = Annotated[str, Form(max_length=20_000)]


class StaticFileNotFound(NotFound):
    type_ = "facebook-newsfeed/static-file-not-found"
    title = "No such file"


def _login_redirect(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


async def _my_reactions(platform: Platform, user_id: int, post_ids: list[int]) -> dict[str, str]:
    """The reader's own reaction kind per post id (as strings), one indexed `IN` probe."""
    if not post_ids:
        return {}
    async with platform.db.session() as session:
        rows = await session.execute(
            select(FeedReaction.target_id, FeedReaction.kind).where(
                FeedReaction.system == SLUG,
                FeedReaction.target_kind == "post",
                FeedReaction.target_id.in_(post_ids),
                FeedReaction.user_id == user_id,
            )
        )
        return {str(target): kind for target, kind in rows}


async def _first_comments(
    platform: Platform, user_id: int, posts: list[dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """The first `COMMENTS_SHOWN` comments the reader may see under each post that has any."""
    shown: dict[str, list[dict[str, Any]]] = {}
    async with platform.db.session() as session:
        for post in posts:
            if not post["counts"].get("comments"):
                continue
            page = await comments.list_comments(
                session, SLUG, user_id, "post", int(post["id"]), limit=COMMENTS_SHOWN
            )
            shown[post["id"]] = await comment_views(session, SLUG, page.items)
    return shown


async def _feed_page(
    request: Request,
    viewer: Viewer,
    platform: Platform,
    *,
    rank: str = "engagement",
    cursor: str | None = None,
    error: str | None = None,
    draft: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    page = await home.newsfeed_page(
        platform, viewer.user_id, rank=rank, cursor=cursor, limit=PER_PAGE
    )
    posts = [item["post"] for item in page["items"] if item["type"] == "post"]
    mine = await _my_reactions(platform, viewer.user_id, [int(p["id"]) for p in posts])
    thread = await _first_comments(platform, viewer.user_id, posts)
    reaction_kinds = engagement_config(platform, SLUG).reaction_kinds
    context = {
        "home": HOME,
        "v": __version__,
        "items": page["items"],
        "next_cursor": page["next_cursor"],
        "rank": page["rank"],
        "experiment": page["experiment"],
        "mine": mine,
        "thread": thread,
        "reaction_kinds": reaction_kinds,
        "audiences": AUDIENCES,
        "error": error,
        "draft": draft or {"body": "", "audience": "friends"},
        "live": {
            "ws": f"/ws/{SLUG}",
            "api": f"/api/{SLUG}",
            "home": HOME,
            "me": str(viewer.user_id),
            "loaded_at": utcnow().isoformat(),
        },
    }
    return templates.render(
        request, "facebook_newsfeed_home.html", context, viewer=viewer, status_code=status_code
    )


@router.get("/", response_class=HTMLResponse)
async def feed(
    request: Request,
    viewer: OptionalViewer,
    platform: PlatformDep,
    rank: Annotated[Literal["chronological", "engagement"], Query()] = "engagement",
    cursor: Annotated[str | None, Query(max_length=512)] = None,
) -> Response:
    """The reader's home feed (ranked by relevance, or `?rank=chronological`) and composer."""
    if viewer is None:
        return _login_redirect(request)
    try:
        return await _feed_page(request, viewer, platform, rank=rank, cursor=cursor)
    except Problem as problem:  # an expired or foreign cursor: start from the top again
        return await _feed_page(
            request, viewer, platform, rank=rank, error=problem.detail, status_code=problem.status
        )


@router.post("/posts", response_class=HTMLResponse)
async def create_post(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    body: BodyField = "",
    audience: Annotated[str, Form(max_length=32)] = "friends",
) -> Response:
    """Publish a post from the composer; back to the feed (the post fans out to the audience)."""
    if viewer is None:
        return _login_redirect(request)
    try:
        await service.publish(
            feed_runtime(platform, SLUG), viewer.user_id, body=body, audience=audience
        )
    except Problem as problem:
        draft = {"body": body, "audience": audience}
        return await _feed_page(
            request,
            viewer,
            platform,
            error=problem.detail,
            draft=draft,
            status_code=problem.status,
        )
    return RedirectResponse(HOME, status_code=303)


@router.post("/posts/{post_id}/react", response_class=HTMLResponse)
async def react(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    post_id: PostId,
    kind: Annotated[str, Form(min_length=1, max_length=16)],
) -> Response:
    """Set the reader's reaction to `kind`, or take it back (`kind=remove`); back to the post."""
    if viewer is None:
        return _login_redirect(request)
    try:
        async with platform.db.session(write=True) as session:
            if kind == "remove":
                await reactions.unreact(session, SLUG, viewer.user_id, "post", post_id)
            else:
                allowed = engagement_config(platform, SLUG).reaction_kinds
                await reactions.react(
                    session, SLUG, viewer.user_id, "post", post_id, kind, allowed=allowed
                )
    except Problem as problem:
        return await _feed_page(
            request, viewer, platform, error=problem.detail, status_code=problem.status
        )
    return RedirectResponse(f"{HOME}#post-{post_id}", status_code=303)


@router.post("/posts/{post_id}/comments", response_class=HTMLResponse)
async def comment(
    request: Request,
    viewer: OptionalViewer,
    _: SameOrigin,
    platform: PlatformDep,
    post_id: PostId,
    body: BodyField = "",
) -> Response:
    """Comment on a post the reader can see (screened for spam like the API's); back to it."""
    if viewer is None:
        return _login_redirect(request)
    config = engagement_config(platform, SLUG)
    try:
        async with platform.db.session(write=True) as session:
            verdict = await moderation.screen(
                session, platform.rate_limiter, SLUG, viewer.user_id, body, config.moderation
            )
            await comments.add_comment(
                session,
                SLUG,
                viewer.user_id,
                "post",
                post_id,
                body,
                spam=verdict.spam,
                rules=config.comments,
            )
    except Problem as problem:
        return await _feed_page(
            request, viewer, platform, error=problem.detail, status_code=problem.status
        )
    return RedirectResponse(f"{HOME}#post-{post_id}", status_code=303)


@router.get("/static/{name}")
async def static_file(name: str) -> FileResponse:
    """One of the page's own static files (404 for any other name)."""
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        raise StaticFileNotFound(f"{HOME}static/ has no file {name!r}.")
    return FileResponse(
        HERE / "static" / name,
        media_type=media_type,
        # The URL carries the version (?v=), so a browser may keep the file for a day.
        headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
