"""Threaded comments on any registered target, stored with a materialized path.

A comment's `path` is the 16-hex-digit ids of its ancestors and itself. Ids are time-ordered, so
`ORDER BY path` over a target's comments is the thread depth-first with siblings oldest first;
a comment's subtree is the index range `[path, path + "g")` ("g" sorts after every hex digit).
Pages are keyset cursors on the path: a page never repeats or skips a comment that existed when
the first page was read, whatever is inserted meanwhile.

Rules:
- anyone who may see the target may comment; replying needs the parent to be visible too; a
  reply deeper than `CommentRules.max_depth` is refused (422);
- only the author edits; the author or the target's owner deletes. Deleting leaves a tombstone
  (body erased) that is listed only while it has live replies, so threads keep their shape;
- a comment is visible (the "comment" target kind) iff its target is visible to the viewer, it
  is not deleted, not hidden by moderation, not spam (spam is shown to its author only), and no
  block stands between the viewer and its author.

Counters: the target's "comments" counter counts its live, non-spam comments; each comment's
`live_descendants` counts the live comments under it. A reply changes every ancestor's in one
UPDATE, after locking the ancestors in id order (PostgreSQL), the same order every writer here
uses, so concurrent replies and deletes cannot deadlock and the counts stay exact.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters, notifications, targets
from casebook.engines.feed.engagement_models import (
    PATH_SEGMENT,
    FeedComment,
    FeedHide,
)
from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, InvalidInput
from casebook.platform.ids import new_id

MAX_PAGE = 100
AFFINITY_WEIGHT = 2.0
"""A comment says more about interest than a reaction (ranking.py affinity)."""
MENTION = re.compile(r"(?<![\w@])@([A-Za-z0-9_]{1,40})")
_PATH = re.compile(rf"^(?:[0-9a-f]{{{PATH_SEGMENT}}})+$")


@dataclass(frozen=True)
class CommentRules:
    max_length: int = 8000
    max_depth: int = 8
    """Top-level comments have depth 0; replies below depth `max_depth` are refused."""
    max_mentions: int = 20


class CommentNotFound(targets.TargetNotFound):
    type_ = "feed/comment-not-found"
    title = "Comment not found"


class InvalidComment(InvalidInput):
    type_ = "feed/invalid-comment"
    title = "The comment is not valid"


class ThreadTooDeep(InvalidInput):
    type_ = "feed/thread-too-deep"
    title = "The thread is too deep to reply here"


class NotCommentAuthor(Forbidden):
    type_ = "feed/not-comment-author"
    title = "Only the author may do this"


class InvalidCursor(InvalidInput):
    type_ = "feed/invalid-cursor"
    title = "The cursor is not valid"


def segment(comment_id: int) -> str:
    return f"{comment_id:0{PATH_SEGMENT}x}"


def ancestor_ids(path: str) -> list[int]:
    """The ids of a path's ancestors, root first (the path's last segment is the comment)."""
    return [
        int(path[i : i + PATH_SEGMENT], 16)
        for i in range(0, len(path) - PATH_SEGMENT, PATH_SEGMENT)
    ]


async def _visible_comment(
    session: AsyncSession, system: str, viewer_id: int | None, comment_id: int
) -> tuple[FeedComment, int] | None:
    """The comment and its target's owner when the viewer may see it (module rules), else None."""
    comment = await session.get(FeedComment, comment_id)
    if comment is None or comment.system != system or comment.deleted_at is not None:
        return None
    if comment.status == "hidden":
        return None
    if comment.status == "spam" and viewer_id != comment.author_id:
        return None
    if viewer_id is not None and await notifications.blocked_among(
        session, system, viewer_id, [comment.author_id]
    ):
        return None
    owner = await targets.resolve(
        session, system, comment.target_kind, viewer_id, comment.target_id
    )
    if owner is None:
        return None
    return comment, owner


async def comment_owner(
    session: AsyncSession, system: str, viewer_id: int | None, comment_id: int
) -> int | None:
    """The "comment" target kind: the comment's author when the viewer may see it, else None."""
    found = await _visible_comment(session, system, viewer_id, comment_id)
    return found[0].author_id if found is not None else None


targets.register("comment", comment_owner)


def _clean_body(body: str, rules: CommentRules) -> str:
    text = body.strip()
    if not text:
        raise InvalidComment("A comment needs some text.")
    if len(text) > rules.max_length:
        raise InvalidComment(f"A comment has at most {rules.max_length} characters.")
    return text


