"""Facebook Timeline's own HTTP endpoints, mounted under `/api/facebook-timeline` next to the
feed engine's (graph, `/posts`, reactions, comments, shares, notifications: see
`casebook.engines.feed.api` and `engagement_api`).

Timeline (the seed's `/api/user/{userID}/…` endpoints, normalised)
- `GET /users/{id}/timeline?cursor=&limit=&until=YYYY-MM` — featured posts (first page), then
  the user's posts, photos, shares and life events newest first with year/month sections;
  every item filtered by its own audience for the caller (anonymous callers see public items).
  404 for an unknown user or when either blocked the other.
- `GET /users/{id}/timeline/months` — the months holding an item the caller may see (the
  year/month navigation; each is a valid `until`).
- `POST /users/{id}/posts` {content, audience} → 201 — post on one's own timeline (403 "You are
  not authorized to post on this timeline." for someone else's).
- `PUT /users/{id}/posts/{post_id}` {content?, audience?} and `DELETE …` — author only: 403 "You
  are not authorized to edit/delete this post." for a post the caller can see but did not
  write, 404 for one they cannot see or that is not on that timeline.
- `POST /photos?audience=&caption=` (body: the image bytes, `Content-Type: image/jpeg|png|gif`)
  → 201; `GET /posts/{id}/photo` — the image, when the caller may see the post.

Life events and featured posts
- `POST /life-events` {type, date, title?, description?, audience} → 201;
  `PATCH /life-events/{post_id}` {type?, date?, title?} — author only.
- `PUT /pins/{post_id}` (feature one's own post; 409 past three), `DELETE /pins/{post_id}`.

Activity log (the caller's own; nobody else's is reachable)
- `GET /activity?kind=post&kind=reaction&since=&until=&cursor=&limit=`
- `DELETE /activity/{entry_id}` — undo the action (entry ids look like `reaction:123`).
"""

# No `from __future__ import annotations`: FastAPI resolves the routes' annotations at runtime.
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from casebook.engines.feed import posts, service
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.auth.deps import Principal, optional_principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session
from casebook.platform.errors import PROBLEM_JSON, Forbidden
from casebook.platform.pagination import PageQuery
from casebook.systems.facebook_timeline import activity, featured, life_events, photos, profile
from casebook.systems.facebook_timeline.models import SYSTEM

PlatformDep = Annotated[Platform, Depends(get_platform)]
EntityId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Reader = Annotated[Principal, Depends(require_scope(f"{SYSTEM}:read"))]
Writer = Annotated[Principal, Depends(require_scope(f"{SYSTEM}:write"))]
Anyone = Annotated[Principal | None, Depends(optional_principal)]
LifeEventType = Literal[
    "birthday", "graduation", "new_job", "relationship", "moved", "new_home", "travel", "milestone"
]

Day = date
"""`date` under another name: the request models have a field called `date`."""

router = APIRouter()


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


def _runtime(platform: Platform) -> FeedRuntime:
    return feed_runtime(platform, SYSTEM)


def _today() -> date:
    return datetime.now(UTC).date()


def _reader(principal: Principal | None) -> int | None:
    if principal is None:
        return None
    if not principal.has_scope(f"{SYSTEM}:read"):
        raise Forbidden(f"The credential lacks the scope {SYSTEM}:read.")
    return principal.user_id


class TimelinePostIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str = Field(min_length=1, max_length=posts.MAX_BODY)
    audience: str = Field(default="public", max_length=32)


class TimelinePostPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    content: str | None = Field(default=None, min_length=1, max_length=posts.MAX_BODY)
    audience: str | None = Field(default=None, max_length=32)


class LifeEventIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: LifeEventType
    date: Day
    title: str = Field(default="", max_length=200)
    description: str = Field(default="", max_length=2000)
    audience: str = Field(default="public", max_length=32)


class LifeEventPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    type: LifeEventType | None = None
    date: Day | None = None
    title: str | None = Field(default=None, max_length=200)


async def _timeline_post(session: Any, caller: int, owner_id: int, post_id: int, verb: str) -> None:
    """The post must be on `owner_id`'s timeline and visible to the caller (else 404), and the
    caller must be its author (else the seed's 403 "not authorized")."""
    post = await posts.readable_post(session, SYSTEM, caller, post_id)
    if post.author_id != owner_id:
        raise posts.PostNotFound(f"No post {post_id} on this timeline.")
    if post.author_id != caller:
        raise featured.NotAuthorized(f"You are not authorized to {verb} this post.")


