"""The feed engine's engagement API for one system (mounted under `/api/<slug>` by mount.py).

Identity is the platform's: a session token, or an API key with `<slug>:read` (reads) or
`<slug>:write` (changes). Reads of reactions, comments and shares accept anonymous callers for
what an anonymous reader may see. A post or comment the caller may not see is 404 like a
missing one, on every endpoint.

Reactions (`{target}` is `posts` or `comments`)
- `PUT /{target}/{id}/reactions` {kind} — set the caller's reaction (like, love, care, haha,
  wow, sad, angry; a system may allow fewer) → {kind, changed, counts}; 422 for another kind.
- `DELETE /{target}/{id}/reactions` — remove it → {kind: null, changed, counts}.
- `GET /{target}/{id}/reactions?kind=&cursor=&limit=` — who reacted, newest first.
- `GET /{target}/{id}/engagement` — the counters and the caller's own reaction.

Comments
- `POST /posts/{id}/comments` {body} → 201; `GET /posts/{id}/comments?cursor=&limit=` — the
  whole thread depth-first (each comment then its replies).
- `POST /comments/{id}/replies` {body} → 201; `GET /comments/{id}/replies` — a subtree.
- `GET /comments/{id}`; `PATCH /comments/{id}` {body} (author: else 403);
  `DELETE /comments/{id}` → 204 (author or the post's owner: else 403).
  Creating runs the spam checks: 429 past the rate, 422 `feed/link-blocked`, 409
  `feed/duplicate-content`; a comment marked as spam is shown to its author only.

Shares
- `POST /posts/{id}/shares` {body?, audience?} → 201 {share_id, post, shares}; 409
  `feed/not-shareable` unless the original is public. `GET /posts/{id}/shares`.
- `DELETE /shares/{id}` → 204 — undo one's own share (its post is deleted).

Notifications (the caller's own only)
- `GET /notifications?unread_only=&cursor=&limit=` → {items, unread_count, next_cursor}.
- `GET /notifications/unread-count`; `POST /notifications/read` {ids?} (no ids: all).

Moderation
- `POST /reports` {target_kind, target_id, reason, note?} → 201 (200 when already reported);
  hides the target for the reporter, and for everyone past the report threshold.
  `GET /reports` — the caller's own reports.
- `POST /hidden` {target_kind, target_id} → 204; `DELETE /hidden/{target_kind}/{id}` → 204.
"""

# No `from __future__ import annotations`: the routes' dependencies (Reader, Writer, Anyone)
# are aliases local to `router`, which FastAPI must see evaluated.

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import (
    comments,
    counters,
    moderation,
    notifications,
    reactions,
    shares,
    targets,
)
from casebook.engines.feed.comments import CommentRules
from casebook.engines.feed.engagement_models import FeedComment, FeedNotification
from casebook.engines.feed.models import FeedProfile
from casebook.engines.feed.moderation import ModerationConfig
from casebook.engines.feed.runtime import feed_runtime
from casebook.platform.auth.deps import Principal, optional_principal, require_scope
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, Forbidden
from casebook.platform.ids import IdStr

PlatformDep = Annotated[Platform, Depends(get_platform)]
TargetId = Annotated[int, Path(ge=1, le=2**63 - 1)]
Limit = Annotated[int, Query(ge=1, le=100)]
Cursor = Annotated[str | None, Query(max_length=1024)]
ReportableKind = Annotated[str, Field(min_length=1, max_length=targets.MAX_KIND_LENGTH)]


@dataclass(frozen=True)
class EngagementConfig:
    """Per-system engagement settings (`configure` replaces them; defaults otherwise)."""

    reaction_kinds: tuple[str, ...] = reactions.REACTION_KINDS
    comments: CommentRules = field(default_factory=CommentRules)
    moderation: ModerationConfig = field(default_factory=ModerationConfig)


def _config_key(system: str) -> str:
    return f"feed-engagement:{system}"


def configure(platform: Platform, system: str, config: EngagementConfig) -> None:
    """Use `config` for `system`'s engagement from now on (a system's startup, or a test)."""
    platform.state[_config_key(system)] = config


