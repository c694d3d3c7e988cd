"""In-app notifications: follow, follow request, friend request, like, comment, reply, mention.

`notify` writes at most one row per (recipient, dedup key) — the key names the event ("like:
post:<id>:<actor>"), so liking, unliking and liking again notifies once, and a retried request
never notifies twice. It never notifies the actor themself, nor across a block (either way), nor
about a target the recipient may not see (a mention in a comment on a post they cannot read).

Reading re-checks each notification against the present: a notification whose target was since
deleted or hidden from the recipient, or whose actor is now blocked either way, is not listed.
The unread count is one indexed COUNT over the recipient's unread rows whose actor is not
blocked either way; deleting a comment or a post deletes the notifications about it, so the
count does not keep stale items.

Live: once the transaction that stored a notification commits, its recipient's sockets on
`/ws/<slug>` are told (`{"type": "notification", …}`, see live.py), after the same re-check
the list makes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import Engine, and_, delete, event, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from casebook.engines.feed import targets
from casebook.engines.feed.engagement_models import FeedNotification
from casebook.engines.feed.models import FeedBlock
from casebook.platform.bus import Bus
from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id

KINDS = ("follow", "follow_request", "friend_request", "like", "comment", "reply", "mention")
MAX_PAGE = 100


class InvalidCursor(InvalidInput):
    type_ = "feed/invalid-cursor"
    title = "The cursor is not valid"


def dedup_key(kind: str, actor_id: int, target_kind: str, target_id: int) -> str:
    """The event a notification stands for. Likes and follows are per actor and target (so
    toggling does not re-notify); comments and replies are per comment (each is news); a mention
    is per mentioning target."""
    if kind in ("follow", "follow_request", "friend_request"):
        return f"{kind}:{actor_id}"
    if kind == "like":
        return f"like:{target_kind}:{target_id}:{actor_id}"
    return f"{kind}:{target_kind}:{target_id}"


async def blocked_among(
    session: AsyncSession, system: str, user_id: int, others: Iterable[int]
) -> set[int]:
    """The users of `others` who blocked `user_id` or whom `user_id` blocked. One indexed query."""
    ids = set(others) - {user_id}
    if not ids:
        return set()
    rows = await session.execute(
        select(FeedBlock.blocker_id, FeedBlock.blocked_id).where(
            FeedBlock.system == system,
            or_(
                and_(FeedBlock.blocker_id == user_id, FeedBlock.blocked_id.in_(ids)),
                and_(FeedBlock.blocked_id == user_id, FeedBlock.blocker_id.in_(ids)),
            ),
        )
    )
    return {blocked if blocker == user_id else blocker for blocker, blocked in rows}


async def notify(
    session: AsyncSession,
    system: str,
    recipient_id: int,
    kind: str,
    actor_id: int,
    target_kind: str,
    target_id: int,
) -> bool:
    """Notify `recipient_id` that `actor_id` did `kind` to (`target_kind`, `target_id`).

    `kind` is one of KINDS (ValueError otherwise: a programming error). Returns True when a new
    notification was stored; False when it was skipped (self, a block either way, a target the
    recipient may not see) or is a duplicate. A registered target kind is resolved with the
    recipient as viewer; other kinds ("user" for follows) are not. Runs in the caller's
    transaction; one insert plus at most two probes.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    if recipient_id == actor_id:
        return False
    if await blocked_among(session, system, recipient_id, [actor_id]):
        return False
    if (
        targets.is_registered(target_kind)
        and await targets.resolve(session, system, target_kind, recipient_id, target_id) is None
    ):
        return False
    values = {
        "id": new_id(),
        "system": system,
        "recipient_id": recipient_id,
        "kind": kind,
        "actor_id": actor_id,
        "target_kind": target_kind,
        "target_id": target_id,
        "dedup_key": dedup_key(kind, actor_id, target_kind, target_id),
        "created_at": utcnow(),
    }
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = (
        insert(FeedNotification)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["system", "recipient_id", "dedup_key"])
        .returning(FeedNotification.id)
    )
    created = await session.scalar(stmt)
    if created is None:
        return False
    _announce_after_commit(session, system, recipient_id, created)
    return True


# Live pushes ---------------------------------------------------------------------------------
#
# A notification is told to the recipient's sockets (live.py) only once the transaction that
# wrote it commits: a notification rolled back with its cause must never have been shown. The
# session does not know the platform's bus, so `publish_through` maps the database engine of
# each running platform to its bus (weakly: a closed platform is forgotten).

_buses: weakref.WeakKeyDictionary[Engine, Bus] = weakref.WeakKeyDictionary()
_in_flight: set[asyncio.Task[None]] = set()
_PENDING = "feed.notifications.pending"


def publish_through(engine: Engine, bus: Bus) -> None:
    """Push notifications written through `engine` (a platform's database) on `bus`: called by
    `mount.startup`. Without it notifications are stored and listed, not pushed."""
    _buses[engine] = bus


def _announce_after_commit(
    session: AsyncSession, system: str, recipient_id: int, notification_id: int
) -> None:
    bind = session.get_bind()
    engine = bind if isinstance(bind, Engine) else bind.engine
    bus = _buses.get(engine)
    if bus is None:
        return
    sync = session.sync_session
    pending: list[tuple[str, bytes]] | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []

        def committed(_: Session) -> None:
            messages = sync.info.pop(_PENDING, [])
            if messages:
                task = asyncio.get_running_loop().create_task(bus.publish_many(messages))
                _in_flight.add(task)
                task.add_done_callback(_in_flight.discard)

        def rolled_back(_: Session, __: object) -> None:
            sync.info.pop(_PENDING, None)

        event.listen(sync, "after_commit", committed, once=True)
        event.listen(sync, "after_soft_rollback", rolled_back, once=True)
    from casebook.engines.feed.live import user_channel

    message = orjson.dumps({"type": "notification", "notification_id": str(notification_id)})
    pending.append((user_channel(system, recipient_id), message))


