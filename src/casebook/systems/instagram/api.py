"""Instagram's own HTTP API, mounted under `/api/instagram` beside the feed engine's (profiles,
follows and follow requests, private accounts, `GET /posts/{id}`, `DELETE /posts/{id}`, the
home feed, likes as `PUT /posts/{id}/reactions` {kind: "like"}, threaded comments,
notifications, reports and blocks — see casebook.engines.feed.api and .engagement_api).

Profiles
- `GET /profiles/{user_id}?cursor=&limit=` — header (handle, name, bio, website, picture),
  counts (posts, followers, following), the viewer's follow status, `posts_visible` and the
  post grid (empty for a private account's non-followers); 404 across a block.
- `PATCH /profile` {bio?, website?, avatar_media_id?, clear_avatar?} — one's own.

Media
- `POST /media` — the raw bytes of a photo or video as the request body (Content-Type a hint;
  the type is sniffed) → 202 {id, status: "pending", …}; 413 past the size limit, 422 for
  anything else. Processing (orientation, EXIF/GPS stripped, 1080/640/320 variants, blurhash,
  video poster frame) runs as a job.
- `GET /media/{id}` — its status and renditions; `GET /media/{id}/{width}.jpg` — a rendition
  (HTTP Range, long-lived cache headers). Owner, or who may see its post or live story; 404 else.

Posts (the seed's `/photos`)
- `POST /photos` {caption, media_ids[1..10], audience: public|followers, location?
  {name, latitude?, longitude?}, user_tags? [{handle, media_index, x, y}]} → 201, the post.
  409 `instagram/media-not-ready` while processing, `instagram/media-unusable` once failed or used.
- `PATCH /photos/{id}` {caption} — author only; hashtags re-indexed.

Stories
- `POST /stories` {media_id, caption?} → 201; `GET /stories` — the tray; `GET /stories/{id}`
  (records the view; 404 once expired for all but the author); `GET /stories/{id}/viewers`
  (author only); `GET /stories/archive` — the author's stories, expired included.

Explore and search
- `GET /explore/hashtags`, `GET /explore/posts` — trending, by decayed engagement.
- `GET /search?q=` — users, hashtags, locations; `GET /hashtags/{tag}/posts`,
  `GET /locations/{id}/posts` — by cursor.
"""

# No `from __future__ import annotations`: FastAPI reads the local aliases' annotations.
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.feed import posts as feed_posts
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.auth.deps import Principal, optional_principal, require_scope
from casebook.platform.blobs import blob_response
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON, Forbidden
from casebook.platform.pagination import PageQuery, decode_cursor, encode_cursor
from casebook.systems.instagram import discovery, media, posts, profiles, stories
from casebook.systems.instagram.media import SLUG

PlatformDep = Annotated[Platform, Depends(get_platform)]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Reader = Annotated[Principal, Depends(require_scope(f"{SLUG}:read"))]
Writer = Annotated[Principal, Depends(require_scope(f"{SLUG}:write"))]
Anyone = Annotated[Principal | None, Depends(optional_principal)]


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for s in statuses}


def _reader(principal: Principal | None) -> int | None:
    if principal is None:
        return None
    if not principal.has_scope(f"{SLUG}:read"):
        raise Forbidden(f"The credential lacks the scope {SLUG}:read.")
    return principal.user_id


def _before(cursor: str | None) -> int | None:
    if not cursor:
        return None
    (value,) = decode_cursor(cursor, (int,))
    return value if isinstance(value, int) else None


class UserTagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    handle: str = Field(min_length=1, max_length=41)
    media_index: int = Field(default=0, ge=0, le=9)
    x: float = Field(default=0.5, ge=0, le=1)
    y: float = Field(default=0.5, ge=0, le=1)


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)


class PhotoPostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption: str = Field(default="", max_length=posts.MAX_CAPTION)
    media_ids: list[Annotated[int, Field(ge=1, le=2**63 - 1)]] = Field(
        min_length=1, max_length=posts.MAX_ITEMS
    )
    audience: str = Field(default="public", max_length=16)
    location: LocationIn | None = None
    user_tags: list[UserTagIn] = Field(default_factory=list, max_length=posts.MAX_USER_TAGS)


class CaptionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    caption: str = Field(max_length=posts.MAX_CAPTION)


class StoryIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    media_id: int = Field(ge=1, le=2**63 - 1)
    caption: str = Field(default="", max_length=stories.MAX_CAPTION)


class ProfileIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bio: str | None = Field(default=None, max_length=profiles.MAX_BIO)
    website: str | None = Field(default=None, max_length=profiles.MAX_WEBSITE)
    avatar_media_id: int | None = Field(default=None, ge=1, le=2**63 - 1)
    clear_avatar: bool = False


router = APIRouter()


@router.get("/profiles/{user_id}", responses=_problems(403, 404, 422))
async def get_profile(
    user_id: EntityId, principal: Anyone, session: Session, page: PageQuery
) -> Any:
    """A profile with its counts and post grid (see `profiles.profile_of`)."""
    found = await profiles.profile_of(
        session, _reader(principal), user_id, before=_before(page.cursor), limit=page.limit
    )
    return _with_cursor(found)


def _with_cursor(found: dict[str, Any]) -> dict[str, Any]:
    last = found.pop("next_before")
    found["next_cursor"] = encode_cursor([last]) if last is not None else None
    return found


@router.patch("/profile", responses=_problems(401, 404, 409, 422))
async def edit_profile(body: ProfileIn, principal: Writer, session: Session) -> Any:
    """Change one's bio, website or profile picture."""
    await profiles.update_profile(
        session,
        principal.user_id,
        bio=body.bio,
        website=body.website,
        avatar_media_id=body.avatar_media_id,
        clear_avatar=body.clear_avatar,
    )
    return _with_cursor(await profiles.profile_of(session, principal.user_id, principal.user_id))


@router.post("/media", status_code=202, responses=_problems(401, 413, 422))
async def upload_media(request: Request, principal: Writer, platform: PlatformDep) -> Any:
    """Upload a photo or video (the request body is the file); processing runs as a job."""
    item = await media.upload(
        platform, principal.user_id, request.stream(), request.headers.get("content-type")
    )
    return media.media_view(item)


@router.get("/media", responses=_problems(401))
async def my_uploads(principal: Reader, session: Session) -> Any:
    """The caller's 50 newest uploads with their processing status."""
    return {
        "items": [
            media.media_view(m) for m in await media.uploads_of(session, principal.user_id, 50)
        ]
    }


@router.get("/media/{media_id}", responses=_problems(404))
async def get_media(media_id: EntityId, principal: Anyone, session: Session) -> Any:
    """A media item's status and renditions (owner, or who may see its post/story)."""
    item = await media.readable_media(session, _reader(principal), media_id, utcnow())
    return media.media_view(item)


@router.get("/media/{media_id}/{width}.jpg", responses=_problems(404, 416))
async def get_rendition(
    media_id: EntityId,
    width: Annotated[int, Path(ge=1, le=10_000)],
    request: Request,
    principal: Anyone,
    session: Session,
    platform: PlatformDep,
) -> Response:
    """One JPEG rendition. Immutable once written, so caches (a CDN) may keep it for a year;
    `private` because who may fetch it depends on the caller."""
    item = await media.readable_media(session, _reader(principal), media_id, utcnow())
    if width not in item.variants:
        raise media.MediaNotFound(f"Media {media_id} has no {width}px rendition.")
    return await blob_response(
        platform.blobs,
        media.variant_key(media_id, width),
        range_header=request.headers.get("range"),
        media_type="image/jpeg",
        headers={"Cache-Control": "private, max-age=31536000, immutable"},
    )


@router.post("/photos", status_code=201, responses=_problems(401, 404, 409, 422))
async def create_photo_post(body: PhotoPostIn, principal: Writer, platform: PlatformDep) -> Any:
    """Publish a photo/video/carousel post of the caller's processed media."""
    return await posts.create_post(
        feed_runtime(platform, SLUG),
        principal.user_id,
        caption=body.caption,
        media_ids=body.media_ids,
        audience=body.audience,
        location=body.location.model_dump() if body.location else None,
        user_tags=[t.model_dump() for t in body.user_tags],
    )


