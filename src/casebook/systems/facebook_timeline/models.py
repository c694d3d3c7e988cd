"""Facebook Timeline's own tables (prefix `facebooktimeline_`). Everything else — posts,
audiences, the graph, reactions, comments, shares — lives in the feed engine's tables under the
system slug "facebook-timeline".

- `TimelineLifeEvent` types a feed post as a life event with its own date: the timeline places
  it at that date (a post written today about a 2019 graduation sits in 2019), which is what
  the seed's backdated life events need. The post (body, audience, engagement) is the engine's.
- `TimelinePin` holds a user's featured posts in numbered slots (`MAX_PINS` of them): the slot
  is part of the primary key, so two concurrent pins can never take more slots than exist.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

LIFE_EVENT_TYPES = (
    "birthday",
    "graduation",
    "new_job",
    "relationship",
    "moved",
    "new_home",
    "travel",
    "milestone",
)
"""Typed life events (the seed's birthdays, graduations, new jobs, relationships, and more)."""

SYSTEM = "facebook-timeline"
"""The catalogue slug: every engine row of this system carries it."""

MAX_PINS = 3
"""Featured posts per user; pinning a fourth answers 409 until one is unpinned."""


class TimelineLifeEvent(Base):
    """A feed post that is a life event: its type, its own date and its title."""

    __tablename__ = "facebooktimeline_life_events"
    __table_args__ = (
        CheckConstraint(
            "event_type IN (" + ", ".join(f"'{kind}'" for kind in LIFE_EVENT_TYPES) + ")",
            name="event_type",
        ),
        Index("ix_facebooktimeline_life_events_user", "user_id", "event_date", "post_id"),
    )

    post_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int]
    event_type: Mapped[str] = mapped_column(String(16))
    event_date: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TimelinePin(Base):
    """One featured post of a user, in slot `slot` (0 ≤ slot < MAX_PINS)."""

    __tablename__ = "facebooktimeline_pins"
    __table_args__ = (
        UniqueConstraint("user_id", "post_id"),
        CheckConstraint(f"slot >= 0 AND slot < {MAX_PINS}", name="slot"),
    )

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    slot: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    post_id: Mapped[int]
    pinned_at: Mapped[datetime] = mapped_column(default=utcnow)