async def _lock_in_order(session: AsyncSession, ids: list[int]) -> dict[int, FeedComment]:
    """Lock comment rows in ascending id order (PostgreSQL; SQLite writers are serialised)."""
    if not ids:
        return {}
    rows = await session.scalars(
        select(FeedComment)
        .where(FeedComment.id.in_(ids))
        .order_by(FeedComment.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return {row.id: row for row in rows}


async def _add_to_ancestors(session: AsyncSession, ids: list[int], delta: int) -> None:
    if ids:
        await session.execute(
            update(FeedComment)
            .where(FeedComment.id.in_(ids))
            .values(live_descendants=FeedComment.live_descendants + delta)
            .execution_options(synchronize_session=False)
        )


async def _record_affinity(
    session: AsyncSession, system: str, target_kind: str, user_id: int, owner_id: int
) -> None:
    if target_kind != "post" or user_id == owner_id:
        return
    from casebook.engines.feed import ranking  # the feed core's module; imported on use

    await ranking.record_interaction(session, system, user_id, owner_id, AFFINITY_WEIGHT)


async def _notify_mentions(
    session: AsyncSession, system: str, comment: FeedComment, rules: CommentRules
) -> None:
    handles = MENTION.findall(comment.body or "")[: rules.max_mentions]
    if not handles:
        return
    from casebook.engines.feed.audience import user_ids_for_handles

    for user_id in sorted(set((await user_ids_for_handles(session, system, handles)).values())):
        await notifications.notify(
            session, system, user_id, "mention", comment.author_id, "comment", comment.id
        )


async def add_comment(
    session: AsyncSession,
    system: str,
    author_id: int,
    target_kind: str,
    target_id: int,
    body: str,
    *,
    parent_id: int | None = None,
    spam: bool = False,
    rules: CommentRules | None = None,
) -> FeedComment:
    """Comment on a target, or reply to `parent_id` (a comment on the same target).

    `spam` (from moderation.screen) stores the comment visible to its author only, uncounted
    and without notifications. Raises `TargetNotFound`/`CommentNotFound` (404) when the author
    may not see the target or the parent, `InvalidComment` (422) for an empty or over-long body
    or a "comment" target (reply instead), `ThreadTooDeep` (422) past the depth limit.
    Notifies the target's owner ("comment"), the parent's author ("reply") and @mentioned users.
    Cost: O(depth) rows locked and updated, O(mentions) notifications.
    """
    rules = rules or CommentRules()
    text = _clean_body(body, rules)
    if target_kind == "comment":
        raise InvalidComment("Reply to a comment through its replies, not as a target.")
    owner = await targets.require(session, system, target_kind, author_id, target_id)
    comment_id = new_id()
    parent: FeedComment | None = None
    path = segment(comment_id)
    if parent_id is not None:
        found = await _visible_comment(session, system, author_id, parent_id)
        if found is None or (found[0].target_kind, found[0].target_id) != (target_kind, target_id):
            raise CommentNotFound(f"No comment {parent_id} here.")
        parent = found[0]
        if parent.depth + 1 > rules.max_depth:
            raise ThreadTooDeep(f"Replies nest at most {rules.max_depth} levels deep.")
        path = parent.path + path
        ancestors = ancestor_ids(path)
        locked = await _lock_in_order(session, ancestors)
        # The parent may have been deleted while we waited for its lock.
        if parent.id not in locked or locked[parent.id].deleted_at is not None:
            raise CommentNotFound(f"No comment {parent_id} here.")
    comment = FeedComment(
        id=comment_id,
        system=system,
        target_kind=target_kind,
        target_id=target_id,
        author_id=author_id,
        parent_id=parent_id,
        path=path,
        depth=parent.depth + 1 if parent is not None else 0,
        body=text,
        created_at=utcnow(),
        live_descendants=0,
        status="spam" if spam else "visible",
    )
    session.add(comment)
    await session.flush()
    if spam:
        return comment
    await _add_to_ancestors(session, ancestor_ids(path), 1)
    await counters.add(session, system, target_kind, target_id, {counters.COMMENTS: 1})
    if parent is not None:
        await notifications.notify(
            session, system, parent.author_id, "reply", author_id, "comment", comment.id
        )
    if parent is None or parent.author_id != owner:
        await notifications.notify(
            session, system, owner, "comment", author_id, "comment", comment.id
        )
    await _notify_mentions(session, system, comment, rules)
    await _record_affinity(session, system, target_kind, author_id, owner)
    return comment


async def edit_comment(
    session: AsyncSession,
    system: str,
    user_id: int,
    comment_id: int,
    body: str,
    *,
    rules: CommentRules | None = None,
) -> FeedComment:
    """Replace the body of the user's own comment. 404 if they may not see it, 403 if it is
    someone else's, 422 for a bad body. Newly @mentioned users are notified."""
    rules = rules or CommentRules()
    text = _clean_body(body, rules)
    found = await _visible_comment(session, system, user_id, comment_id)
    if found is None:
        raise CommentNotFound(f"No comment {comment_id} here.")
    comment = found[0]
    if comment.author_id != user_id:
        raise NotCommentAuthor("Only the author may edit a comment.")
    comment.body = text
    comment.edited_at = utcnow()
    await session.flush()
    if comment.status == "visible":
        await _notify_mentions(session, system, comment, rules)
    return comment


async def delete_comment(
    session: AsyncSession, system: str, user_id: int, comment_id: int
) -> FeedComment:
    """Delete a comment: by its author or by the owner of the target it is on.

    404 if the user may not see it (or it is already deleted), 403 if it is neither theirs nor
    on their content. The row becomes a tombstone; counters and the ancestors' live-reply counts
    drop by one exactly once (the row lock and `deleted_at IS NULL` re-check make a racing second
    delete a 404). Notifications about the comment are deleted.
    """
    found = await _visible_comment(session, system, user_id, comment_id)
    if found is None:
        raise CommentNotFound(f"No comment {comment_id} here.")
    comment, owner = found
    if user_id not in (comment.author_id, owner):
        raise NotCommentAuthor("Only the author or the owner of the post may delete a comment.")
    ancestors = ancestor_ids(comment.path)
    locked = await _lock_in_order(session, [*ancestors, comment.id])
    current = locked.get(comment.id)
    if current is None or current.deleted_at is not None:
        raise CommentNotFound(f"No comment {comment_id} here.")
    current.deleted_at = utcnow()
    current.body = None
    await session.flush()
    if current.status != "spam":
        await _add_to_ancestors(session, ancestors, -1)
        await counters.add(
            session, system, current.target_kind, current.target_id, {counters.COMMENTS: -1}
        )
    await notifications.forget_target(session, system, "comment", current.id)
    return current


async def hide_comment(session: AsyncSession, system: str, comment_id: int) -> bool:
    """Hide a comment from everyone (moderation: past the report threshold). Returns True when
    this call hid it; False when it is missing, deleted or already hidden or spam. Its replies
    stay listed. Counters drop by one exactly once (same locking as `delete_comment`)."""
    comment = await session.get(FeedComment, comment_id)
    if comment is None or comment.system != system:
        return False
    ancestors = ancestor_ids(comment.path)
    locked = await _lock_in_order(session, [*ancestors, comment.id])
    current = locked.get(comment.id)
    if current is None or current.deleted_at is not None or current.status != "visible":
        return False
    current.status = "hidden"
    await session.flush()
    await _add_to_ancestors(session, ancestors, -1)
    await counters.add(
        session, system, current.target_kind, current.target_id, {counters.COMMENTS: -1}
    )
    return True


@dataclass(frozen=True)
class CommentPage:
    items: list[FeedComment]
    next_cursor: str | None


def _encode_cursor(path: str) -> str:
    return base64.urlsafe_b64encode(f"c{path}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> str:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this list.") from None
    if not raw.startswith("c") or not _PATH.match(raw[1:]):
        raise InvalidCursor("The cursor was not issued by this list.")
    return raw[1:]


async def _page(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    query: Select[Any],
    cursor: str | None,
    limit: int,
) -> CommentPage:
    limit = max(1, min(limit, MAX_PAGE))
    shown = or_(
        FeedComment.status == "visible",
        and_(FeedComment.status == "spam", FeedComment.author_id == viewer_id)
        if viewer_id is not None
        else FeedComment.status == "visible",
    )
    query = query.where(
        shown, or_(FeedComment.deleted_at.is_(None), FeedComment.live_descendants > 0)
    )
    if viewer_id is not None:
        query = query.where(
            FeedComment.id.not_in(
                select(FeedHide.target_id).where(
                    FeedHide.system == system,
                    FeedHide.user_id == viewer_id,
                    FeedHide.target_kind == "comment",
                )
            )
        )
    if cursor:
        query = query.where(FeedComment.path > _decode_cursor(cursor))
    rows: list[FeedComment] = list(
        await session.scalars(query.order_by(FeedComment.path).limit(limit + 1))
    )
    more = len(rows) > limit
    rows = rows[:limit]
    blocked: set[int] = set()
    if viewer_id is not None:
        blocked = await notifications.blocked_among(
            session, system, viewer_id, {c.author_id for c in rows}
        )
    return CommentPage(
        items=[c for c in rows if c.author_id not in blocked],
        next_cursor=_encode_cursor(rows[-1].path) if more else None,
    )


async def list_comments(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    target_kind: str,
    target_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> CommentPage:
    """A target's whole thread, depth-first (each comment followed by its replies, siblings
    oldest first), keyset-paged by path. 404 when the viewer may not see the target.

    Cost: one range scan of `limit` rows on the (system, target, path) index, one block probe.
    """
    await targets.require(session, system, target_kind, viewer_id, target_id)
    query = select(FeedComment).where(
        FeedComment.system == system,
        FeedComment.target_kind == target_kind,
        FeedComment.target_id == target_id,
    )
    return await _page(session, system, viewer_id, query, cursor, limit)


async def list_replies(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    comment_id: int,
    *,
    cursor: str | None = None,
    limit: int = 50,
) -> CommentPage:
    """The subtree under a comment, depth-first, keyset-paged. 404 when the viewer may not see
    the comment. Cost: one range scan of the path index."""
    found = await _visible_comment(session, system, viewer_id, comment_id)
    if found is None:
        raise CommentNotFound(f"No comment {comment_id} here.")
    parent = found[0]
    query = select(FeedComment).where(
        FeedComment.system == system,
        FeedComment.target_kind == parent.target_kind,
        FeedComment.target_id == parent.target_id,
        FeedComment.path > parent.path,
        FeedComment.path < parent.path + "g",
    )
    return await _page(session, system, viewer_id, query, cursor, limit)
