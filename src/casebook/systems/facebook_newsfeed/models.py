"""Facebook Newsfeed's own tables (the graph, posts and engagement are the feed engine's).

- `facebooknewsfeed_ads`: the ads inventory. `impressions` and `clicks` are counters changed by
  one conditional `UPDATE` each (`impressions < budget_impressions`), so a budget is never
  overspent however many feeds serve the ad at once.
- `facebooknewsfeed_ad_targets`: one row per (interest, ad), the index from an interest to the
  ads that target it.
- `facebooknewsfeed_ad_impressions`: one row per ad shown in a feed slot; a click marks its row
  (once), so clicks never exceed impressions.
- `facebooknewsfeed_ad_frequency`: impressions of an ad to one person in one frequency window.
- `facebooknewsfeed_interests`: declared interests and those learned from ad clicks.
- `facebooknewsfeed_experiments`, `…_variants`, `…_exposures`: A/B tests of the feed.
- `facebooknewsfeed_post_views` (one row per distinct viewer of a post: reach) and
  `facebooknewsfeed_post_stats` (impressions, an atomic counter).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, Float, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id


class Ad(Base):
    __tablename__ = "facebooknewsfeed_ads"
    __table_args__ = (Index("ix_facebooknewsfeed_ads_advertiser", "advertiser_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    advertiser_id: Mapped[int]
    advertiser_name: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(100))
    body: Mapped[str] = mapped_column(String(500), default="")
    url: Mapped[str] = mapped_column(String(2048))
    interests: Mapped[list[str]] = mapped_column(JSON)
    budget_impressions: Mapped[int]
    impressions: Mapped[int] = mapped_column(default=0)
    clicks: Mapped[int] = mapped_column(default=0)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdTarget(Base):
    __tablename__ = "facebooknewsfeed_ad_targets"

    interest: Mapped[str] = mapped_column(String(40), primary_key=True)
    ad_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class AdImpression(Base):
    __tablename__ = "facebooknewsfeed_ad_impressions"
    __table_args__ = (
        Index("ix_facebooknewsfeed_ad_impressions_ad", "ad_id"),
        Index("ix_facebooknewsfeed_ad_impressions_user", "user_id", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    ad_id: Mapped[int]
    user_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    clicked_at: Mapped[datetime | None]


class AdFrequency(Base):
    __tablename__ = "facebooknewsfeed_ad_frequency"

    ad_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    window: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """The frequency window's number since the epoch (hours // frequency_window_hours)."""
    shown: Mapped[int] = mapped_column(default=0)


class Interest(Base):
    __tablename__ = "facebooknewsfeed_interests"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    interest: Mapped[str] = mapped_column(String(40), primary_key=True)
    declared: Mapped[bool] = mapped_column(Boolean, default=False)
    clicks: Mapped[float] = mapped_column(Float, default=0.0)
    """Learned: how many clicked ads targeted this interest."""


class Experiment(Base):
    __tablename__ = "facebooknewsfeed_experiments"
    __table_args__ = (
        Index("ix_facebooknewsfeed_experiments_owner", "owner_id", "id"),
        # At most one running experiment: two concurrent starts cannot both succeed.
        Index(
            "uq_facebooknewsfeed_experiments_running",
            "status",
            unique=True,
            sqlite_where=text("status = 'running'"),
            postgresql_where=text("status = 'running'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False, default=new_id)
    owner_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(8), default="draft")
    """draft → running → stopped."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    stopped_at: Mapped[datetime | None]


class Variant(Base):
    __tablename__ = "facebooknewsfeed_variants"

    experiment_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    position: Mapped[int]
    traffic: Mapped[int]
    """Share of users, in basis points (the variants of an experiment sum to 10,000)."""
    rank: Mapped[str] = mapped_column(String(16))
    """chronological or engagement."""
    weights: Mapped[dict[str, float]] = mapped_column(JSON)


class Exposure(Base):
    __tablename__ = "facebooknewsfeed_exposures"

    experiment_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    variant: Mapped[str] = mapped_column(String(40))
    exposed_at: Mapped[datetime] = mapped_column(default=utcnow)
    feed_impressions: Mapped[int] = mapped_column(default=0)
    """Posts served to this user in feeds while in the experiment (an atomic counter)."""


class PostView(Base):
    __tablename__ = "facebooknewsfeed_post_views"
    __table_args__ = (Index("ix_facebooknewsfeed_post_views_viewer", "viewer_id"),)

    post_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    viewer_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(index=True)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow)


class PostStat(Base):
    __tablename__ = "facebooknewsfeed_post_stats"

    post_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    author_id: Mapped[int] = mapped_column(index=True)
    impressions: Mapped[int] = mapped_column(default=0)
