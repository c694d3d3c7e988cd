"""Reactions (like, love, haha, …): at most one per (system, user, target), changeable, removable,
with exact counters per target.

Correctness under concurrency rests on three single statements, never read-modify-write:

- adding is `INSERT … ON CONFLICT DO NOTHING RETURNING id`: of two racing first reactions by one
  user, exactly one inserts (and counts +1);
- changing the kind is a compare-and-set `UPDATE … SET kind = new WHERE kind = old`: of two
  racing changes from the same old kind, exactly one moves the counters; the other re-reads and
  retries;
- removing is `DELETE … RETURNING kind`: of two racing removals exactly one gets the row back
  and counts -1.

The counter changes run in the same transaction (counters.add), so counts always equal the rows.
Each operation is O(1) statements (a retry only when another request changed the same row).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import counters, notifications, targets
from casebook.engines.feed.engagement_models import FeedReaction
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id

REACTION_KINDS: tuple[str, ...] = ("like", "love", "care", "haha", "wow", "sad", "angry")
"""Facebook's reactions; a system may allow a subset (Instagram: like only)."""

MAX_PAGE = 100
AFFINITY_WEIGHT = 1.0
"""What one reaction adds to the reactor's affinity for the post's author (ranking.py)."""


class UnknownReaction(InvalidInput):
    type_ = "feed/unknown-reaction"
    title = "Unknown reaction"


class InvalidCursor(InvalidInput):
    type_ = "feed/invalid-cursor"
    title = "The cursor is not valid"


@dataclass(frozen=True)
class ReactionState:
    """The caller's reaction after a change (None: none) and the target's counters."""

    kind: str | None
    changed: bool
    counts: dict[str, int]


async def _record_affinity(
    session: AsyncSession, system: str, target_kind: str, user_id: int, owner_id: int
) -> None:
    """Tell the feed's ranking that `user_id` engaged with `owner_id`'s post."""
    if target_kind != "post" or user_id == owner_id:
        return
    from casebook.engines.feed import ranking  # the feed core's module; imported on use

    await ranking.record_interaction(session, system, user_id, owner_id, AFFINITY_WEIGHT)


async def react(
    session: AsyncSession,
    system: str,
    user_id: int,
    target_kind: str,
    target_id: int,
    kind: str,
    *,
    allowed: Sequence[str] = REACTION_KINDS,
) -> ReactionState:
    """Set `user_id`'s reaction to the target to `kind` (adding, changing or keeping it).

    Raises `UnknownReaction` (422) for a kind not in `allowed` and `TargetNotFound` (404) when
    the user may not see the target. A first reaction notifies the target's owner ("like") and
    grows the user's affinity for them. `changed` is False when the reaction already had `kind`.
    """
    if kind not in allowed:
        raise UnknownReaction(f"{kind!r} is not one of {', '.join(allowed)}.")
    owner = await targets.require(session, system, target_kind, user_id, target_id)
    key = (
        FeedReaction.system == system,
        FeedReaction.target_kind == target_kind,
        FeedReaction.target_id == target_id,
        FeedReaction.user_id == user_id,
    )
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    while True:
        inserted = await session.scalar(
            insert(FeedReaction)
            .values(
                id=new_id(),
                system=system,
                target_kind=target_kind,
                target_id=target_id,
                user_id=user_id,
                kind=kind,
                created_at=utcnow(),
            )
            .on_conflict_do_nothing(
                index_elements=["system", "target_kind", "target_id", "user_id"]
            )
            .returning(FeedReaction.id)
        )
        if inserted is not None:
            await counters.add(
                session,
                system,
                target_kind,
                target_id,
                {counters.REACTIONS: 1, counters.reaction_counter(kind): 1},
            )
            await notifications.notify(
                session, system, owner, "like", user_id, target_kind, target_id
            )
            await _record_affinity(session, system, target_kind, user_id, owner)
            return ReactionState(
                kind, True, await counters.read(session, system, target_kind, target_id)
            )
        old = await session.scalar(select(FeedReaction.kind).where(*key))
        if old is None:
            continue  # removed between our insert and read: insert again
        if old == kind:
            return ReactionState(
                kind, False, await counters.read(session, system, target_kind, target_id)
            )
        moved = await session.execute(
            update(FeedReaction)
            .where(*key, FeedReaction.kind == old)
            .values(kind=kind)
            .execution_options(synchronize_session=False)
        )
        if getattr(moved, "rowcount", 0) == 1:
            await counters.add(
                session,
                system,
                target_kind,
                target_id,
                {counters.reaction_counter(old): -1, counters.reaction_counter(kind): 1},
            )
            return ReactionState(
                kind, True, await counters.read(session, system, target_kind, target_id)
            )
        # Another request changed or removed the reaction since we read it: try again.


