"""The feed engine's engagement tables: reactions, threaded comments, shares, exact counters,
in-app notifications, reports and hides, and content fingerprints for spam checks.

Every row carries `system` (a catalogue slug) and a target named by (`target_kind`, `target_id`):
a post of the feed core, a comment, a Substack post… (see targets.py). Nothing here references
another table by foreign key, so any system's content can be a target.

Counters (`FeedCounter`) are one row per (system, target, name) changed only by one atomic
upsert `value = value + delta` in the transaction of the change they count; reading a target's
counters is one index range read.

Comment threads use a materialized path: a comment's `path` is its ancestors' ids and its own,
each as 16 lower-case hex digits. Ids are time-ordered, so ordering a target's comments by
`path` is the depth-first order of the thread with siblings oldest first, and a subtree is the
range `[path, path + "g")` of the index.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

PATH_SEGMENT = 16
"""Hex digits per path segment: a 63-bit id, zero-padded."""

MAX_PATH = 512
"""Room for 32 levels; the configured maximum depth is far below."""


class FeedReaction(Base):
    """One user's reaction to one target; a user has at most one per target (changing its kind
    updates the row)."""

    __tablename__ = "feed_reactions"
    __table_args__ = (
        UniqueConstraint("system", "target_kind", "target_id", "user_id"),
        Index("ix_feed_reactions_target", "system", "target_kind", "target_id", "id"),
        Index("ix_feed_reactions_user", "system", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int]
    user_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedCounter(Base):
    """An exact counter of a target: "reactions", "reaction:<kind>", "comments", "shares",
    "reports". Only ever changed by `counters.add` (one atomic upsert)."""

    __tablename__ = "feed_counters"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    target_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(default=0)


class FeedComment(Base):
    """A comment on a target, or a reply to a comment (then `parent_id` is set and `path` extends
    the parent's). Deleting leaves a tombstone (`deleted_at` set, body erased) so the thread keeps
    its shape; `live_descendants` counts the live comments under it, so a tombstone is shown only
    while it still has live replies."""

    __tablename__ = "feed_comments"
    __table_args__ = (
        UniqueConstraint("system", "target_kind", "target_id", "path"),
        Index("ix_feed_comments_author", "system", "author_id", "created_at"),
        CheckConstraint("depth >= 0 AND live_descendants >= 0", name="counters"),
        CheckConstraint("status IN ('visible', 'spam', 'hidden')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int]
    author_id: Mapped[int]
    parent_id: Mapped[int | None]
    path: Mapped[str] = mapped_column(String(MAX_PATH))
    depth: Mapped[int] = mapped_column(default=0)
    body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    live_descendants: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(String(8), default="visible")
    """visible; spam (marked on create: shown to its author only); hidden (by moderation)."""


class FeedShare(Base):
    """One user's share of a target. `post_id` is the feed post that carries it (a post with
    `data.shared_post_id`), when the feed core created one."""

    __tablename__ = "feed_shares"
    __table_args__ = (
        Index("ix_feed_shares_target", "system", "target_kind", "target_id", "id"),
        Index("ix_feed_shares_user", "system", "user_id", "id"),
        Index("ix_feed_shares_post", "system", "post_id"),  # a deleted post's shares
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int]
    user_id: Mapped[int]
    post_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedNotification(Base):
    """An in-app notification. `dedup_key` (e.g. "like:post:<id>:<actor>") is unique per
    recipient: the same event never notifies twice."""

    __tablename__ = "feed_notifications"
    __table_args__ = (
        UniqueConstraint("system", "recipient_id", "dedup_key"),
        Index("ix_feed_notifications_inbox", "system", "recipient_id", "id"),
        Index("ix_feed_notifications_unread", "system", "recipient_id", "read_at"),
        Index("ix_feed_notifications_target", "system", "target_kind", "target_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    recipient_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int]
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int]
    dedup_key: Mapped[str] = mapped_column(String(96))
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    read_at: Mapped[datetime | None]


class FeedReport(Base):
    """A user's report of a target, one per (user, target)."""

    __tablename__ = "feed_reports"
    __table_args__ = (
        UniqueConstraint("system", "target_kind", "target_id", "reporter_id"),
        Index("ix_feed_reports_created", "system", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    target_kind: Mapped[str] = mapped_column(String(24))
    target_id: Mapped[int]
    reporter_id: Mapped[int]
    reason: Mapped[str] = mapped_column(String(24))
    note: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedHide(Base):
    """A target one user hid from themselves (reporting hides it for the reporter too)."""

    __tablename__ = "feed_hides"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    target_kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    target_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedModeration(Base):
    """A target hidden from everyone (past the report threshold, or by a moderator)."""

    __tablename__ = "feed_moderation"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    target_kind: Mapped[str] = mapped_column(String(24), primary_key=True)
    target_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    reason: Mapped[str] = mapped_column(String(24))
    hidden: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedFingerprint(Base):
    """A digest of content a user created, with when they last posted it: the duplicate-content
    check is one upsert that refreshes `created_at` only when it is older than the window."""

    __tablename__ = "feed_fingerprints"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
