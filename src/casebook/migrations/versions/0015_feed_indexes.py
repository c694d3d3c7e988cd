"""Feed indexes for lookups that walked a whole table or system: the custom lists a viewer
belongs to (`feed_list_members.user_id`, read by the home feed for each viewer it has not
cached), the friend requests a user received (`feed_friendships` by friend), the shares a
deleted post carries (`feed_shares.post_id`), and a system's private accounts (Instagram's
explore and hashtag pages leave their posts out).

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_feed_list_members_user", "feed_list_members", ["user_id"])
    op.create_index(
        "ix_feed_friendships_friend", "feed_friendships", ["system", "friend_id", "status"]
    )
    op.create_index("ix_feed_shares_post", "feed_shares", ["system", "post_id"])
    op.create_index("ix_feed_profiles_private", "feed_profiles", ["system", "private"])


def downgrade() -> None:
    op.drop_index("ix_feed_profiles_private", table_name="feed_profiles")
    op.drop_index("ix_feed_shares_post", table_name="feed_shares")
    op.drop_index("ix_feed_friendships_friend", table_name="feed_friendships")
    op.drop_index("ix_feed_list_members_user", table_name="feed_list_members")
