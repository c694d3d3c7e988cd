"""Instagram's own tables (`instagram_*`), beside the feed engine's posts and graph.

A photo/video post is a feed-engine post (`feed_posts`, system "instagram"): audience, fan-out,
likes, comments and notifications are the engine's. These tables hold what only Instagram has:
the uploaded media and its processing state, the post's location, user tags and hashtags (the
indexes explore and search read), and stories with their viewers.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Float, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id


class InstagramMedia(Base):
    """One uploaded photo or video. `status` goes pending → ready (variants and blurhash
    written by the processing job) or failed (`error` says why). A ready media item is attached
    to at most one post (`post_id`, `position` in its carousel) or one story (`story_id`): the
    claim is one conditional UPDATE, so two posts can never take the same item."""

    __tablename__ = "instagram_media"
    __table_args__ = (Index("ix_instagram_media_owner", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    owner_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(8))
    """"photo" or "video"."""
    content_type: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="pending")
    width: Mapped[int | None] = mapped_column(Integer, default=None)
    height: Mapped[int | None] = mapped_column(Integer, default=None)
    variants: Mapped[list[int]] = mapped_column(JSON, default=list)
    """Widths of the JPEG renditions stored (e.g. [1080, 640, 320])."""
    blurhash: Mapped[str | None] = mapped_column(String(64), default=None)
    duration_ms: Mapped[int | None] = mapped_column(BigInteger, default=None)
    error: Mapped[str | None] = mapped_column(String(200), default=None)
    post_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    position: Mapped[int | None] = mapped_column(Integer, default=None)
    story_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column(default=None)


class InstagramLocation(Base):
    """A named place posts are tagged with; `name_key` (lower-cased name) is unique."""

    __tablename__ = "instagram_locations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(100))
    name_key: Mapped[str] = mapped_column(String(100), unique=True)
    latitude: Mapped[float | None] = mapped_column(Float, default=None)
    longitude: Mapped[float | None] = mapped_column(Float, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstagramPost(Base):
    """Instagram's facts about a feed post: its author, location and kind of media."""

    __tablename__ = "instagram_posts"
    __table_args__ = (Index("ix_instagram_posts_location", "location_id", "post_id"),)

    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(BigInteger)
    location_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    media_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstagramHashtag(Base):
    """A hashtag used in a post's caption (one row per tag and post)."""

    __tablename__ = "instagram_hashtags"
    __table_args__ = (Index("ix_instagram_hashtags_post", "post_id"),)

    tag: Mapped[str] = mapped_column(String(100), primary_key=True)
    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class InstagramUserTag(Base):
    """A user tagged on one item of a post, at (x, y) in [0, 1] of the picture."""

    __tablename__ = "instagram_user_tags"
    __table_args__ = (Index("ix_instagram_user_tags_user", "user_id", "post_id"),)

    post_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    media_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    x: Mapped[float] = mapped_column(Float)
    y: Mapped[float] = mapped_column(Float)


class InstagramStory(Base):
    """A story: one media item shown to the author's audience until `expires_at`, then only in
    the author's archive. `view_count` is changed only with a new viewer row (atomically)."""

    __tablename__ = "instagram_stories"
    __table_args__ = (
        Index("ix_instagram_stories_author", "author_id", "id"),
        Index("ix_instagram_stories_expiry", "expires_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, default=new_id)
    author_id: Mapped[int] = mapped_column(BigInteger)
    media_id: Mapped[int] = mapped_column(BigInteger)
    caption: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    view_count: Mapped[int] = mapped_column(Integer, default=0)
    media: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    """The media item's view (variants, blurhash) frozen when the story was made."""


class InstagramStoryView(Base):
    """Who saw a story, once each (the primary key makes a repeat view a no-op)."""

    __tablename__ = "instagram_story_views"

    story_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    viewer_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    viewed_at: Mapped[datetime] = mapped_column(default=utcnow)


class InstagramProfile(Base):
    """What an Instagram profile has beyond the engine's (handle, name, privacy, follower
    count): a bio, a website and a profile picture (one of the user's processed media items,
    shown to everyone not blocked, as on Instagram, even for a private account)."""

    __tablename__ = "instagram_profiles"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    bio: Mapped[str] = mapped_column(String(150), default="")
    website: Mapped[str] = mapped_column(String(200), default="")
    avatar_media_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