@router.get("/users/{user_id}/timeline", responses=_problems(404, 422))
async def read_timeline(
    user_id: EntityId,
    principal: Anyone,
    session: Session,
    page: PageQuery,
    until: Annotated[str | None, Query(max_length=7)] = None,
) -> dict[str, Any]:
    """A user's timeline as the caller may see it (see the module docstring)."""
    result = await profile.read_timeline(
        session,
        _reader(principal),
        user_id,
        cursor=page.cursor,
        until=until,
        limit=page.limit,
    )
    return {
        "user": result.owner,
        "pinned": result.pinned,
        "items": result.items,
        "sections": [
            {**section, "items": [item["id"] for item in section["items"]]}
            for section in result.sections
        ],
        "next_cursor": result.next_cursor,
    }


@router.get("/users/{user_id}/timeline/months", responses=_problems(404))
async def read_timeline_months(
    user_id: EntityId, principal: Anyone, session: Session
) -> dict[str, Any]:
    """The months (newest first) holding at least one item of the user's timeline the caller
    may see: the year/month navigation, each entry usable as `until=` of the timeline."""
    months = await profile.month_index(session, _reader(principal), user_id)
    return {"months": months}


@router.post("/users/{user_id}/posts", status_code=201, responses=_problems(401, 403, 422))
async def post_on_timeline(
    user_id: EntityId, body: TimelinePostIn, principal: Writer, platform: PlatformDep
) -> dict[str, Any]:
    """Post on one's own timeline (the seed's `POST /api/user/{userID}/post`)."""
    if user_id != principal.user_id:
        raise featured.NotAuthorized("You are not authorized to post on this timeline.")
    return await service.publish(
        _runtime(platform), principal.user_id, body=body.content, audience=body.audience
    )


@router.put("/users/{user_id}/posts/{post_id}", responses=_problems(401, 403, 404, 422))
async def edit_timeline_post(
    user_id: EntityId,
    post_id: EntityId,
    body: TimelinePostPatch,
    principal: Writer,
    platform: PlatformDep,
    session: Session,
) -> dict[str, Any]:
    """Edit one's post (the seed's PUT); 403 "You are not authorized to edit this post."."""
    await _timeline_post(session, principal.user_id, user_id, post_id, "edit")
    return await service.edit(
        _runtime(platform), principal.user_id, post_id, body=body.content, audience=body.audience
    )


@router.delete("/users/{user_id}/posts/{post_id}", responses=_problems(401, 403, 404))
async def delete_timeline_post(
    user_id: EntityId,
    post_id: EntityId,
    principal: Writer,
    platform: PlatformDep,
    session: Session,
) -> dict[str, str]:
    """Delete one's post (the seed's DELETE); 403 "You are not authorized to delete this post."."""
    await _timeline_post(session, principal.user_id, user_id, post_id, "delete")
    await service.delete(_runtime(platform), principal.user_id, post_id)
    return {"message": f"Post with ID {post_id} has been deleted."}


@router.post("/photos", status_code=201, responses=_problems(401, 404, 413, 422))
async def upload_photo(
    request: Request,
    principal: Writer,
    platform: PlatformDep,
    session: Session,
    audience: Annotated[str, Query(max_length=32)] = "public",
    caption: Annotated[str, Query(max_length=2000)] = "",
) -> dict[str, Any]:
    """Post a photo: the request body is the image (`Content-Type: image/jpeg|png|gif`, at most
    10 MB); the caption and audience are query parameters."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > photos.MAX_PHOTO_BYTES:
        raise photos.InvalidPhoto(f"A photo is at most {photos.MAX_PHOTO_BYTES} bytes.")
    image = bytearray()
    async for chunk in request.stream():
        image.extend(chunk)
        if len(image) > photos.MAX_PHOTO_BYTES:
            raise photos.InvalidPhoto(f"A photo is at most {photos.MAX_PHOTO_BYTES} bytes.")
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    post_id = await photos.post_photo(
        _runtime(platform),
        principal.user_id,
        content_type=content_type,
        image=bytes(image),
        caption=caption,
        audience=audience,
    )
    post = await posts.readable_post(session, SYSTEM, principal.user_id, post_id)
    (view,) = await profile.item_views(session, [post], {}, set())
    return view


@router.get("/posts/{post_id}/photo", responses=_problems(404))
async def read_photo(
    post_id: EntityId, principal: Anyone, session: Session, platform: PlatformDep
) -> Response:
    """The image of a photo post, when the caller may see the post (404 otherwise). The type
    served is sniffed from the stored bytes, never taken from the post's editable data."""
    await posts.readable_post(session, SYSTEM, _reader(principal), post_id)
    key = photos.photo_key(post_id)
    if not await platform.blobs.exists(key):
        raise posts.PostNotFound(f"Post {post_id} has no photo.")
    image = await platform.blobs.get(key)
    kind = next(
        (ct for ct, sigs in photos.SIGNATURES.items() if image.startswith(sigs)),
        "application/octet-stream",
    )
    return Response(
        image,
        media_type=kind,
        headers={"Cache-Control": "private, max-age=60", "X-Content-Type-Options": "nosniff"},
    )