def engagement_config(platform: Platform, system: str) -> EngagementConfig:
    config: EngagementConfig | None = platform.state.get(_config_key(system))
    return config or EngagementConfig()


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": "Problem", "content": {PROBLEM_JSON: {}}} for status in statuses
    }


class ReactionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: str = Field(min_length=1, max_length=16)


class CommentIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(min_length=1, max_length=20_000)


class ShareIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    body: str = Field(default="", max_length=10_000)
    audience: str = Field(default="public", max_length=32)


class MarkReadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    ids: list[IdStr] | None = Field(default=None, max_length=500)


class ReportIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_kind: ReportableKind
    target_id: IdStr
    reason: str = Field(max_length=24)
    note: str = Field(default="", max_length=500)


class HideIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    target_kind: ReportableKind
    target_id: IdStr


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def _authors(
    session: AsyncSession, system: str, user_ids: set[int]
) -> dict[int, dict[str, Any]]:
    """Handle and name of each author, one query (an author without a profile shows the id)."""
    if not user_ids:
        return {}
    rows = await session.scalars(
        select(FeedProfile).where(FeedProfile.system == system, FeedProfile.user_id.in_(user_ids))
    )
    return {
        p.user_id: {"id": str(p.user_id), "handle": p.handle, "display_name": p.display_name}
        for p in rows
    }


async def comment_views(
    session: AsyncSession, system: str, items: list[FeedComment]
) -> list[dict[str, Any]]:
    """The API view of comments: author, body (null for a deleted one), depth, reply count and
    reaction counters. Two queries whatever the page size."""
    authors = await _authors(session, system, {c.author_id for c in items})
    counts = await counters.read_many(session, system, "comment", [c.id for c in items])
    views = []
    for c in items:
        deleted = c.deleted_at is not None
        views.append(
            {
                "id": str(c.id),
                "target_kind": c.target_kind,
                "target_id": str(c.target_id),
                "parent_id": str(c.parent_id) if c.parent_id is not None else None,
                "depth": c.depth,
                "author": None if deleted else authors.get(c.author_id, {"id": str(c.author_id)}),
                "body": None if deleted else c.body,
                "deleted": deleted,
                "spam": c.status == "spam",
                "replies": c.live_descendants,
                "created_at": _when(c.created_at),
                "edited_at": _when(c.edited_at),
                "counts": counters.summary(counts.get(c.id, {})),
            }
        )
    return views


