"""The feed engine's tables: profiles, the social graph, pages and groups, custom lists, posts,
materialised home timelines and author affinity (prefix `feed_`).

Every row carries `system` (a catalogue slug): Facebook Newsfeed, Timeline and Instagram share
the engine without seeing each other's graph or posts, and every query filters by it.

Graph shape:

- `FeedFollow` is a directed edge follower → followee, where the followee is a user, a page or a
  group (all ids come from `new_id()`, so one column holds any of them). `status` is `active`,
  or `pending` while a private account has not approved it. Accepting a friendship creates the
  two active follow edges (as Facebook does), so a feed's sources are exactly the follow edges;
  unfollowing a friend hides their posts from the feed without ending the friendship.
- `FeedFriendship` holds a pending request as one row (requester → addressee, `pending`) and a
  friendship as two `accepted` rows, one per direction, so "friends of u" is one index range.
- `FeedBlock` is directed (who blocked whom); visibility checks treat it both ways.

Counters (`follower_count`) change by one atomic UPDATE per edge change, never read-modify-write.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Float, Index, String, Text, UniqueConstraint
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id

AUDIENCES = ("public", "followers", "friends", "list", "only_me", "group")
"""Stored audience kinds. `list` names `FeedPost.list_id`; `group` marks posts in a group (seen
by its members only)."""


class FeedProfile(Base):
    """A platform user as the system knows them: handle, privacy, follower count."""

    __tablename__ = "feed_profiles"
    __table_args__ = (
        UniqueConstraint("system", "handle"),
        CheckConstraint("follower_count >= 0", name="follower_count"),
        Index("ix_feed_profiles_private", "system", "private"),  # "posts of public accounts"
    )

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    handle: Mapped[str] = mapped_column(String(40))
    """Lower-case `[a-z0-9_]`, unique per system; what @mentions name."""
    display_name: Mapped[str] = mapped_column(String(100))
    private: Mapped[bool] = mapped_column(Boolean, default=False)
    """Follows become requests the user approves; "public" posts reach approved followers only."""
    follower_count: Mapped[int] = mapped_column(default=0)
    """Active follow edges towards this user (decides push or pull fan-out)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedEntity(Base):
    """A page (followed by anyone, posted to by its owner) or a group (members post and read)."""

    __tablename__ = "feed_entities"
    __table_args__ = (
        CheckConstraint("kind IN ('page', 'group')", name="kind"),
        CheckConstraint("follower_count >= 0", name="follower_count"),
        Index("ix_feed_entities_system_owner", "system", "owner_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    system: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    about: Mapped[str] = mapped_column(String(500), default="")
    owner_id: Mapped[int]
    follower_count: Mapped[int] = mapped_column(default=0)
    """Followers of a page; members of a group (who follow it by joining)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedGroupMember(Base):
    __tablename__ = "feed_group_members"
    __table_args__ = (Index("ix_feed_group_members_user", "system", "user_id"),)

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    group_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedFollow(Base):
    """follower → followee (a user, page or group id)."""

    __tablename__ = "feed_follows"
    __table_args__ = (
        CheckConstraint("status IN ('active', 'pending')", name="status"),
        CheckConstraint("followee_kind IN ('user', 'page', 'group')", name="followee_kind"),
        Index("ix_feed_follows_followee", "system", "followee_id", "status"),
    )

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    follower_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    followee_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    followee_kind: Mapped[str] = mapped_column(String(8), default="user")
    status: Mapped[str] = mapped_column(String(8), default="active")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedFriendship(Base):
    """A friend request (one `pending` row) or a friendship (two `accepted` rows)."""

    __tablename__ = "feed_friendships"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'accepted')", name="status"),
        Index("ix_feed_friendships_friend", "system", "friend_id", "status"),  # requests to me
    )

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """The requester of a pending row; either side of an accepted one."""
    friend_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    status: Mapped[str] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedBlock(Base):
    __tablename__ = "feed_blocks"
    __table_args__ = (Index("ix_feed_blocks_blocked", "system", "blocked_id"),)

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    blocker_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    blocked_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedList(Base):
    """A custom audience: a named list of user ids owned by one user."""

    __tablename__ = "feed_lists"
    __table_args__ = (Index("ix_feed_lists_owner", "system", "owner_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    system: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class FeedListMember(Base):
    __tablename__ = "feed_list_members"
    __table_args__ = (Index("ix_feed_list_members_user", "user_id"),)  # the lists a viewer is in

    list_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class FeedPost(Base):
    """A post. Soft-deleted (`deleted_at`), so jobs and timelines holding its id can tell."""

    __tablename__ = "feed_posts"
    __table_args__ = (
        CheckConstraint(
            "audience IN ('public', 'followers', 'friends', 'list', 'only_me', 'group')",
            name="audience",
        ),
        CheckConstraint("audience != 'list' OR list_id IS NOT NULL", name="list_named"),
        Index("ix_feed_posts_author", "system", "author_id", "id"),
        Index("ix_feed_posts_source", "system", "source_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    """Snowflake: time-ordered, so id order is publication order (cursors page by it)."""
    system: Mapped[str] = mapped_column(String(32))
    author_id: Mapped[int]
    source_id: Mapped[int]
    """Whose feed source this post belongs to: the page or group it was posted in, else the
    author. Followers of the source receive it."""
    body: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    page_id: Mapped[int | None]
    group_id: Mapped[int | None]
    audience: Mapped[str] = mapped_column(String(10), default="public")
    list_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]


class FeedTimelineEntry(Base):
    """One post id in one user's materialised home timeline (the embedded timeline store)."""

    __tablename__ = "feed_timeline"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    post_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    source_id: Mapped[int]


class FeedAffinity(Base):
    """How much `viewer_id` engages with `author_id`'s posts (grows with interactions)."""

    __tablename__ = "feed_affinity"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    viewer_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


async def insert_ignore(
    session: AsyncSession, table: type[Base], rows: list[dict[str, Any]], keys: list[str]
) -> int:
    """INSERT `rows` into `table`, skipping rows whose `keys` already exist (ON CONFLICT DO
    NOTHING on both backends); returns how many rows were inserted. One statement."""
    if not rows:
        return 0
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(rows).on_conflict_do_nothing(index_elements=keys)
    result = await session.execute(stmt)
    return int(getattr(result, "rowcount", 0) or 0)
