"""The feed engine (graph, posts, timelines, engagement, notifications, moderation), Facebook
Newsfeed, Hacker News and Substack.

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_affinity",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("viewer_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("author_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "viewer_id", "author_id", name=op.f("pk_feed_affinity")),
    )
    op.create_table(
        "feed_blocks",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("blocker_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("blocked_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "blocker_id", "blocked_id", name=op.f("pk_feed_blocks")),
    )
    with op.batch_alter_table("feed_blocks", schema=None) as batch_op:
        batch_op.create_index("ix_feed_blocks_blocked", ["system", "blocked_id"], unique=False)

    op.create_table(
        "feed_comments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=512), nullable=False),
        sa.Column("depth", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("live_descendants", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.CheckConstraint(
            "status IN ('visible', 'spam', 'hidden')", name=op.f("ck_feed_comments_status")
        ),
        sa.CheckConstraint(
            "depth >= 0 AND live_descendants >= 0", name=op.f("ck_feed_comments_counters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_comments")),
        sa.UniqueConstraint(
            "system",
            "target_kind",
            "target_id",
            "path",
            name=op.f("uq_feed_comments_system_target_kind_target_id_path"),
        ),
    )
    with op.batch_alter_table("feed_comments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_comments_author", ["system", "author_id", "created_at"], unique=False
        )

    op.create_table(
        "feed_counters",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "target_kind", "target_id", "name", name=op.f("pk_feed_counters")
        ),
    )
    op.create_table(
        "feed_entities",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("about", sa.String(length=500), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("follower_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('page', 'group')", name=op.f("ck_feed_entities_kind")),
        sa.CheckConstraint("follower_count >= 0", name=op.f("ck_feed_entities_follower_count")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_entities")),
    )
    with op.batch_alter_table("feed_entities", schema=None) as batch_op:
        batch_op.create_index("ix_feed_entities_system_owner", ["system", "owner_id"], unique=False)

    op.create_table(
        "feed_fingerprints",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "user_id", "digest", name=op.f("pk_feed_fingerprints")),
    )
    op.create_table(
        "feed_follows",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("follower_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("followee_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("followee_kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "followee_kind IN ('user', 'page', 'group')", name=op.f("ck_feed_follows_followee_kind")
        ),
        sa.CheckConstraint("status IN ('active', 'pending')", name=op.f("ck_feed_follows_status")),
        sa.PrimaryKeyConstraint(
            "system", "follower_id", "followee_id", name=op.f("pk_feed_follows")
        ),
    )
    with op.batch_alter_table("feed_follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_follows_followee", ["system", "followee_id", "status"], unique=False
        )

    op.create_table(
        "feed_friendships",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("friend_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted')", name=op.f("ck_feed_friendships_status")
        ),
        sa.PrimaryKeyConstraint("system", "user_id", "friend_id", name=op.f("pk_feed_friendships")),
    )
    op.create_table(
        "feed_group_members",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "group_id", "user_id", name=op.f("pk_feed_group_members")
        ),
    )
    with op.batch_alter_table("feed_group_members", schema=None) as batch_op:
        batch_op.create_index("ix_feed_group_members_user", ["system", "user_id"], unique=False)

    op.create_table(
        "feed_hides",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "user_id", "target_kind", "target_id", name=op.f("pk_feed_hides")
        ),
    )
    op.create_table(
        "feed_list_members",
        sa.Column("list_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.PrimaryKeyConstraint("list_id", "user_id", name=op.f("pk_feed_list_members")),
    )
    op.create_table(
        "feed_lists",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_lists")),
    )
    with op.batch_alter_table("feed_lists", schema=None) as batch_op:
        batch_op.create_index("ix_feed_lists_owner", ["system", "owner_id"], unique=False)

    op.create_table(
        "feed_moderation",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("hidden", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "target_kind", "target_id", name=op.f("pk_feed_moderation")
        ),
    )
    op.create_table(
        "feed_notifications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("recipient_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.BigInteger(), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("dedup_key", sa.String(length=96), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_notifications")),
        sa.UniqueConstraint(
            "system",
            "recipient_id",
            "dedup_key",
            name=op.f("uq_feed_notifications_system_recipient_id_dedup_key"),
        ),
    )
    with op.batch_alter_table("feed_notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_notifications_inbox", ["system", "recipient_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_feed_notifications_target", ["system", "target_kind", "target_id"], unique=False
        )
        batch_op.create_index(
            "ix_feed_notifications_unread", ["system", "recipient_id", "read_at"], unique=False
        )

    op.create_table(
        "feed_posts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("page_id", sa.BigInteger(), nullable=True),
        sa.Column("group_id", sa.BigInteger(), nullable=True),
        sa.Column("audience", sa.String(length=10), nullable=False),
        sa.Column("list_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "audience != 'list' OR list_id IS NOT NULL", name=op.f("ck_feed_posts_list_named")
        ),
        sa.CheckConstraint(
            "audience IN ('public', 'followers', 'friends', 'list', 'only_me', 'group')",
            name=op.f("ck_feed_posts_audience"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_posts")),
    )
    with op.batch_alter_table("feed_posts", schema=None) as batch_op:
        batch_op.create_index("ix_feed_posts_author", ["system", "author_id", "id"], unique=False)
        batch_op.create_index("ix_feed_posts_source", ["system", "source_id", "id"], unique=False)

    op.create_table(
        "feed_profiles",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handle", sa.String(length=40), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("private", sa.Boolean(), nullable=False),
        sa.Column("follower_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("follower_count >= 0", name=op.f("ck_feed_profiles_follower_count")),
        sa.PrimaryKeyConstraint("system", "user_id", name=op.f("pk_feed_profiles")),
        sa.UniqueConstraint("system", "handle", name=op.f("uq_feed_profiles_system_handle")),
    )
    op.create_table(
        "feed_reactions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_reactions")),
        sa.UniqueConstraint(
            "system",
            "target_kind",
            "target_id",
            "user_id",
            name=op.f("uq_feed_reactions_system_target_kind_target_id_user_id"),
        ),
    )
    with op.batch_alter_table("feed_reactions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_reactions_target", ["system", "target_kind", "target_id", "id"], unique=False
        )
        batch_op.create_index(
            "ix_feed_reactions_user", ["system", "user_id", "created_at"], unique=False
        )

    op.create_table(
        "feed_reports",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("reporter_id", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=24), nullable=False),
        sa.Column("note", sa.String(length=500), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_reports")),
        sa.UniqueConstraint(
            "system",
            "target_kind",
            "target_id",
            "reporter_id",
            name=op.f("uq_feed_reports_system_target_kind_target_id_reporter_id"),
        ),
    )
    with op.batch_alter_table("feed_reports", schema=None) as batch_op:
        batch_op.create_index("ix_feed_reports_created", ["system", "created_at"], unique=False)

    op.create_table(
        "feed_shares",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("target_kind", sa.String(length=24), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_shares")),
    )
    with op.batch_alter_table("feed_shares", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feed_shares_target", ["system", "target_kind", "target_id", "id"], unique=False
        )
        batch_op.create_index("ix_feed_shares_user", ["system", "user_id", "id"], unique=False)

    op.create_table(
        "feed_timeline",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("source_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("system", "user_id", "post_id", name=op.f("pk_feed_timeline")),
    )
    op.create_table(
        "hackernews_url_claims",
        sa.Column("url_hash", sa.String(length=64), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("url_hash", name=op.f("pk_hackernews_url_claims")),
    )
    op.create_table(
        "substack_charges",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("publication_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_charges")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_substack_charges_transfer_id")),
    )
    with op.batch_alter_table("substack_charges", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_substack_charges_publication_id"), ["publication_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_substack_charges_user_id"), ["user_id"], unique=False)

    op.create_table(
        "substack_publications",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("monthly_price", sa.BigInteger(), nullable=True),
        sa.Column("annual_price", sa.BigInteger(), nullable=True),
        sa.Column("subscriber_count", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_publications")),
        sa.UniqueConstraint("slug", name=op.f("uq_substack_publications_slug")),
    )
    with op.batch_alter_table("substack_publications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_substack_publications_owner_id"), ["owner_id"], unique=False
        )

    op.create_table(
        "substack_suppressed_addresses",
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("reason", sa.String(length=300), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_substack_suppressed_addresses")),
    )
    op.create_table(
        "substack_top_ups",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("card_last4", sa.String(length=4), nullable=False),
        sa.Column("authorization_code", sa.String(length=12), nullable=False),
        sa.Column("transfer_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_top_ups")),
        sa.UniqueConstraint("transfer_id", name=op.f("uq_substack_top_ups_transfer_id")),
    )
    with op.batch_alter_table("substack_top_ups", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_substack_top_ups_user_id"), ["user_id"], unique=False)

    op.create_table(
        "hackernews_accounts",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=15), nullable=False),
        sa.Column("username_key", sa.String(length=15), nullable=False),
        sa.Column("karma", sa.BigInteger(), nullable=False),
        sa.Column("about", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_hackernews_accounts_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_hackernews_accounts")),
        sa.UniqueConstraint("username_key", name=op.f("uq_hackernews_accounts_username_key")),
    )
    op.create_table(
        "hackernews_items",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=True),
        sa.Column("by_id", sa.BigInteger(), nullable=False),
        sa.Column("parent_id", sa.BigInteger(), nullable=True),
        sa.Column("story_id", sa.BigInteger(), nullable=True),
        sa.Column("path", sa.String(length=1400), nullable=False),
        sa.Column("depth", sa.SmallInteger(), nullable=False),
        sa.Column("title", sa.String(length=80), nullable=True),
        sa.Column("url", sa.String(length=2000), nullable=True),
        sa.Column("domain", sa.String(length=253), nullable=True),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("score", sa.BigInteger(), nullable=False),
        sa.Column("descendants", sa.BigInteger(), nullable=False),
        sa.Column("flags", sa.BigInteger(), nullable=False),
        sa.Column("penalty", sa.Float(), nullable=False),
        sa.Column("dead", sa.Boolean(), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"],
            ["auth_users.id"],
            name=op.f("fk_hackernews_items_by_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_hackernews_items")),
    )
    with op.batch_alter_table("hackernews_items", schema=None) as batch_op:
        batch_op.create_index("ix_hackernews_items_by_id_id", ["by_id", "id"], unique=False)
        batch_op.create_index("ix_hackernews_items_created", ["type", "created_at"], unique=False)
        batch_op.create_index("ix_hackernews_items_kind_id", ["kind", "id"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_hackernews_items_parent_id"), ["parent_id"], unique=False
        )
        batch_op.create_index("ix_hackernews_items_story_path", ["story_id", "path"], unique=False)
        batch_op.create_index("ix_hackernews_items_type_id", ["type", "id"], unique=False)

    op.create_table(
        "substack_authors",
        sa.Column("publication_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["substack_publications.id"],
            name=op.f("fk_substack_authors_publication_id_substack_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("publication_id", "user_id", name=op.f("pk_substack_authors")),
    )
    with op.batch_alter_table("substack_authors", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_substack_authors_user_id"), ["user_id"], unique=False)

    op.create_table(
        "substack_paid_subscriptions",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("publication_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("plan", sa.String(length=8), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("current_period_end", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("renewals", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["substack_publications.id"],
            name=op.f("fk_substack_paid_subscriptions_publication_id_substack_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_paid_subscriptions")),
        sa.UniqueConstraint(
            "publication_id",
            "user_id",
            name=op.f("uq_substack_paid_subscriptions_publication_id_user_id"),
        ),
    )
    with op.batch_alter_table("substack_paid_subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_substack_paid_due", ["status", "current_period_end"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_substack_paid_subscriptions_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "substack_posts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("publication_id", sa.BigInteger(), nullable=False),
        sa.Column("author_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("subtitle", sa.String(length=300), nullable=False),
        sa.Column("body_markdown", sa.Text(), nullable=False),
        sa.Column("body_html", sa.Text(), nullable=False),
        sa.Column("preview_html", sa.Text(), nullable=False),
        sa.Column("links", sa.JSON(), nullable=False),
        sa.Column("audience", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("send_email", sa.Boolean(), nullable=False),
        sa.Column("email_status", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["substack_publications.id"],
            name=op.f("fk_substack_posts_publication_id_substack_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_posts")),
    )
    with op.batch_alter_table("substack_posts", schema=None) as batch_op:
        batch_op.create_index("ix_substack_posts_due", ["status", "scheduled_at"], unique=False)
        batch_op.create_index(
            "ix_substack_posts_feed",
            ["publication_id", "status", "published_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_substack_posts_mailing", ["email_status"], unique=False)

    op.create_table(
        "substack_subscribers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("publication_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("email_enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("unsubscribed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["publication_id"],
            ["substack_publications.id"],
            name=op.f("fk_substack_subscribers_publication_id_substack_publications"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_subscribers")),
        sa.UniqueConstraint(
            "publication_id", "user_id", name=op.f("uq_substack_subscribers_publication_id_user_id")
        ),
    )
    with op.batch_alter_table("substack_subscribers", schema=None) as batch_op:
        batch_op.create_index(
            "ix_substack_subscribers_mailing", ["publication_id", "status"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_substack_subscribers_user_id"), ["user_id"], unique=False
        )

    op.create_table(
        "hackernews_flags",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["hackernews_items.id"],
            name=op.f("fk_hackernews_flags_item_id_hackernews_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_hackernews_flags_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_hackernews_flags")),
    )
    op.create_table(
        "hackernews_votes",
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("item_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("direction", sa.SmallInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["hackernews_items.id"],
            name=op.f("fk_hackernews_votes_item_id_hackernews_items"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["auth_users.id"],
            name=op.f("fk_hackernews_votes_user_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "item_id", name=op.f("pk_hackernews_votes")),
    )
    with op.batch_alter_table("hackernews_votes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_hackernews_votes_user_created", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "substack_deliveries",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("post_id", sa.BigInteger(), nullable=False),
        sa.Column("subscriber_id", sa.BigInteger(), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("full_access", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("claim", sa.BigInteger(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("smtp_reply", sa.String(length=300), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("open_count", sa.BigInteger(), nullable=False),
        sa.Column("clicked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("click_count", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "open_count >= 0 AND click_count >= 0", name=op.f("ck_substack_deliveries_counts")
        ),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["substack_posts.id"],
            name=op.f("fk_substack_deliveries_post_id_substack_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_substack_deliveries")),
        sa.UniqueConstraint(
            "post_id", "subscriber_id", name=op.f("uq_substack_deliveries_post_id_subscriber_id")
        ),
    )
    with op.batch_alter_table("substack_deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_substack_deliveries_queue", ["post_id", "status"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_substack_deliveries_subscriber_id"), ["subscriber_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("substack_deliveries", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_deliveries_subscriber_id"))
        batch_op.drop_index("ix_substack_deliveries_queue")

    op.drop_table("substack_deliveries")
    with op.batch_alter_table("hackernews_votes", schema=None) as batch_op:
        batch_op.drop_index("ix_hackernews_votes_user_created")

    op.drop_table("hackernews_votes")
    op.drop_table("hackernews_flags")
    with op.batch_alter_table("substack_subscribers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_subscribers_user_id"))
        batch_op.drop_index("ix_substack_subscribers_mailing")

    op.drop_table("substack_subscribers")
    with op.batch_alter_table("substack_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_substack_posts_mailing")
        batch_op.drop_index("ix_substack_posts_feed")
        batch_op.drop_index("ix_substack_posts_due")

    op.drop_table("substack_posts")
    with op.batch_alter_table("substack_paid_subscriptions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_paid_subscriptions_user_id"))
        batch_op.drop_index("ix_substack_paid_due")

    op.drop_table("substack_paid_subscriptions")
    with op.batch_alter_table("substack_authors", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_authors_user_id"))

    op.drop_table("substack_authors")
    with op.batch_alter_table("hackernews_items", schema=None) as batch_op:
        batch_op.drop_index("ix_hackernews_items_type_id")
        batch_op.drop_index("ix_hackernews_items_story_path")
        batch_op.drop_index(batch_op.f("ix_hackernews_items_parent_id"))
        batch_op.drop_index("ix_hackernews_items_kind_id")
        batch_op.drop_index("ix_hackernews_items_created")
        batch_op.drop_index("ix_hackernews_items_by_id_id")

    op.drop_table("hackernews_items")
    op.drop_table("hackernews_accounts")
    with op.batch_alter_table("substack_top_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_top_ups_user_id"))

    op.drop_table("substack_top_ups")
    op.drop_table("substack_suppressed_addresses")
    with op.batch_alter_table("substack_publications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_publications_owner_id"))

    op.drop_table("substack_publications")
    with op.batch_alter_table("substack_charges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_substack_charges_user_id"))
        batch_op.drop_index(batch_op.f("ix_substack_charges_publication_id"))

    op.drop_table("substack_charges")
    op.drop_table("hackernews_url_claims")
    op.drop_table("feed_timeline")
    with op.batch_alter_table("feed_shares", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_shares_user")
        batch_op.drop_index("ix_feed_shares_target")

    op.drop_table("feed_shares")
    with op.batch_alter_table("feed_reports", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_reports_created")

    op.drop_table("feed_reports")
    with op.batch_alter_table("feed_reactions", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_reactions_user")
        batch_op.drop_index("ix_feed_reactions_target")

    op.drop_table("feed_reactions")
    op.drop_table("feed_profiles")
    with op.batch_alter_table("feed_posts", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_posts_source")
        batch_op.drop_index("ix_feed_posts_author")

    op.drop_table("feed_posts")
    with op.batch_alter_table("feed_notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_notifications_unread")
        batch_op.drop_index("ix_feed_notifications_target")
        batch_op.drop_index("ix_feed_notifications_inbox")

    op.drop_table("feed_notifications")
    op.drop_table("feed_moderation")
    with op.batch_alter_table("feed_lists", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_lists_owner")

    op.drop_table("feed_lists")
    op.drop_table("feed_list_members")
    op.drop_table("feed_hides")
    with op.batch_alter_table("feed_group_members", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_group_members_user")

    op.drop_table("feed_group_members")
    op.drop_table("feed_friendships")
    with op.batch_alter_table("feed_follows", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_follows_followee")

    op.drop_table("feed_follows")
    op.drop_table("feed_fingerprints")
    with op.batch_alter_table("feed_entities", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_entities_system_owner")

    op.drop_table("feed_entities")
    op.drop_table("feed_counters")
    with op.batch_alter_table("feed_comments", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_comments_author")

    op.drop_table("feed_comments")
    with op.batch_alter_table("feed_blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_feed_blocks_blocked")

    op.drop_table("feed_blocks")
    op.drop_table("feed_affinity")
