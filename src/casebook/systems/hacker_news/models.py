"""Hacker News tables (`hackernews_*`).

Items (stories and comments) share one integer id sequence, like HN's: ids are small, dense and
increasing, so `/v0/maxitem.json` is the newest item. Everything users race on (score, karma,
descendants, flags) is a column changed by one atomic UPDATE; the unique (user, item) keys of
votes and flags make "one vote per user per item" a database guarantee, not a check.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

ITEM_ID = BigInteger().with_variant(Integer(), "sqlite")
"""BIGINT on PostgreSQL (an identity sequence); INTEGER on SQLite so the key aliases the rowid
and autoincrements."""


class Account(Base):
    """A platform user's Hacker News identity: the unique username, karma and "about"."""

    __tablename__ = "hackernews_accounts"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True
    )
    username: Mapped[str] = mapped_column(String(15))
    username_key: Mapped[str] = mapped_column(String(15), unique=True)
    """The lower-cased username: "PG" and "pg" cannot both exist."""
    karma: Mapped[int] = mapped_column(default=1)
    about: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Item(Base):
    """A story (link, Ask HN, Show HN or text) or a comment.

    Comments carry `story_id` (their thread's root) and `path`, the materialized path of ids from
    the story's first-level comment down to this one (base-36, "/"-separated), so a subtree is one
    indexed prefix query and depth-first order is a sort.
    """

    __tablename__ = "hackernews_items"
    __table_args__ = (
        Index("ix_hackernews_items_type_id", "type", "id"),
        Index("ix_hackernews_items_kind_id", "kind", "id"),
        Index("ix_hackernews_items_by_id_id", "by_id", "id"),
        Index("ix_hackernews_items_story_path", "story_id", "path"),
        Index("ix_hackernews_items_created", "type", "created_at"),
    )

    id: Mapped[int] = mapped_column(ITEM_ID, primary_key=True, autoincrement=True)
    type: Mapped[str] = mapped_column(String(8))
    """"story" or "comment", as the HN API names them."""
    kind: Mapped[str | None] = mapped_column(String(8))
    """For stories: "link", "ask", "show" or "text"; None for comments."""
    by_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    parent_id: Mapped[int | None] = mapped_column(index=True)
    story_id: Mapped[int | None]
    path: Mapped[str] = mapped_column(String(1400), default="")
    depth: Mapped[int] = mapped_column(SmallInteger, default=0)
    title: Mapped[str | None] = mapped_column(String(80))
    url: Mapped[str | None] = mapped_column(String(2000))
    domain: Mapped[str | None] = mapped_column(String(253))
    text: Mapped[str | None] = mapped_column(Text)
    score: Mapped[int] = mapped_column(default=1)
    descendants: Mapped[int] = mapped_column(default=0)
    flags: Mapped[int] = mapped_column(default=0)
    penalty: Mapped[float] = mapped_column(Float, default=1.0)
    """Rank factor from the story's kind and domain (flags are applied on top)."""
    dead: Mapped[bool] = mapped_column(Boolean, default=False)
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Vote(Base):
    """One user's vote on one item: +1 or -1. Unvoting deletes the row."""

    __tablename__ = "hackernews_votes"
    __table_args__ = (Index("ix_hackernews_votes_user_created", "user_id", "created_at"),)

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ITEM_ID, ForeignKey("hackernews_items.id", ondelete="CASCADE"), primary_key=True
    )
    direction: Mapped[int] = mapped_column(SmallInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Flag(Base):
    """One user's flag on one item."""

    __tablename__ = "hackernews_flags"

    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True
    )
    item_id: Mapped[int] = mapped_column(
        ITEM_ID, ForeignKey("hackernews_items.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UrlClaim(Base):
    """The story that holds a normalized URL, for duplicate detection.

    `url_hash` is the SHA-256 of the normalized URL; one row per URL makes two concurrent
    submissions of the same link race on a primary key instead of both passing a check.
    """

    __tablename__ = "hackernews_url_claims"

    url_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    item_id: Mapped[int] = mapped_column(ITEM_ID)
    claimed_at: Mapped[datetime] = mapped_column(default=utcnow)