async def unreact(
    session: AsyncSession, system: str, user_id: int, target_kind: str, target_id: int
) -> ReactionState:
    """Remove `user_id`'s reaction to the target, if any (`changed` says whether there was one).

    Raises `TargetNotFound` (404) when the user may not see the target. One DELETE … RETURNING.
    """
    await targets.require(session, system, target_kind, user_id, target_id)
    removed = await session.scalar(
        delete(FeedReaction)
        .where(
            FeedReaction.system == system,
            FeedReaction.target_kind == target_kind,
            FeedReaction.target_id == target_id,
            FeedReaction.user_id == user_id,
        )
        .returning(FeedReaction.kind)
    )
    if removed is not None:
        await counters.add(
            session,
            system,
            target_kind,
            target_id,
            {counters.REACTIONS: -1, counters.reaction_counter(removed): -1},
        )
    return ReactionState(
        None, removed is not None, await counters.read(session, system, target_kind, target_id)
    )


async def reaction_of(
    session: AsyncSession, system: str, user_id: int, target_kind: str, target_id: int
) -> str | None:
    """The kind of `user_id`'s reaction to the target, or None. One unique-index probe."""
    kind: str | None = await session.scalar(
        select(FeedReaction.kind).where(
            FeedReaction.system == system,
            FeedReaction.target_kind == target_kind,
            FeedReaction.target_id == target_id,
            FeedReaction.user_id == user_id,
        )
    )
    return kind


@dataclass(frozen=True)
class ReactorPage:
    items: list[FeedReaction]
    next_cursor: str | None


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("r") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this list.") from None


def _encode_cursor(reaction_id: int) -> str:
    return base64.urlsafe_b64encode(f"r{reaction_id}".encode()).decode().rstrip("=")


async def reactors(
    session: AsyncSession,
    system: str,
    viewer_id: int | None,
    target_kind: str,
    target_id: int,
    *,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int = 20,
) -> ReactorPage:
    """Who reacted to the target (optionally only `kind`), newest first, keyset-paged.

    Raises `TargetNotFound` when the viewer may not see the target. Users in a block with the
    viewer (either way) are left out of the page. Cost: a range scan of `limit` rows of the
    (system, target, id) index plus one block probe.
    """
    await targets.require(session, system, target_kind, viewer_id, target_id)
    limit = max(1, min(limit, MAX_PAGE))
    query = select(FeedReaction).where(
        FeedReaction.system == system,
        FeedReaction.target_kind == target_kind,
        FeedReaction.target_id == target_id,
    )
    if kind is not None:
        query = query.where(FeedReaction.kind == kind)
    if cursor:
        query = query.where(FeedReaction.id < _decode_cursor(cursor))
    rows = list(await session.scalars(query.order_by(FeedReaction.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    hidden: set[int] = set()
    if viewer_id is not None:
        hidden = await notifications.blocked_among(
            session, system, viewer_id, {r.user_id for r in rows}
        )
    return ReactorPage(
        items=[r for r in rows if r.user_id not in hidden],
        next_cursor=_encode_cursor(rows[-1].id) if more else None,
    )
