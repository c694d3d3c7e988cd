"""What readers do with an e-mail: opens (a 1x1 pixel), clicks (tracked redirects) and
one-click unsubscribes, each from a signed token in the message.

Counters move by one atomic UPDATE each (`open_count = open_count + 1`, first time kept with
COALESCE), so concurrent opens and clicks are all counted. A click redirects only to the post's
own link at that index: the token names the delivery, the delivery its post, the post its
links, so the redirect cannot be pointed anywhere else (no open redirect). O(log n) each.
"""

from __future__ import annotations

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.systems.substack import tokens
from casebook.systems.substack.errors import InvalidToken
from casebook.systems.substack.models import Delivery, Post
from casebook.systems.substack.subscriptions import end_subscription

PIXEL = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
    b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)
"""A transparent 1x1 GIF."""


async def record_open(session: AsyncSession, key: str, token: str) -> None:
    """Count an open of the delivery named by `token`. Raises InvalidToken."""
    delivery_id = tokens.verify(key, tokens.Purpose.DELIVERY, token)
    now = utcnow()
    result = await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            open_count=Delivery.open_count + 1, opened_at=func.coalesce(Delivery.opened_at, now)
        )
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        raise InvalidToken()


async def record_click(session: AsyncSession, key: str, token: str, index: int) -> str:
    """Count a click and return the post's link number `index`. Raises InvalidToken."""
    delivery_id = tokens.verify(key, tokens.Purpose.DELIVERY, token)
    delivery = await session.get(Delivery, delivery_id)
    if delivery is None:
        raise InvalidToken()
    post = await session.get(Post, delivery.post_id)
    if post is None or not 0 <= index < len(post.links):
        raise InvalidToken()
    now = utcnow()
    await session.execute(
        update(Delivery)
        .where(Delivery.id == delivery_id)
        .values(
            click_count=Delivery.click_count + 1,
            clicked_at=func.coalesce(Delivery.clicked_at, now),
            # A click proves the message was opened even when images were blocked.
            opened_at=func.coalesce(Delivery.opened_at, now),
        )
    )
    return str(post.links[index])


async def unsubscribe_by_token(session: AsyncSession, key: str, token: str) -> bool:
    """One-click unsubscribe (RFC 8058). Returns False if already unsubscribed.
    Raises InvalidToken."""
    subscriber_id = tokens.verify(key, tokens.Purpose.UNSUBSCRIBE, token)
    return await end_subscription(session, subscriber_id, "unsubscribed")