@router.patch("/photos/{post_id}", responses=_problems(401, 403, 404, 422))
async def edit_caption(
    post_id: EntityId, body: CaptionIn, principal: Writer, platform: PlatformDep
) -> Any:
    """Change one's post's caption."""
    return await posts.edit_caption(
        feed_runtime(platform, SLUG), principal.user_id, post_id, body.caption
    )


@router.post("/stories", status_code=201, responses=_problems(401, 404, 409, 422))
async def create_story(body: StoryIn, principal: Writer, session: Session) -> Any:
    """Post a story of a processed media item; it expires after 24 hours."""
    story = await stories.create_story(session, principal.user_id, body.media_id, body.caption)
    return stories.story_view(story, for_author=True)


@router.get("/stories", responses=_problems(401))
async def story_tray(principal: Reader, session: Session) -> Any:
    """Live stories of the caller and of the accounts they follow, grouped by author."""
    return {"items": await stories.tray(session, principal.user_id)}


@router.get("/stories/archive", responses=_problems(401, 422))
async def story_archive(principal: Reader, session: Session, page: PageQuery) -> Any:
    """The caller's own stories, expired ones included, newest first."""
    items = await stories.archive(session, principal.user_id, _before(page.cursor), page.limit)
    cursor = encode_cursor([items[-1].id]) if len(items) == page.limit else None
    return {"items": [stories.story_view(s, for_author=True) for s in items], "next_cursor": cursor}


@router.get("/stories/{story_id}", responses=_problems(404))
async def view_story(story_id: EntityId, principal: Anyone, session: Session) -> Any:
    """Watch a story (the view is recorded once per viewer)."""
    viewer = _reader(principal)
    story = await stories.view_story(session, viewer, story_id)
    return stories.story_view(story, for_author=story.author_id == viewer)


@router.get("/stories/{story_id}/viewers", responses=_problems(401, 403, 404))
async def story_viewers(story_id: EntityId, principal: Reader, session: Session) -> Any:
    """Who viewed the story — its author only."""
    return {"items": await stories.viewers(session, principal.user_id, story_id, 1000)}


@router.get("/explore/hashtags")
async def trending_hashtags(
    session: Session, limit: Annotated[int, Query(ge=1, le=100)] = 20
) -> Any:
    """Trending hashtags of the last week (public posts only)."""
    return {"items": await discovery.trending_hashtags(session, limit)}


@router.get("/explore/posts", responses=_problems(403))
async def trending_posts(
    principal: Anyone, session: Session, limit: Annotated[int, Query(ge=1, le=100)] = 30
) -> Any:
    """Trending public posts of the last week the caller may see."""
    found = await discovery.trending_posts(session, _reader(principal), limit)
    return {"items": await feed_posts.hydrate(session, SLUG, found)}


@router.get("/search", responses=_problems(422))
async def search(
    q: Annotated[str, Query(min_length=1, max_length=100)],
    principal: Anyone,
    session: Session,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> Any:
    """Users, hashtags and locations starting with `q` ("#tag" and "@handle" work too)."""
    return await discovery.search(session, _reader(principal), q, limit)


async def _tagged_page(session: Any, viewer: int | None, page: Any, **where: Any) -> dict[str, Any]:
    found, last = await discovery.posts_with(
        session, viewer, before=_before(page.cursor), limit=page.limit, **where
    )
    return {
        "items": await feed_posts.hydrate(session, SLUG, found),
        "next_cursor": encode_cursor([last]) if last is not None else None,
    }


@router.get("/hashtags/{tag}/posts", responses=_problems(422))
async def hashtag_posts(
    tag: Annotated[str, Path(min_length=1, max_length=100, pattern=r"^\w+$")],
    principal: Anyone,
    session: Session,
    page: PageQuery,
) -> Any:
    """Posts with `#tag` the caller may see, newest first."""
    return await _tagged_page(session, _reader(principal), page, hashtag=tag)


@router.get("/locations/{location_id}/posts", responses=_problems(422))
async def location_posts(
    location_id: EntityId, principal: Anyone, session: Session, page: PageQuery
) -> Any:
    """Posts at a location the caller may see, newest first."""
    return await _tagged_page(session, _reader(principal), page, location_id=location_id)
