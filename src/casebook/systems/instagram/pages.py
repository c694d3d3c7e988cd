"""`/instagram/`: the app as people use it — home feed with the stories tray, profiles with
their grid, a post page (carousel, blurhash placeholders, likes, threaded comments), the story
viewer, explore, hashtag pages, search, and the upload form — server-rendered over the same
service functions as the JSON API, with no script at all (the carousel is CSS scroll-snap).

Signed-in pages use the session cookie; anonymous visitors may read what an anonymous API
caller may (explore, public profiles and posts) and are sent to `/login?next=…` to write. Every
POST passes the same-origin check (`casebook.web.csrf.SameOrigin`). Privacy is the services':
a private account's grid is empty for non-followers (`profiles.profile_of`), a post the viewer
may not see is a 404 page (`posts.readable_post`), a story the same (`stories.view_story`).

Upload flow: `POST /instagram/new` streams each file into the blob store (`media.upload`) and
redirects to `/instagram/new?media=<ids>`, which shows every item's processing state and, once
all are ready, the caption form that publishes them (`posts.create_post`) or shares one as a
story. Pending items make the page refresh itself every two seconds (`<meta http-equiv>`).

Costs: the feed page is one `service.home_feed` page plus the tray (three queries); a profile
is `profiles.profile_of`; a post page one visibility check, one hydration, one comment page.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Path, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import comments, moderation, reactions, service
from casebook.engines.feed import posts as feed_posts
from casebook.engines.feed.audience import user_ids_for_handles
from casebook.engines.feed.engagement_api import comment_views, engagement_config
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import InvalidInput, NotFound, Problem
from casebook.systems.instagram import discovery, media, placeholders, posts, profiles, stories
from casebook.systems.instagram.media import SLUG
from casebook.systems.instagram.models import InstagramMedia
from casebook.web.csrf import SameOrigin
from casebook.web.templating import Templates
from casebook.web.viewer import OptionalViewer, Viewer

HOME = "/instagram/"
FEED_PAGE = 10
UPLOAD_FILES = posts.MAX_ITEMS
templates = Templates(FilePath(__file__).with_name("templates"))
templates.env.filters["placeholder"] = placeholders.data_uri
router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
PostId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Handle = Annotated[str, Path(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$")]
Tag = Annotated[str, Path(min_length=1, max_length=100, pattern=r"^\w+$")]


class PageNotFound(NotFound):
    type_ = "instagram/page-not-found"
    title = "Sorry, this page isn't available"


def _login(request: Request) -> RedirectResponse:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/login?next={quote(here)}", status_code=303)


def _render(
    request: Request,
    name: str,
    viewer: Viewer | None,
    context: dict[str, Any],
    status_code: int = 200,
) -> HTMLResponse:
    return templates.render(
        request, name, {"home": HOME, **context}, viewer=viewer, status_code=status_code
    )


def _problem_page(request: Request, viewer: Viewer | None, problem: Problem) -> HTMLResponse:
    """A page explaining a refusal, with the problem's status code."""
    context = {"heading": problem.title, "detail": problem.detail}
    return _render(request, "instagram_message.html", viewer, context, problem.status)


async def _handle_owner(session: AsyncSession, handle: str) -> int:
    found = await user_ids_for_handles(session, SLUG, [handle])
    user_id = found.get(handle.lower())
    if user_id is None:
        raise PageNotFound(f"No account @{handle}.")
    return user_id


# Reading -------------------------------------------------------------------------------------


@router.get("/", response_class=HTMLResponse)
async def home_feed(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    platform: PlatformDep,
    cursor: Annotated[str | None, Query(max_length=1024)] = None,
) -> Response:
    """The home feed (newest first, by cursor) under the stories tray; explore when signed out."""
    if viewer is None:
        return RedirectResponse(f"{HOME}explore", status_code=303)
    try:
        page = await service.home_feed(
            feed_runtime(platform, SLUG),
            session,
            viewer.user_id,
            rank="chronological",
            cursor=cursor,
            limit=FEED_PAGE,
        )
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    tray = await stories.tray(session, viewer.user_id)
    me = await profiles.profile_of(session, viewer.user_id, viewer.user_id, limit=1)
    context = {"posts": page.items, "next_cursor": page.next_cursor, "tray": tray, "me": me}
    return _render(request, "instagram_feed.html", viewer, context)