@router.post("/life-events", status_code=201, responses=_problems(401, 404, 422))
async def create_life_event(
    body: LifeEventIn, principal: Writer, platform: PlatformDep, session: Session
) -> dict[str, Any]:
    """Record a typed life event with its own date (1900-01-01 .. today) and audience."""
    post_id = await life_events.create_life_event(
        _runtime(platform),
        principal.user_id,
        event_type=body.type,
        event_date=body.date,
        title=body.title,
        description=body.description,
        audience=body.audience,
        today=_today(),
    )
    post = await posts.readable_post(session, SYSTEM, principal.user_id, post_id)
    events = await life_events.life_events_of(session, [post_id])
    (view,) = await profile.item_views(session, [post], events, set())
    return view


@router.patch("/life-events/{post_id}", responses=_problems(401, 403, 404, 422))
async def change_life_event(
    post_id: EntityId, body: LifeEventPatch, principal: Writer, session: Session
) -> dict[str, Any]:
    """Change a life event's type, date or title (author only)."""
    post = await life_events.change_life_event(
        session,
        principal.user_id,
        post_id,
        event_type=body.type,
        event_date=body.date,
        title=body.title,
        today=_today(),
    )
    events = await life_events.life_events_of(session, [post_id])
    pinned = set(await featured.pinned_ids(session, principal.user_id))
    (view,) = await profile.item_views(session, [post], events, pinned)
    return view


@router.put("/pins/{post_id}", responses=_problems(401, 403, 404, 409))
async def pin_post(post_id: EntityId, principal: Writer, session: Session) -> dict[str, Any]:
    """Feature one of one's own posts or life events at the top of one's timeline."""
    created = await featured.pin(session, principal.user_id, post_id)
    return {"post_id": str(post_id), "pinned": True, "created": created}


@router.delete("/pins/{post_id}", status_code=204, responses=_problems(401, 404))
async def unpin_post(post_id: EntityId, principal: Writer, session: Session) -> Response:
    """Stop featuring a post; 404 when it was not pinned."""
    if not await featured.unpin(session, principal.user_id, post_id):
        raise posts.PostNotFound(f"Post {post_id} is not pinned.")
    return Response(status_code=204)


@router.get("/activity", responses=_problems(401, 422))
async def read_activity(
    principal: Reader,
    session: Session,
    page: PageQuery,
    kind: Annotated[list[str] | None, Query(max_length=5)] = None,
    since: date | None = None,
    until: date | None = None,
) -> dict[str, Any]:
    """The caller's own activity log, newest first, by kind and date (inclusive)."""
    result = await activity.read_log(
        session,
        principal.user_id,
        kinds=kind or [],
        since=since,
        until=until,
        cursor=page.cursor,
        limit=page.limit,
    )
    return {"items": result.items, "next_cursor": result.next_cursor}


@router.delete("/activity/{entry_id}", status_code=204, responses=_problems(401, 404))
async def delete_activity(
    entry_id: Annotated[str, Path(max_length=40)], principal: Writer, platform: PlatformDep
) -> Response:
    """Delete an entry of one's log, undoing its action."""
    await activity.undo(_runtime(platform), principal.user_id, entry_id)
    return Response(status_code=204)