async def still_listed(
    session: AsyncSession, system: str, recipient_id: int, notification_id: int
) -> FeedNotification | None:
    """The recipient's notification if `list_for` would list it now (theirs, in `system`, its
    actor not blocked either way, its target still visible to them); else None. For live
    pushes: one primary-key read, one block probe, one target resolution."""
    from casebook.engines.feed import audience, comments  # noqa: F401  (register targets)

    notification = await session.get(FeedNotification, notification_id)
    if (
        notification is None
        or notification.system != system
        or notification.recipient_id != recipient_id
    ):
        return None
    if await blocked_among(session, system, recipient_id, [notification.actor_id]):
        return None
    if targets.is_registered(notification.target_kind):
        owner = await targets.resolve(
            session, system, notification.target_kind, recipient_id, notification.target_id
        )
        if owner is None:
            return None
    return notification


async def forget_target(
    session: AsyncSession, system: str, target_kind: str, target_id: int
) -> None:
    """Delete every notification about a target that is gone (a deleted comment). One statement."""
    await session.execute(
        delete(FeedNotification).where(
            FeedNotification.system == system,
            FeedNotification.target_kind == target_kind,
            FeedNotification.target_id == target_id,
        )
    )


@dataclass(frozen=True)
class NotificationPage:
    items: list[FeedNotification]
    unread_count: int
    next_cursor: str | None


def _encode_cursor(notification_id: int) -> str:
    return base64.urlsafe_b64encode(f"n{notification_id}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not raw.startswith("n") or not raw[1:].isdigit():
            raise ValueError(raw)
        return int(raw[1:])
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidCursor("The cursor was not issued by this list.") from None


async def unread_count(session: AsyncSession, system: str, recipient_id: int) -> int:
    """The recipient's unread notifications whose actor is not blocked either way (a block
    made after the notification hides it from the list, so it must not count either). One
    COUNT over the (system, recipient, read_at) index with a NOT EXISTS probe of the blocks'
    primary key per row: O(unread)."""
    blocked = select(FeedBlock.blocker_id).where(
        FeedBlock.system == system,
        or_(
            and_(
                FeedBlock.blocker_id == recipient_id,
                FeedBlock.blocked_id == FeedNotification.actor_id,
            ),
            and_(
                FeedBlock.blocked_id == recipient_id,
                FeedBlock.blocker_id == FeedNotification.actor_id,
            ),
        ),
    )
    count = await session.scalar(
        select(func.count())
        .select_from(FeedNotification)
        .where(
            FeedNotification.system == system,
            FeedNotification.recipient_id == recipient_id,
            FeedNotification.read_at.is_(None),
            ~blocked.exists(),
        )
    )
    return int(count or 0)


async def list_for(
    session: AsyncSession,
    system: str,
    recipient_id: int,
    *,
    cursor: str | None = None,
    limit: int = 20,
    unread_only: bool = False,
) -> NotificationPage:
    """The recipient's notifications, newest first, `limit` (1..MAX_PAGE) a page.

    The cursor is the last id seen (keyset on the inbox index), so pages neither repeat nor skip
    while new notifications arrive. Items whose actor is now blocked (either way) or whose target
    the recipient can no longer see are dropped from the page (the page may then be shorter than
    `limit`; `next_cursor` is None only at the end). Cost: one range read of `limit` rows, one
    block probe, and one target resolution per item.
    """
    # The engine's own target kinds register on import; make sure they are registered in
    # this process before deciding what the recipient may still see.
    from casebook.engines.feed import audience, comments  # noqa: F401

    limit = max(1, min(limit, MAX_PAGE))
    query = select(FeedNotification).where(
        FeedNotification.system == system, FeedNotification.recipient_id == recipient_id
    )
    if unread_only:
        query = query.where(FeedNotification.read_at.is_(None))
    if cursor:
        query = query.where(FeedNotification.id < _decode_cursor(cursor))
    rows = list(await session.scalars(query.order_by(FeedNotification.id.desc()).limit(limit + 1)))
    more = len(rows) > limit
    rows = rows[:limit]
    blocked = await blocked_among(session, system, recipient_id, {n.actor_id for n in rows})
    items: list[FeedNotification] = []
    for notification in rows:
        if notification.actor_id in blocked:
            continue
        if targets.is_registered(notification.target_kind):
            owner = await targets.resolve(
                session, system, notification.target_kind, recipient_id, notification.target_id
            )
            if owner is None:
                continue
        items.append(notification)
    return NotificationPage(
        items=items,
        unread_count=await unread_count(session, system, recipient_id),
        next_cursor=_encode_cursor(rows[-1].id) if more and rows else None,
    )


async def mark_read(
    session: AsyncSession,
    system: str,
    recipient_id: int,
    ids: Sequence[int] | None = None,
    *,
    at: datetime | None = None,
) -> int:
    """Mark the recipient's notifications read: those of `ids`, or all when `ids` is None.

    Ids of other users' notifications match nothing (the recipient filter), so nobody can touch
    another inbox. Returns how many were unread and are now read. One UPDATE.
    """
    stmt = update(FeedNotification).where(
        FeedNotification.system == system,
        FeedNotification.recipient_id == recipient_id,
        FeedNotification.read_at.is_(None),
    )
    if ids is not None:
        if not ids:
            return 0
        stmt = stmt.where(FeedNotification.id.in_(list(ids)))
    result = await session.execute(
        stmt.values(read_at=at or utcnow()).execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)
