"""Analytics for a publication's authors: subscriber growth per day, and per post the e-mails
sent, unique opens and clicks with their rates. Aggregates by SQL (GROUP BY), O(rows scanned)
through the indexes on publication and post."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.systems.substack.models import Delivery, PaidSubscription, Post, Subscriber


@dataclass(frozen=True)
class DayGrowth:
    day: date
    subscribed: int
    unsubscribed: int


@dataclass(frozen=True)
class PostStats:
    post_id: int
    title: str
    sent: int
    opened: int
    clicked: int

    @property
    def open_rate(self) -> float:
        return self.opened / self.sent if self.sent else 0.0

    @property
    def click_rate(self) -> float:
        return self.clicked / self.sent if self.sent else 0.0


@dataclass(frozen=True)
class Report:
    subscribers: int
    paid_subscribers: int
    growth: list[DayGrowth]
    posts: list[PostStats]


def _days(rows: list[datetime], since: date) -> dict[date, int]:
    counts: dict[date, int] = {}
    for moment in rows:
        day = moment.date()
        if day >= since:
            counts[day] = counts.get(day, 0) + 1
    return counts


async def report(session: AsyncSession, publication_id: int, days: int = 30) -> Report:
    """The publication's numbers over the last `days` days (growth) and its last 50 posts."""
    now = utcnow()
    since = (now - timedelta(days=days - 1)).date()
    start = datetime.combine(since, datetime.min.time(), now.tzinfo)
    joined = list(
        await session.scalars(
            select(Subscriber.created_at).where(
                Subscriber.publication_id == publication_id, Subscriber.created_at >= start
            )
        )
    )
    left = list(
        await session.scalars(
            select(Subscriber.unsubscribed_at).where(
                Subscriber.publication_id == publication_id,
                Subscriber.unsubscribed_at >= start,
            )
        )
    )
    joins, leaves = _days(joined, since), _days([m for m in left if m], since)
    growth = [
        DayGrowth(
            since + timedelta(days=i),
            joins.get(since + timedelta(days=i), 0),
            leaves.get(since + timedelta(days=i), 0),
        )
        for i in range(days)
    ]
    subscribers = await session.scalar(
        select(func.count()).where(
            Subscriber.publication_id == publication_id, Subscriber.status == "active"
        )
    )
    paid = await session.scalar(
        select(func.count()).where(
            PaidSubscription.publication_id == publication_id,
            PaidSubscription.current_period_end > now,
        )
    )
    sent_states = ("sent", "bounced")
    rows = (
        await session.execute(
            select(
                Post.id,
                Post.title,
                func.count(Delivery.id).filter(Delivery.status.in_(sent_states)),
                func.count(Delivery.id).filter(Delivery.opened_at.is_not(None)),
                func.count(Delivery.id).filter(Delivery.clicked_at.is_not(None)),
            )
            .select_from(Post)
            .outerjoin(Delivery, Delivery.post_id == Post.id)
            .where(Post.publication_id == publication_id, Post.status == "published")
            .group_by(Post.id, Post.title, Post.published_at)
            .order_by(Post.published_at.desc(), Post.id.desc())
            .limit(50)
        )
    ).all()
    posts = [PostStats(r[0], r[1], r[2], r[3], r[4]) for r in rows]
    return Report(int(subscribers or 0), int(paid or 0), growth, posts)