@router.get("/explore", response_class=HTMLResponse)
async def explore(request: Request, viewer: OptionalViewer, session: Session) -> HTMLResponse:
    """Trending hashtags and posts of the week."""
    viewer_id = viewer.user_id if viewer else None
    found = await discovery.trending_posts(session, viewer_id, 30)
    views = await feed_posts.hydrate(session, SLUG, found)
    context = {
        "hashtags": await discovery.trending_hashtags(session, 20),
        "tiles": [profiles.grid_item(v) for v in views],
    }
    return _render(request, "instagram_explore.html", viewer, context)


@router.get("/tags/{tag}", response_class=HTMLResponse)
async def hashtag_page(
    request: Request, viewer: OptionalViewer, session: Session, tag: Tag
) -> HTMLResponse:
    """The newest posts with `#tag` the viewer may see."""
    found, _ = await discovery.posts_with(
        session, viewer.user_id if viewer else None, hashtag=tag, before=None, limit=30
    )
    views = await feed_posts.hydrate(session, SLUG, found)
    context = {"tag": tag.lower(), "tiles": [profiles.grid_item(v) for v in views]}
    return _render(request, "instagram_tag.html", viewer, context)


@router.get("/search", response_class=HTMLResponse)
async def search(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    q: Annotated[str, Query(max_length=100)] = "",
) -> HTMLResponse:
    """Search accounts, hashtags and places by prefix."""
    results: dict[str, Any] | None = None
    error = None
    if q.strip():
        try:
            results = await discovery.search(session, viewer.user_id if viewer else None, q, 20)
        except InvalidInput as problem:
            error = problem.detail
    context = {"q": q, "results": results, "error": error}
    return _render(request, "instagram_search.html", viewer, context, 422 if error else 200)