def _notification_view(n: FeedNotification, actors: dict[int, dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": str(n.id),
        "kind": n.kind,
        "actor": actors.get(n.actor_id, {"id": str(n.actor_id)}),
        "target_kind": n.target_kind,
        "target_id": str(n.target_id),
        "created_at": _when(n.created_at),
        "read": n.read_at is not None,
    }


def router(system: str) -> APIRouter:
    """Every engagement endpoint for `system` (see the module docstring)."""
    api = APIRouter(tags=[system])
    Writer = Annotated[Principal, Depends(require_scope(f"{system}:write"))]
    Reader = Annotated[Principal, Depends(require_scope(f"{system}:read"))]
    Anyone = Annotated[Principal | None, Depends(optional_principal)]

    def reader_id(principal: Principal | None) -> int | None:
        if principal is None:
            return None
        if not principal.has_scope(f"{system}:read"):
            raise Forbidden(f"The credential lacks the scope {system}:read.")
        return principal.user_id

    # Reactions ------------------------------------------------------------------------------

    def reaction_routes(prefix: str, kind: str) -> None:
        """The reaction endpoints of one target kind, under `/{prefix}/{id}`."""

        @api.put(f"/{prefix}/{{target_id}}/reactions", responses=_problems(401, 403, 404, 422))
        async def set_reaction(
            target_id: TargetId,
            body: ReactionIn,
            principal: Writer,
            session: WriteSession,
            platform: PlatformDep,
        ) -> dict[str, Any]:
            """Set the caller's reaction (one per user; a new kind replaces the old). The
            owner is notified of a first reaction."""
            state = await reactions.react(
                session,
                system,
                principal.user_id,
                kind,
                target_id,
                body.kind,
                allowed=engagement_config(platform, system).reaction_kinds,
            )
            return {
                "kind": state.kind,
                "changed": state.changed,
                "counts": counters.summary(state.counts),
            }

        @api.delete(f"/{prefix}/{{target_id}}/reactions", responses=_problems(401, 403, 404))
        async def remove_reaction(
            target_id: TargetId, principal: Writer, session: WriteSession
        ) -> dict[str, Any]:
            """Remove the caller's reaction (`changed` is false when there was none)."""
            state = await reactions.unreact(session, system, principal.user_id, kind, target_id)
            return {
                "kind": None,
                "changed": state.changed,
                "counts": counters.summary(state.counts),
            }

        @api.get(f"/{prefix}/{{target_id}}/reactions", responses=_problems(403, 404, 422))
        async def list_reactions(
            target_id: TargetId,
            principal: Anyone,
            session: Session,
            kind_filter: Annotated[str | None, Query(alias="kind", max_length=16)] = None,
            cursor: Cursor = None,
            limit: Limit = 20,
        ) -> dict[str, Any]:
            """Who reacted, newest first (users in a block with the caller are left out)."""
            page = await reactions.reactors(
                session,
                system,
                reader_id(principal),
                kind,
                target_id,
                kind=kind_filter,
                cursor=cursor,
                limit=limit,
            )
            users = await _authors(session, system, {r.user_id for r in page.items})
            counts = await counters.read(session, system, kind, target_id)
            return {
                "items": [
                    {
                        "user": users.get(r.user_id, {"id": str(r.user_id)}),
                        "kind": r.kind,
                        "created_at": _when(r.created_at),
                    }
                    for r in page.items
                ],
                "next_cursor": page.next_cursor,
                "counts": counters.summary(counts),
            }

        @api.get(f"/{prefix}/{{target_id}}/engagement", responses=_problems(403, 404))
        async def engagement(
            target_id: TargetId, principal: Anyone, session: Session
        ) -> dict[str, Any]:
            """The counters (reactions by kind, comments, shares) and the caller's own
            reaction (null when none or anonymous)."""
            viewer = reader_id(principal)
            await targets.require(session, system, kind, viewer, target_id)
            mine = (
                await reactions.reaction_of(session, system, viewer, kind, target_id)
                if viewer is not None
                else None
            )
            counts = await counters.read(session, system, kind, target_id)
            return {"counts": counters.summary(counts), "my_reaction": mine}

    reaction_routes("posts", "post")
    reaction_routes("comments", "comment")

    # Comments -------------------------------------------------------------------------------

    async def _create_comment(
        session: AsyncSession,
        platform: Platform,
        user_id: int,
        target_kind: str,
        target_id: int,
        text: str,
        parent_id: int | None,
    ) -> dict[str, Any]:
        config = engagement_config(platform, system)
        verdict = await moderation.screen(
            session, platform.rate_limiter, system, user_id, text, config.moderation
        )
        comment = await comments.add_comment(
            session,
            system,
            user_id,
            target_kind,
            target_id,
            text,
            parent_id=parent_id,
            spam=verdict.spam,
            rules=config.comments,
        )
        (view,) = await comment_views(session, system, [comment])
        return view

    @api.post(
        "/posts/{post_id}/comments",
        status_code=201,
        responses=_problems(401, 403, 404, 409, 422, 429),
    )
    async def comment_on_post(
        post_id: TargetId,
        body: CommentIn,
        principal: Writer,
        session: WriteSession,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Comment on a post the caller can see; its author and @mentioned users are told."""
        return await _create_comment(
            session, platform, principal.user_id, "post", post_id, body.body, None
        )

    @api.get("/posts/{post_id}/comments", responses=_problems(403, 404, 422))
    async def post_comments(
        post_id: TargetId,
        principal: Anyone,
        session: Session,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """A post's comments depth-first (each followed by its replies), by cursor."""
        page = await comments.list_comments(
            session, system, reader_id(principal), "post", post_id, cursor=cursor, limit=limit
        )
        return {
            "items": await comment_views(session, system, page.items),
            "next_cursor": page.next_cursor,
        }

    @api.post(
        "/comments/{comment_id}/replies",
        status_code=201,
        responses=_problems(401, 403, 404, 409, 422, 429),
    )
    async def reply(
        comment_id: TargetId,
        body: CommentIn,
        principal: Writer,
        session: WriteSession,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Reply to a comment the caller can see; its author is told."""
        if await comments.comment_owner(session, system, principal.user_id, comment_id) is None:
            raise comments.CommentNotFound(f"No comment {comment_id} here.")
        parent = await session.get(FeedComment, comment_id)
        assert parent is not None
        return await _create_comment(
            session,
            platform,
            principal.user_id,
            parent.target_kind,
            parent.target_id,
            body.body,
            comment_id,
        )

    @api.get("/comments/{comment_id}/replies", responses=_problems(403, 404, 422))
    async def replies(
        comment_id: TargetId,
        principal: Anyone,
        session: Session,
        cursor: Cursor = None,
        limit: Limit = 50,
    ) -> dict[str, Any]:
        """The replies under a comment, depth-first, by cursor."""
        page = await comments.list_replies(
            session, system, reader_id(principal), comment_id, cursor=cursor, limit=limit
        )
        return {
            "items": await comment_views(session, system, page.items),
            "next_cursor": page.next_cursor,
        }

    @api.get("/comments/{comment_id}", responses=_problems(403, 404))
    async def get_comment(
        comment_id: TargetId, principal: Anyone, session: Session
    ) -> dict[str, Any]:
        """One comment the caller can see."""
        await targets.require(session, system, "comment", reader_id(principal), comment_id)
        comment = await session.get(FeedComment, comment_id)
        assert comment is not None
        (view,) = await comment_views(session, system, [comment])
        return view

    @api.patch("/comments/{comment_id}", responses=_problems(401, 403, 404, 422))
    async def edit_comment(
        comment_id: TargetId,
        body: CommentIn,
        principal: Writer,
        session: WriteSession,
        platform: PlatformDep,
    ) -> dict[str, Any]:
        """Edit one's own comment."""
        comment = await comments.edit_comment(
            session,
            system,
            principal.user_id,
            comment_id,
            body.body,
            rules=engagement_config(platform, system).comments,
        )
        (view,) = await comment_views(session, system, [comment])
        return view

    @api.delete("/comments/{comment_id}", status_code=204, responses=_problems(401, 403, 404))
    async def delete_comment(
        comment_id: TargetId, principal: Writer, session: WriteSession
    ) -> Response:
        """Delete a comment: one's own, or any on one's own post."""
        await comments.delete_comment(session, system, principal.user_id, comment_id)
        return Response(status_code=204)

    # Shares ---------------------------------------------------------------------------------

    @api.post(
        "/posts/{post_id}/shares", status_code=201, responses=_problems(401, 403, 404, 409, 422)
    )
    async def share(
        post_id: TargetId, body: ShareIn, principal: Writer, platform: PlatformDep
    ) -> dict[str, Any]:
        """Share a public post to the caller's own audience (a new post naming the original in
        `data.shared_post_id`); it reaches the caller's followers like any post."""
        result = await shares.share_post(
            feed_runtime(platform, system),
            principal.user_id,
            post_id,
            body=body.body,
            audience=body.audience,
        )
        return {"share_id": str(result.share.id), "post": result.post, "shares": result.shares}

    @api.delete("/shares/{share_id}", status_code=204, responses=_problems(401, 403, 404))
    async def unshare(share_id: TargetId, principal: Writer, platform: PlatformDep) -> Response:
        """Undo one's own share: its post is deleted and the original's count drops."""
        await shares.unshare(feed_runtime(platform, system), principal.user_id, share_id)
        return Response(status_code=204)

    @api.get("/posts/{post_id}/shares", responses=_problems(403, 404, 422))
    async def post_shares(
        post_id: TargetId,
        principal: Anyone,
        session: Session,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> dict[str, Any]:
        """Shares of a post whose share post the caller may see, newest first."""
        page = await shares.list_shares(
            session, system, reader_id(principal), "post", post_id, cursor=cursor, limit=limit
        )
        users = await _authors(session, system, {s.user_id for s in page.items})
        return {
            "items": [
                {
                    "id": str(s.id),
                    "user": users.get(s.user_id, {"id": str(s.user_id)}),
                    "post_id": str(s.post_id) if s.post_id is not None else None,
                    "created_at": _when(s.created_at),
                }
                for s in page.items
            ],
            "next_cursor": page.next_cursor,
        }

    # Notifications --------------------------------------------------------------------------

    @api.get("/notifications", responses=_problems(401, 403, 422))
    async def list_notifications(
        principal: Reader,
        session: Session,
        unread_only: bool = False,
        cursor: Cursor = None,
        limit: Limit = 20,
    ) -> dict[str, Any]:
        """The caller's notifications, newest first, with the unread count."""
        page = await notifications.list_for(
            session,
            system,
            principal.user_id,
            cursor=cursor,
            limit=limit,
            unread_only=unread_only,
        )
        actors = await _authors(session, system, {n.actor_id for n in page.items})
        return {
            "items": [_notification_view(n, actors) for n in page.items],
            "unread_count": page.unread_count,
            "next_cursor": page.next_cursor,
        }

    @api.get("/notifications/unread-count", responses=_problems(401, 403))
    async def unread(principal: Reader, session: Session) -> dict[str, int]:
        """How many of the caller's notifications are unread."""
        return {
            "unread_count": await notifications.unread_count(session, system, principal.user_id)
        }

    @api.post("/notifications/read", responses=_problems(401, 403, 422))
    async def mark_read(body: MarkReadIn, principal: Writer, session: Session) -> dict[str, int]:
        """Mark the caller's notifications read: `ids`, or all of them when `ids` is absent.
        Ids of other users' notifications are ignored."""
        marked = await notifications.mark_read(session, system, principal.user_id, body.ids)
        return {
            "marked": marked,
            "unread_count": await notifications.unread_count(session, system, principal.user_id),
        }

    # Moderation -----------------------------------------------------------------------------

    def _registered(kind: str) -> str:
        if not targets.is_registered(kind):
            raise moderation.InvalidReport(
                f"target_kind is one of {', '.join(sorted(targets.kinds()))}."
            )
        return kind

    @api.post("/reports", status_code=201, responses=_problems(401, 403, 404, 409, 422))
    async def report(
        body: ReportIn,
        principal: Writer,
        session: WriteSession,
        platform: PlatformDep,
        response: Response,
    ) -> dict[str, Any]:
        """Report a post or comment (reasons: spam, harassment, hate, violence, nudity,
        misinformation, other). It is hidden for the reporter at once, and for everyone once
        enough distinct users report it. Reporting again answers 200 and changes nothing."""
        result = await moderation.report(
            session,
            system,
            principal.user_id,
            _registered(body.target_kind),
            body.target_id,
            body.reason,
            body.note,
            engagement_config(platform, system).moderation,
        )
        if not result.created:
            response.status_code = 200
        return {"created": result.created, "hidden": result.hidden}

    @api.get("/reports", responses=_problems(401, 403))
    async def my_reports(principal: Reader, session: Session) -> dict[str, Any]:
        """The caller's own reports, newest first."""
        rows = await moderation.my_reports(session, system, principal.user_id)
        return {
            "items": [
                {
                    "id": str(r.id),
                    "target_kind": r.target_kind,
                    "target_id": str(r.target_id),
                    "reason": r.reason,
                    "created_at": _when(r.created_at),
                }
                for r in rows
            ]
        }

    @api.post("/hidden", status_code=204, responses=_problems(401, 403, 404, 422))
    async def hide(body: HideIn, principal: Writer, session: WriteSession) -> Response:
        """Hide a post or comment from the caller's own lists."""
        await moderation.hide(
            session, system, principal.user_id, _registered(body.target_kind), body.target_id
        )
        return Response(status_code=204)

    @api.delete("/hidden/{target_kind}/{target_id}", status_code=204, responses=_problems(401, 403))
    async def unhide(
        target_kind: Annotated[str, Path(max_length=targets.MAX_KIND_LENGTH)],
        target_id: TargetId,
        principal: Writer,
        session: WriteSession,
    ) -> Response:
        """Undo one's own hide."""
        await moderation.unhide(session, system, principal.user_id, target_kind, target_id)
        return Response(status_code=204)

    return api
