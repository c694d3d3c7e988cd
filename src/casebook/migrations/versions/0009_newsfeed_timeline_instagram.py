"""Facebook Newsfeed's ads, experiments and analytics; Facebook Timeline; Instagram (with its
direct-message threads).

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "facebooknewsfeed_ad_frequency",
        sa.Column("ad_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("window", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("shown", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "ad_id", "user_id", "window", name=op.f("pk_facebooknewsfeed_ad_frequency")
        ),
    )
    op.create_table(
        "facebooknewsfeed_ad_impressions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ad_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facebooknewsfeed_ad_impressions")),
    )
    with op.batch_alter_table("facebooknewsfeed_ad_impressions", schema=None) as batch_op:
        batch_op.create_index("ix_facebooknewsfeed_ad_impressions_ad", ["ad_id"], unique=False)
        batch_op.create_index(
            "ix_facebooknewsfeed_ad_impressions_user", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "facebooknewsfeed_ad_targets",
        sa.Column("interest", sa.String(length=40), nullable=False),
        sa.Column("ad_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("interest", "ad_id", name=op.f("pk_facebooknewsfeed_ad_targets")),
    )
    op.create_table(
        "facebooknewsfeed_ads",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("advertiser_id", sa.BigInteger(), nullable=False),
        sa.Column("advertiser_name", sa.String(length=100), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("body", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("interests", sa.JSON(), nullable=False),
        sa.Column("budget_impressions", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("paused", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facebooknewsfeed_ads")),
    )
    with op.batch_alter_table("facebooknewsfeed_ads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_facebooknewsfeed_ads_advertiser", ["advertiser_id", "id"], unique=False
        )

    op.create_table(
        "facebooknewsfeed_experiments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_facebooknewsfeed_experiments")),
    )
    with op.batch_alter_table("facebooknewsfeed_experiments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_facebooknewsfeed_experiments_owner", ["owner_id", "id"], unique=False
        )
        batch_op.create_index(
            "uq_facebooknewsfeed_experiments_running",
            ["status"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )

    op.create_table(
        "facebooknewsfeed_exposures",
        sa.Column("experiment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("variant", sa.String(length=40), nullable=False),
        sa.Column("exposed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("feed_impressions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "experiment_id", "user_id", name=op.f("pk_facebooknewsfeed_exposures")
        ),
    )
    op.create_table(
        "facebooknewsfeed_interests",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("interest", sa.String(length=40), nullable=False),
        sa.Column("declared", sa.Boolean(), nullable=False),
        sa.Column("clicks", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint("user_id", "interest", name=op.f("pk_facebooknewsfeed_interests")),
    )
    op.create_table(
        "facebooknewsfeed_post_stats",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_facebooknewsfeed_post_stats")),
    )
    with op.batch_alter_table("facebooknewsfeed_post_stats", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_facebooknewsfeed_post_stats_author_id"), ["author_id"], unique=False
        )

    op.create_table(
        "facebooknewsfeed_post_views",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "post_id", "viewer_id", name=op.f("pk_facebooknewsfeed_post_views")
        ),
    )
    with op.batch_alter_table("facebooknewsfeed_post_views", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_facebooknewsfeed_post_views_author_id"), ["author_id"], unique=False
        )
        batch_op.create_index("ix_facebooknewsfeed_post_views_viewer", ["viewer_id"], unique=False)

    op.create_table(
        "facebooknewsfeed_variants",
        sa.Column("experiment_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("position", sa.BigInteger(), nullable=False),
        sa.Column("traffic", sa.BigInteger(), nullable=False),
        sa.Column("rank", sa.String(length=16), nullable=False),
        sa.Column("weights", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("experiment_id", "name", name=op.f("pk_facebooknewsfeed_variants")),
    )
    op.create_table(
        "facebooktimeline_life_events",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("event_type", sa.String(length=16), nullable=False),
        sa.Column("event_date", sa.Date(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "event_type IN ('birthday', 'graduation', 'new_job', 'relationship', 'moved', "
            "'new_home', 'travel', 'milestone')",
            name=op.f("ck_facebooktimeline_life_events_event_type"),
        ),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_facebooktimeline_life_events")),
    )
    with op.batch_alter_table("facebooktimeline_life_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_facebooktimeline_life_events_user",
            ["user_id", "event_date", "post_id"],
            unique=False,
        )

    op.create_table(
        "facebooktimeline_pins",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("slot", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("pinned_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("slot >= 0 AND slot < 3", name=op.f("ck_facebooktimeline_pins_slot")),
        sa.PrimaryKeyConstraint("user_id", "slot", name=op.f("pk_facebooktimeline_pins")),
        sa.UniqueConstraint(
            "user_id", "post_id", name=op.f("uq_facebooktimeline_pins_user_id_post_id")
        ),
    )
    op.create_table(
        "instagram_direct_threads",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined')",
            name=op.f("ck_instagram_direct_threads_status"),
        ),
        sa.PrimaryKeyConstraint("conversation_id", name=op.f("pk_instagram_direct_threads")),
    )
    with op.batch_alter_table("instagram_direct_threads", schema=None) as batch_op:
        batch_op.create_index(
            "ix_instagram_direct_threads_requests",
            ["recipient_id", "status", "conversation_id"],
            unique=False,
        )

    op.create_table(
        "instagram_hashtags",
        sa.Column("tag", sa.String(length=100), nullable=False),
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tag", "post_id", name=op.f("pk_instagram_hashtags")),
    )
    with op.batch_alter_table("instagram_hashtags", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_instagram_hashtags_created_at"), ["created_at"], unique=False
        )
        batch_op.create_index("ix_instagram_hashtags_post", ["post_id"], unique=False)

    op.create_table(
        "instagram_locations",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.String(length=100), nullable=False),
        sa.Column("latitude", sa.Float(), nullable=True),
        sa.Column("longitude", sa.Float(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instagram_locations")),
        sa.UniqueConstraint("name_key", name=op.f("uq_instagram_locations_name_key")),
    )
    op.create_table(
        "instagram_media",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("content_type", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("variants", sa.JSON(), nullable=False),
        sa.Column("blurhash", sa.String(length=64), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=True),
        sa.Column("story_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instagram_media")),
    )
    with op.batch_alter_table("instagram_media", schema=None) as batch_op:
        batch_op.create_index("ix_instagram_media_owner", ["owner_id", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_instagram_media_post_id"), ["post_id"], unique=False)

    op.create_table(
        "instagram_posts",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("location_id", sa.BigInteger(), nullable=True),
        sa.Column("media_count", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("post_id", name=op.f("pk_instagram_posts")),
    )
    with op.batch_alter_table("instagram_posts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_instagram_posts_location", ["location_id", "post_id"], unique=False
        )

    op.create_table(
        "instagram_profiles",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("bio", sa.String(length=150), nullable=False),
        sa.Column("website", sa.String(length=200), nullable=False),
        sa.Column("avatar_media_id", sa.BigInteger(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_instagram_profiles")),
    )
    op.create_table(
        "instagram_stories",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("media_id", sa.BigInteger(), nullable=False),
        sa.Column("caption", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("view_count", sa.Integer(), nullable=False),
        sa.Column("media", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instagram_stories")),
    )
    with op.batch_alter_table("instagram_stories", schema=None) as batch_op:
        batch_op.create_index("ix_instagram_stories_author", ["author_id", "id"], unique=False)
        batch_op.create_index("ix_instagram_stories_expiry", ["expires_at"], unique=False)

    op.create_table(
        "instagram_story_views",
        sa.Column("story_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("viewed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("story_id", "viewer_id", name=op.f("pk_instagram_story_views")),
    )
    op.create_table(
        "instagram_user_tags",
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("media_index", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("x", sa.Float(), nullable=False),
        sa.Column("y", sa.Float(), nullable=False),
        sa.PrimaryKeyConstraint(
            "post_id", "user_id", "media_index", name=op.f("pk_instagram_user_tags")
        ),
    )
    with op.batch_alter_table("instagram_user_tags", schema=None) as batch_op:
        batch_op.create_index("ix_instagram_user_tags_user", ["user_id", "post_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("instagram_user_tags", schema=None) as batch_op:
        batch_op.drop_index("ix_instagram_user_tags_user")

    op.drop_table("instagram_user_tags")
    op.drop_table("instagram_story_views")
    with op.batch_alter_table("instagram_stories", schema=None) as batch_op:
        batch_op.drop_index("ix_instagram_stories_expiry")
        batch_op.drop_index("ix_instagram_stories_author")

    op.drop_table("instagram_stories")
    op.drop_table("instagram_profiles")
    with op.batch_alter_table("instagram_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_instagram_posts_location")

    op.drop_table("instagram_posts")
    with op.batch_alter_table("instagram_media", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_instagram_media_post_id"))
        batch_op.drop_index("ix_instagram_media_owner")

    op.drop_table("instagram_media")
    op.drop_table("instagram_locations")
    with op.batch_alter_table("instagram_hashtags", schema=None) as batch_op:
        batch_op.drop_index("ix_instagram_hashtags_post")
        batch_op.drop_index(batch_op.f("ix_instagram_hashtags_created_at"))

    op.drop_table("instagram_hashtags")
    with op.batch_alter_table("instagram_direct_threads", schema=None) as batch_op:
        batch_op.drop_index("ix_instagram_direct_threads_requests")

    op.drop_table("instagram_direct_threads")
    op.drop_table("facebooktimeline_pins")
    with op.batch_alter_table("facebooktimeline_life_events", schema=None) as batch_op:
        batch_op.drop_index("ix_facebooktimeline_life_events_user")

    op.drop_table("facebooktimeline_life_events")
    op.drop_table("facebooknewsfeed_variants")
    with op.batch_alter_table("facebooknewsfeed_post_views", schema=None) as batch_op:
        batch_op.drop_index("ix_facebooknewsfeed_post_views_viewer")
        batch_op.drop_index(batch_op.f("ix_facebooknewsfeed_post_views_author_id"))

    op.drop_table("facebooknewsfeed_post_views")
    with op.batch_alter_table("facebooknewsfeed_post_stats", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_facebooknewsfeed_post_stats_author_id"))

    op.drop_table("facebooknewsfeed_post_stats")
    op.drop_table("facebooknewsfeed_interests")
    op.drop_table("facebooknewsfeed_exposures")
    with op.batch_alter_table("facebooknewsfeed_experiments", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_facebooknewsfeed_experiments_running",
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
        batch_op.drop_index("ix_facebooknewsfeed_experiments_owner")

    op.drop_table("facebooknewsfeed_experiments")
    with op.batch_alter_table("facebooknewsfeed_ads", schema=None) as batch_op:
        batch_op.drop_index("ix_facebooknewsfeed_ads_advertiser")

    op.drop_table("facebooknewsfeed_ads")
    op.drop_table("facebooknewsfeed_ad_targets")
    with op.batch_alter_table("facebooknewsfeed_ad_impressions", schema=None) as batch_op:
        batch_op.drop_index("ix_facebooknewsfeed_ad_impressions_user")
        batch_op.drop_index("ix_facebooknewsfeed_ad_impressions_ad")

    op.drop_table("facebooknewsfeed_ad_impressions")
    op.drop_table("facebooknewsfeed_ad_frequency")
