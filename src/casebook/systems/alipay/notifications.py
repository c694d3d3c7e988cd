"""Notifications: what a user is told about payments, status changes and account activity.

`notify` adds the row in the caller's transaction, so a notice exists exactly when the change it
announces committed. Reading is by cursor, newest first; only the owner sees or marks them.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.alipay.errors import NotificationNotFound
from casebook.systems.alipay.models import Notification

NEWEST_FIRST = Keyset(Notification.id)


def yuan(fen: int) -> str:
    """`12345` → `¥123.45`."""
    sign = "-" if fen < 0 else ""
    return f"{sign}¥{abs(fen) // 100}.{abs(fen) % 100:02d}"


def notify(session: AsyncSession, user_id: int, kind: str, message: str) -> None:
    session.add(Notification(user_id=user_id, kind=kind, message=message[:300]))


async def list_notifications(
    session: AsyncSession, user_id: int, page: PageParams, *, unread_only: bool = False
) -> tuple[list[Notification], str | None]:
    stmt = select(Notification).where(Notification.user_id == user_id)
    if unread_only:
        stmt = stmt.where(Notification.read_at.is_(None))
    return await NEWEST_FIRST.fetch(session, stmt, page)


async def mark_read(session: AsyncSession, user_id: int, notification_id: int) -> Notification:
    """Mark the user's notification read (idempotent). Raises NotificationNotFound."""
    await session.execute(
        update(Notification)
        .where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    row = await session.scalar(
        select(Notification).where(
            Notification.id == notification_id, Notification.user_id == user_id
        )
    )
    if row is None:
        raise NotificationNotFound(f"You have no notification {notification_id}.")
    return row
