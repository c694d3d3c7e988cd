"""Free subscriptions: subscribe, unsubscribe (also by a signed one-click link), e-mail
preferences, and the publication's subscriber count.

The count changes only on a state transition made by one conditional UPDATE (`… WHERE status
<> 'active'` to subscribe, `… WHERE status = 'active'` to leave), so concurrent or repeated
requests move it exactly once each way: `UPDATE … SET subscriber_count = subscriber_count ± 1`.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.substack.errors import NotSubscribed
from casebook.systems.substack.models import Publication, Subscriber
from casebook.systems.substack.publishing import get_publication


async def _count(session: AsyncSession, publication_id: int, delta: int) -> None:
    await session.execute(
        update(Publication)
        .where(Publication.id == publication_id)
        .values(subscriber_count=Publication.subscriber_count + delta)
    )


async def subscribe(session: AsyncSession, user_id: int, publication_id: int) -> Subscriber:
    """Subscribe `user_id` (at their account's e-mail address); idempotent. O(log n)."""
    await get_publication(session, publication_id)
    existing = await subscription_of(session, user_id, publication_id)
    if existing is None:
        user = await session.get(User, user_id)
        assert user is not None, "an authenticated principal has a user"
        subscriber = Subscriber(
            id=new_id(),
            publication_id=publication_id,
            user_id=user_id,
            email=user.email,
            status="active",
            email_enabled=True,
            created_at=utcnow(),
        )
        try:
            async with session.begin_nested():
                session.add(subscriber)
        except IntegrityError:
            # A concurrent request subscribed the same reader first: theirs stands.
            found = await subscription_of(session, user_id, publication_id)
            assert found is not None
            return found
        await _count(session, publication_id, 1)
        return subscriber
    changed = await session.execute(
        update(Subscriber)
        .where(Subscriber.id == existing.id, Subscriber.status != "active")
        .values(status="active", unsubscribed_at=None, created_at=utcnow())
    )
    if changed.rowcount:  # type: ignore[attr-defined]
        await _count(session, publication_id, 1)
        await session.refresh(existing)
    return existing


async def subscription_of(
    session: AsyncSession, user_id: int, publication_id: int
) -> Subscriber | None:
    return await session.scalar(
        select(Subscriber).where(
            Subscriber.publication_id == publication_id, Subscriber.user_id == user_id
        )
    )


async def end_subscription(session: AsyncSession, subscriber_id: int, status: str) -> bool:
    """Move an active subscriber to `status` (unsubscribed or bounced); False if it was not
    active (nothing changes). O(log n)."""
    subscriber = await session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return False
    changed = await session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber_id, Subscriber.status == "active")
        .values(status=status, unsubscribed_at=utcnow())
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    await _count(session, subscriber.publication_id, -1)
    return True


async def unsubscribe(session: AsyncSession, user_id: int, publication_id: int) -> None:
    """Leave the publication. Raises NotSubscribed if not subscribed."""
    existing = await subscription_of(session, user_id, publication_id)
    if existing is None or not await end_subscription(session, existing.id, "unsubscribed"):
        raise NotSubscribed()


async def set_email_enabled(
    session: AsyncSession, user_id: int, publication_id: int, enabled: bool
) -> Subscriber:
    """The reader's preference: new posts by e-mail or only on the web."""
    existing = await subscription_of(session, user_id, publication_id)
    if existing is None or existing.status != "active":
        raise NotSubscribed()
    existing.email_enabled = enabled
    await session.flush()
    return existing


async def my_subscriptions(session: AsyncSession, user_id: int) -> list[Subscriber]:
    rows = await session.scalars(
        select(Subscriber)
        .where(Subscriber.user_id == user_id, Subscriber.status == "active")
        .order_by(Subscriber.created_at.desc())
        .limit(500)
    )
    return list(rows)