@router.get("/u/{handle}", response_class=HTMLResponse)
async def profile_page(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    handle: Handle,
    cursor: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> HTMLResponse:
    """A profile: header, counts, follow button and the grid (hidden when private)."""
    viewer_id = viewer.user_id if viewer else None
    try:
        user_id = await _handle_owner(session, handle)
        profile = await profiles.profile_of(session, viewer_id, user_id, before=cursor, limit=24)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    return _render(request, "instagram_profile.html", viewer, {"profile": profile})


@router.get("/p/{post_id}", response_class=HTMLResponse)
async def post_page(
    request: Request, viewer: OptionalViewer, session: Session, post_id: PostId
) -> HTMLResponse:
    """One post: its carousel, caption, location, tags, likes and the comment thread."""
    viewer_id = viewer.user_id if viewer else None
    try:
        post = await feed_posts.readable_post(session, SLUG, viewer_id, post_id)
        if not (post.data or {}).get("media"):
            raise PageNotFound(f"No Instagram post {post_id}.")
        (view,) = await feed_posts.hydrate(session, SLUG, [post])
        thread = await comments.list_comments(session, SLUG, viewer_id, "post", post_id, limit=100)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    liked = (
        await reactions.reaction_of(session, SLUG, viewer_id, "post", post_id)
        if viewer_id is not None
        else None
    )
    context = {
        "post": view,
        "comments": await comment_views(session, SLUG, thread.items),
        "liked": liked is not None,
    }
    return _render(request, "instagram_post.html", viewer, context)


@router.get("/stories/{story_id}", response_class=HTMLResponse)
async def story_page(
    request: Request, viewer: OptionalViewer, session: Session, story_id: PostId
) -> Response:
    """Watch a story (the view is recorded); its author also sees who viewed it. The next
    story of the tray is linked."""
    if viewer is None:
        return _login(request)
    try:
        story = await stories.view_story(session, viewer.user_id, story_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    mine = story.author_id == viewer.user_id
    seen_by = await stories.viewers(session, viewer.user_id, story_id, 200) if mine else []
    following: str | None = None
    tray = await stories.tray(session, viewer.user_id)
    ordered = [s["id"] for group in tray for s in group["stories"]]
    if str(story_id) in ordered and ordered.index(str(story_id)) + 1 < len(ordered):
        following = ordered[ordered.index(str(story_id)) + 1]
    author = await profiles.profile_of(session, viewer.user_id, story.author_id, limit=1)
    context = {
        "story": stories.story_view(story, for_author=mine),
        "author": author,
        "mine": mine,
        "expired": story.expires_at <= utcnow(),
        "viewers": seen_by,
        "next_story": following,
    }
    return _render(request, "instagram_story.html", viewer, context)


# Writing -------------------------------------------------------------------------------------


@router.post("/u/{handle}/follow", response_class=HTMLResponse)
async def follow(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    platform: PlatformDep,
    handle: Handle,
    _: SameOrigin,
    action: Annotated[str, Form(pattern=r"^(follow|unfollow)$")] = "follow",
) -> Response:
    """Follow (a request, for a private account) or unfollow, then back to the profile."""
    if viewer is None:
        return _login(request)
    runtime = feed_runtime(platform, SLUG)
    try:
        user_id = await _handle_owner(session, handle)
        if action == "follow":
            await service.follow(runtime, viewer.user_id, user_id)
        else:
            await service.unfollow(runtime, viewer.user_id, user_id)
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    return RedirectResponse(f"{HOME}u/{handle}", status_code=303)


@router.post("/p/{post_id}/like", response_class=HTMLResponse)
async def toggle_like(
    request: Request, viewer: OptionalViewer, session: Session, post_id: PostId, _: SameOrigin
) -> Response:
    """Like the post, or take the like back."""
    if viewer is None:
        return _login(request)
    try:
        current = await reactions.reaction_of(session, SLUG, viewer.user_id, "post", post_id)
        if current is None:
            await reactions.react(session, SLUG, viewer.user_id, "post", post_id, "like")
        else:
            await reactions.unreact(session, SLUG, viewer.user_id, "post", post_id)
    except Problem as problem:
        await session.rollback()
        return _problem_page(request, viewer, problem)
    return RedirectResponse(f"{HOME}p/{post_id}", status_code=303)


@router.post("/p/{post_id}/comments", response_class=HTMLResponse)
async def add_comment(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    platform: PlatformDep,
    post_id: PostId,
    _: SameOrigin,
    body: Annotated[str, Form(max_length=2200)],
    parent_id: Annotated[int | None, Form(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Comment on the post (or reply to one of its comments), screened like the API's."""
    if viewer is None:
        return _login(request)
    config = engagement_config(platform, SLUG)
    try:
        if not body.strip():
            raise InvalidInput("Write something first.")
        verdict = await moderation.screen(
            session, platform.rate_limiter, SLUG, viewer.user_id, body, config.moderation
        )
        await comments.add_comment(
            session,
            SLUG,
            viewer.user_id,
            "post",
            post_id,
            body.strip(),
            parent_id=parent_id,
            spam=verdict.spam,
            rules=config.comments,
        )
    except Problem as problem:
        await session.rollback()
        return _problem_page(request, viewer, problem)
    return RedirectResponse(f"{HOME}p/{post_id}#comments", status_code=303)


@router.get("/new", response_class=HTMLResponse)
async def upload_form(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    media_ids: Annotated[str, Query(alias="media", max_length=300)] = "",
) -> Response:
    """The upload form, or — with `?media=<ids>` — the uploaded items and the caption form."""
    if viewer is None:
        return _login(request)
    items: list[InstagramMedia] = []
    try:
        wanted = [int(part) for part in media_ids.split(",") if part][:UPLOAD_FILES]
    except ValueError:
        wanted = []
    for media_id in wanted:
        try:
            items.append(await media.own_media(session, viewer.user_id, media_id))
        except Problem as problem:
            return _problem_page(request, viewer, problem)
    views = [media.media_view(m) for m in items]
    context = {
        "items": views,
        "pending": any(m.status == "pending" for m in items),
        "ready": bool(items) and all(m.status == "ready" for m in items),
        "media_param": ",".join(str(m.id) for m in items),
        "max_files": UPLOAD_FILES,
        "max_caption": posts.MAX_CAPTION,
    }
    return _render(request, "instagram_upload.html", viewer, context)


async def _chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(256 * 1024):
        yield chunk


@router.post("/new", response_class=HTMLResponse)
async def upload_files(
    request: Request,
    viewer: OptionalViewer,
    platform: PlatformDep,
    _: SameOrigin,
    files: Annotated[list[UploadFile], File()],
) -> Response:
    """Store the chosen photos/videos and start their processing."""
    if viewer is None:
        return _login(request)
    try:
        if not 1 <= len(files) <= UPLOAD_FILES:
            raise posts.InvalidInstagramPost(f"Choose 1 to {UPLOAD_FILES} files.")
        made = [
            await media.upload(platform, viewer.user_id, _chunks(f), f.content_type) for f in files
        ]
    except Problem as problem:
        return _problem_page(request, viewer, problem)
    ids = ",".join(str(m.id) for m in made)
    return RedirectResponse(f"{HOME}new?media={ids}", status_code=303)


@router.post("/publish", response_class=HTMLResponse)
async def publish(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    platform: PlatformDep,
    _: SameOrigin,
    media_ids: Annotated[str, Form(alias="media", max_length=300)],
    caption: Annotated[str, Form(max_length=posts.MAX_CAPTION)] = "",
    location: Annotated[str, Form(max_length=100)] = "",
    audience: Annotated[str, Form(max_length=16)] = "public",
    share_as: Annotated[str, Form(pattern=r"^(post|story)$")] = "post",
) -> Response:
    """Publish the uploaded items as a post (a carousel past one), or the first as a story."""
    if viewer is None:
        return _login(request)
    try:
        ids = [int(part) for part in media_ids.split(",") if part]
    except ValueError:
        return _problem_page(request, viewer, posts.InvalidInstagramPost("Bad media list."))
    try:
        if share_as == "story":
            if len(ids) != 1:
                raise posts.InvalidInstagramPost("A story is one photo or video.")
            story = await stories.create_story(session, viewer.user_id, ids[0], caption)
            return RedirectResponse(f"{HOME}stories/{story.id}", status_code=303)
        view = await posts.create_post(
            feed_runtime(platform, SLUG),
            viewer.user_id,
            caption=caption,
            media_ids=ids,
            audience=audience,
            location={"name": location} if location.strip() else None,
        )
    except Problem as problem:
        await session.rollback()
        return _problem_page(request, viewer, problem)
    return RedirectResponse(f"{HOME}p/{view['id']}", status_code=303)


@router.post("/profile", response_class=HTMLResponse)
async def edit_profile(
    request: Request,
    viewer: OptionalViewer,
    session: Session,
    _: SameOrigin,
    bio: Annotated[str, Form(max_length=profiles.MAX_BIO)] = "",
    website: Annotated[str, Form(max_length=profiles.MAX_WEBSITE)] = "",
) -> Response:
    """Change one's bio and website from one's own profile page."""
    if viewer is None:
        return _login(request)
    try:
        await profiles.update_profile(session, viewer.user_id, bio=bio, website=website)
    except Problem as problem:
        await session.rollback()
        return _problem_page(request, viewer, problem)
    handle = (await profiles.profile_of(session, viewer.user_id, viewer.user_id, limit=1))["handle"]
    return RedirectResponse(f"{HOME}u/{handle}", status_code=303)
