"""Comments and replies on posts, through the feed engine's engagement area.

A Substack post is the engagement target kind "substack-post". Who may see it — and so read its
comments, comment, reply, react to a comment — is decided here, once, by `post_owner`:

- the post exists, belongs to the "substack" system and is published (drafts and scheduled
  posts have no discussion, not even for their authors: nobody can be reading them yet);
- a paid post's discussion is for readers who may read the post whole — its publication's
  authors and readers whose paid access runs past now. Comments on paid posts discuss the paid
  text, so a free or anonymous reader gets 404 on them like on a missing post; a lapsed
  subscriber loses them when the paid access ends.

The owner the engine is told about is the post's author: they are notified of comments and may
delete any comment on their post. Threading, ordering (depth-first by materialized path), exact
counters, spam screening and notifications are the engine's (`casebook.engines.feed.comments`,
`moderation`).

Routes (under `/api/substack`): `GET|POST /posts/{id}/comments`, `GET|POST
/comments/{id}/replies`, `GET|PATCH|DELETE /comments/{id}`. Reads accept anonymous callers for
what an anonymous reader may see; writes need a signed-in user.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import comments, moderation, targets
from casebook.engines.feed.engagement_api import CommentIn, comment_views, engagement_config
from casebook.engines.feed.engagement_models import FeedComment
from casebook.platform.auth.deps import CurrentPrincipal, Principal, optional_principal
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON
from casebook.systems.substack import publishing
from casebook.systems.substack.models import Post

SYSTEM = "substack"
TARGET = "substack-post"

router = APIRouter()
Caller = Annotated[Principal | None, Depends(optional_principal)]
PlatformDep = Annotated[Platform, Depends(get_platform)]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=1024)]


async def post_owner(
    session: AsyncSession, system: str, viewer_id: int | None, post_id: int
) -> int | None:
    """The "substack-post" target kind: the post's author when `viewer_id` may see the post's
    discussion (module docstring), else None. One primary-key read, plus two indexed probes
    for a paid post."""
    if system != SYSTEM:
        return None
    post = await session.get(Post, post_id)
    if post is None or post.status != "published":
        return None
    if post.audience == "paid" and not await publishing.has_paid_access(
        session, post.publication_id, viewer_id
    ):
        return None
    return post.author_id


targets.register(TARGET, post_owner)


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"content": {PROBLEM_JSON: {}}} for status in statuses}


async def create_comment(
    session: AsyncSession,
    platform: Platform,
    user_id: int,
    post_id: int,
    text: str,
    parent_id: int | None = None,
) -> FeedComment:
    """Comment on a post (or reply to `parent_id`, a comment on it) after the engine's spam
    screening. Raises the engine's TargetNotFound/CommentNotFound (404), InvalidComment and
    LinkBlocked (422), DuplicateContent (409), TooManyRequests (429)."""
    config = engagement_config(platform, SYSTEM)
    verdict = await moderation.screen(
        session, platform.rate_limiter, SYSTEM, user_id, text, config.moderation
    )
    return await comments.add_comment(
        session,
        SYSTEM,
        user_id,
        TARGET,
        post_id,
        text,
        parent_id=parent_id,
        spam=verdict.spam,
        rules=config.comments,
    )


async def _page(session: AsyncSession, page: comments.CommentPage) -> dict[str, Any]:
    return {
        "items": await comment_views(session, SYSTEM, page.items),
        "next_cursor": page.next_cursor,
    }


@router.get("/posts/{post_id}/comments", responses=_problems(404, 422))
async def post_comments(
    post_id: Id, caller: Caller, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """A post's discussion depth-first (each comment followed by its replies), by cursor. 404
    for a post the caller may not read whole (paid) or that is not published."""
    page = await comments.list_comments(
        session,
        SYSTEM,
        caller.user_id if caller else None,
        TARGET,
        post_id,
        cursor=cursor,
        limit=limit,
    )
    return await _page(session, page)


@router.post(
    "/posts/{post_id}/comments", status_code=201, responses=_problems(401, 404, 409, 422, 429)
)
async def comment_on_post(
    post_id: Id,
    body: CommentIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    platform: PlatformDep,
) -> dict[str, Any]:
    """Comment on a post you may read; its author is notified."""
    comment = await create_comment(session, platform, principal.user_id, post_id, body.body)
    (view,) = await comment_views(session, SYSTEM, [comment])
    return view


async def _substack_comment(session: AsyncSession, viewer_id: int | None, comment_id: int) -> Any:
    if await comments.comment_owner(session, SYSTEM, viewer_id, comment_id) is None:
        raise comments.CommentNotFound(f"No comment {comment_id} here.")
    comment = await session.get(FeedComment, comment_id)
    assert comment is not None
    if comment.target_kind != TARGET:
        raise comments.CommentNotFound(f"No comment {comment_id} here.")
    return comment


@router.post(
    "/comments/{comment_id}/replies",
    status_code=201,
    responses=_problems(401, 404, 409, 422, 429),
)
async def reply(
    comment_id: Id,
    body: CommentIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    platform: PlatformDep,
) -> dict[str, Any]:
    """Reply to a comment you can see; its author is notified."""
    parent = await _substack_comment(session, principal.user_id, comment_id)
    comment = await create_comment(
        session, platform, principal.user_id, parent.target_id, body.body, comment_id
    )
    (view,) = await comment_views(session, SYSTEM, [comment])
    return view


@router.get("/comments/{comment_id}/replies", responses=_problems(404, 422))
async def replies(
    comment_id: Id, caller: Caller, session: Session, cursor: Cursor = None, limit: Limit = 50
) -> dict[str, Any]:
    """The replies under a comment, depth-first, by cursor."""
    viewer = caller.user_id if caller else None
    await _substack_comment(session, viewer, comment_id)
    page = await comments.list_replies(
        session, SYSTEM, viewer, comment_id, cursor=cursor, limit=limit
    )
    return await _page(session, page)


@router.get("/comments/{comment_id}", responses=_problems(404))
async def get_comment(comment_id: Id, caller: Caller, session: Session) -> dict[str, Any]:
    """One comment you can see."""
    comment = await _substack_comment(session, caller.user_id if caller else None, comment_id)
    (view,) = await comment_views(session, SYSTEM, [comment])
    return view


@router.patch("/comments/{comment_id}", responses=_problems(401, 403, 404, 422))
async def edit_comment(
    comment_id: Id,
    body: CommentIn,
    principal: CurrentPrincipal,
    session: WriteSession,
    platform: PlatformDep,
) -> dict[str, Any]:
    """Edit your own comment (403 for another's)."""
    await _substack_comment(session, principal.user_id, comment_id)
    comment = await comments.edit_comment(
        session,
        SYSTEM,
        principal.user_id,
        comment_id,
        body.body,
        rules=engagement_config(platform, SYSTEM).comments,
    )
    (view,) = await comment_views(session, SYSTEM, [comment])
    return view


@router.delete("/comments/{comment_id}", status_code=204, responses=_problems(401, 403, 404))
async def delete_comment(
    comment_id: Id, principal: CurrentPrincipal, session: WriteSession
) -> Response:
    """Delete your own comment, or any comment on your post (403 otherwise)."""
    await _substack_comment(session, principal.user_id, comment_id)
    await comments.delete_comment(session, SYSTEM, principal.user_id, comment_id)
    return Response(status_code=204)
