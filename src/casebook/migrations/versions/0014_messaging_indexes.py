"""Messaging indexes: the self-destruct sweep's is (deleted, expires_at) instead of
(expires_at), so the sweep reads only the expired messages not yet erased (erased rows keep
expires_at); a user's outgoing friend requests are found by (system, from_user_id, status)
instead of walking every pending request of the system.

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


# Plain index operations, not a batch: on SQLite a batch may copy the table, which would drop
# the full-text search triggers on it.


def upgrade() -> None:
    op.drop_index("ix_messaging_messages_expires", table_name="messaging_messages")
    op.create_index(
        "ix_messaging_messages_expiring", "messaging_messages", ["deleted", "expires_at"]
    )
    op.create_index(
        "ix_messaging_friend_requests_from",
        "messaging_friend_requests",
        ["system", "from_user_id", "status"],
    )


def downgrade() -> None:
    op.drop_index("ix_messaging_friend_requests_from", table_name="messaging_friend_requests")
    op.drop_index("ix_messaging_messages_expiring", table_name="messaging_messages")
    op.create_index("ix_messaging_messages_expires", "messaging_messages", ["expires_at"])
