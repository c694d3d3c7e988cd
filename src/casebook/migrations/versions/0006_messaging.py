"""The messaging engine, Instant Messenger, Telegram, Viber and the simulated SMS carrier

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22 06:05:49.466871
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


# Message search, as engines/messaging/search.py attaches it to the models (frozen here).
SQLITE_DDL = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS messaging_messages_fts USING fts5(body, "
    "content='messaging_messages', content_rowid='id', tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER IF NOT EXISTS messaging_messages_fts_ai AFTER INSERT ON messaging_messages "
    "WHEN new.body IS NOT NULL AND new.kind NOT IN ('edit', 'delete', 'encrypted') AND NOT "
    "new.deleted BEGIN INSERT INTO messaging_messages_fts(rowid, body) VALUES (new.id, new.body); "
    "END",
    "CREATE TRIGGER IF NOT EXISTS messaging_messages_fts_ad AFTER DELETE ON messaging_messages "
    "WHEN old.body IS NOT NULL AND old.kind NOT IN ('edit', 'delete', 'encrypted') AND NOT "
    "old.deleted BEGIN INSERT INTO messaging_messages_fts(messaging_messages_fts, rowid, body) "
    "VALUES ('delete', old.id, old.body); END",
    "CREATE TRIGGER IF NOT EXISTS messaging_messages_fts_au AFTER UPDATE OF body, kind, deleted "
    "ON messaging_messages BEGIN INSERT INTO messaging_messages_fts(messaging_messages_fts, "
    "rowid, body) SELECT 'delete', old.id, old.body WHERE old.body IS NOT NULL AND old.kind NOT "
    "IN ('edit', 'delete', 'encrypted') AND NOT old.deleted; INSERT INTO "
    "messaging_messages_fts(rowid, body) SELECT new.id, new.body WHERE new.body IS NOT NULL AND "
    "new.kind NOT IN ('edit', 'delete', 'encrypted') AND NOT new.deleted; END",
)
SQLITE_DROP = ("DROP TABLE IF EXISTS messaging_messages_fts",)
POSTGRES_DDL = (
    "CREATE INDEX IF NOT EXISTS ix_messaging_messages_fts ON messaging_messages USING gin "
    "(to_tsvector('simple'::regconfig, body))",
)


def upgrade() -> None:
    op.create_table(
        "messaging_attachments",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("content_type", sa.String(length=100), nullable=False),
        sa.Column("filename", sa.String(length=255), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("variants", sa.JSON(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("width", sa.BigInteger(), nullable=True),
        sa.Column("height", sa.BigInteger(), nullable=True),
        sa.Column("duration_ms", sa.BigInteger(), nullable=True),
        sa.Column("e2e", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_attachments")),
    )
    with op.batch_alter_table("messaging_attachments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_attachments_owner", ["system", "owner_id", "created_at"], unique=False
        )

    op.create_table(
        "messaging_contacts",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("contact_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("tag", sa.String(length=32), nullable=False),
        sa.Column("blocked", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "system", "owner_id", "contact_id", name=op.f("pk_messaging_contacts")
        ),
    )
    with op.batch_alter_table("messaging_contacts", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_contacts_contact", ["system", "contact_id"], unique=False
        )

    op.create_table(
        "messaging_conversations",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("title", sa.String(length=128), nullable=False),
        sa.Column("about", sa.String(length=512), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seq", sa.BigInteger(), nullable=False),
        sa.Column("member_count", sa.BigInteger(), nullable=False),
        sa.Column("member_limit", sa.BigInteger(), nullable=False),
        sa.Column("e2e", sa.Boolean(), nullable=False),
        sa.Column("ttl_seconds", sa.BigInteger(), nullable=True),
        sa.Column("direct_key", sa.String(length=48), nullable=True),
        sa.Column("join_token", sa.String(length=48), nullable=True),
        sa.Column("public_handle", sa.String(length=64), nullable=True),
        sa.CheckConstraint(
            "kind IN ('direct', 'group', 'channel')", name=op.f("ck_messaging_conversations_kind")
        ),
        sa.CheckConstraint(
            "last_seq >= 0 AND member_count >= 0", name=op.f("ck_messaging_conversations_counters")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_conversations")),
        sa.UniqueConstraint("join_token", name=op.f("uq_messaging_conversations_join_token")),
        sa.UniqueConstraint(
            "system", "direct_key", name=op.f("uq_messaging_conversations_system_direct_key")
        ),
        sa.UniqueConstraint(
            "system", "public_handle", name=op.f("uq_messaging_conversations_system_public_handle")
        ),
    )
    op.create_table(
        "messaging_devices",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("identity_key", sa.LargeBinary(), nullable=True),
        sa.Column("push_subscription", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_devices")),
    )
    with op.batch_alter_table("messaging_devices", schema=None) as batch_op:
        batch_op.create_index("ix_messaging_devices_user", ["user_id", "system"], unique=False)

    op.create_table(
        "messaging_friend_requests",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("from_user_id", sa.BigInteger(), nullable=False),
        sa.Column("to_user_id", sa.BigInteger(), nullable=False),
        sa.Column("pair_key", sa.String(length=48), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("message", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'accepted', 'declined')",
            name=op.f("ck_messaging_friend_requests_status"),
        ),
        sa.CheckConstraint(
            "from_user_id <> to_user_id", name=op.f("ck_messaging_friend_requests_not_self")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_friend_requests")),
    )
    with op.batch_alter_table("messaging_friend_requests", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_friend_requests_to", ["system", "to_user_id", "status"], unique=False
        )
        batch_op.create_index(
            "ux_messaging_friend_requests_open",
            ["system", "pair_key"],
            unique=True,
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )

    op.create_table(
        "messaging_phone_codes",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "phone", name=op.f("pk_messaging_phone_codes")),
    )
    op.create_table(
        "messaging_profiles",
        sa.Column("system", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handle", sa.String(length=32), nullable=True),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("phone", sa.String(length=16), nullable=True),
        sa.Column("phone_hash", sa.String(length=64), nullable=True),
        sa.Column("status_text", sa.String(length=140), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("system", "user_id", name=op.f("pk_messaging_profiles")),
        sa.UniqueConstraint("system", "handle", name=op.f("uq_messaging_profiles_system_handle")),
        sa.UniqueConstraint("system", "phone", name=op.f("uq_messaging_profiles_system_phone")),
    )
    with op.batch_alter_table("messaging_profiles", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_profiles_phone_hash", ["system", "phone_hash"], unique=False
        )

    op.create_table(
        "sim_sms_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("to_number", sa.String(length=16), nullable=False),
        sa.Column("sender", sa.String(length=11), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("encoding", sa.String(length=5), nullable=False),
        sa.Column("segments", sa.BigInteger(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("error", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sim_sms_messages")),
    )
    with op.batch_alter_table("sim_sms_messages", schema=None) as batch_op:
        batch_op.create_index("ix_sim_sms_messages_to", ["to_number", "created_at"], unique=False)

    op.create_table(
        "viber_calls",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("caller_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_id", sa.BigInteger(), nullable=False),
        sa.Column("caller_device_id", sa.BigInteger(), nullable=False),
        sa.Column("callee_device_id", sa.BigInteger(), nullable=True),
        sa.Column("kind", sa.String(length=5), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_by", sa.BigInteger(), nullable=True),
        sa.CheckConstraint("kind IN ('voice', 'video')", name=op.f("ck_viber_calls_kind")),
        sa.CheckConstraint(
            "state IN ('ringing', 'accepted', 'declined', 'missed', 'ended', 'busy')",
            name=op.f("ck_viber_calls_state"),
        ),
        sa.CheckConstraint("caller_id <> callee_id", name=op.f("ck_viber_calls_not_self")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viber_calls")),
    )
    with op.batch_alter_table("viber_calls", schema=None) as batch_op:
        batch_op.create_index("ix_viber_calls_callee", ["callee_id", "id"], unique=False)
        batch_op.create_index("ix_viber_calls_caller", ["caller_id", "id"], unique=False)

    op.create_table(
        "viber_sticker_packs",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viber_sticker_packs")),
        sa.UniqueConstraint("name", name=op.f("uq_viber_sticker_packs_name")),
    )
    op.create_table(
        "messaging_attachment_refs",
        sa.Column("attachment_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["messaging_attachments.id"],
            name=op.f("fk_messaging_attachment_refs_attachment_id_messaging_attachments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_messaging_attachment_refs_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "attachment_id", "conversation_id", name=op.f("pk_messaging_attachment_refs")
        ),
    )
    op.create_table(
        "messaging_cursors",
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("acked_seq", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_messaging_cursors_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["messaging_devices.id"],
            name=op.f("fk_messaging_cursors_device_id_messaging_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "conversation_id", name=op.f("pk_messaging_cursors")),
    )
    op.create_table(
        "messaging_members",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("joined_seq", sa.BigInteger(), nullable=False),
        sa.Column("delivered_seq", sa.BigInteger(), nullable=False),
        sa.Column("read_seq", sa.BigInteger(), nullable=False),
        sa.Column("cleared_seq", sa.BigInteger(), nullable=False),
        sa.Column("muted_until", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member', 'subscriber')",
            name=op.f("ck_messaging_members_role"),
        ),
        sa.CheckConstraint("read_seq <= delivered_seq", name=op.f("ck_messaging_members_marks")),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_messaging_members_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("conversation_id", "user_id", name=op.f("pk_messaging_members")),
    )
    with op.batch_alter_table("messaging_members", schema=None) as batch_op:
        batch_op.create_index(
            "ix_messaging_members_user", ["user_id", "conversation_id"], unique=False
        )

    op.create_table(
        "messaging_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_device_id", sa.BigInteger(), nullable=True),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("target_seq", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_messaging_messages_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messaging_messages")),
        sa.UniqueConstraint(
            "conversation_id",
            "sender_id",
            "client_id",
            name=op.f("uq_messaging_messages_conversation_id_sender_id_client_id"),
        ),
        sa.UniqueConstraint(
            "conversation_id", "seq", name=op.f("uq_messaging_messages_conversation_id_seq")
        ),
    )
    with op.batch_alter_table("messaging_messages", schema=None) as batch_op:
        batch_op.create_index("ix_messaging_messages_expires", ["expires_at"], unique=False)

    op.create_table(
        "messaging_one_time_prekeys",
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["messaging_devices.id"],
            name=op.f("fk_messaging_one_time_prekeys_device_id_messaging_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "key_id", name=op.f("pk_messaging_one_time_prekeys")),
    )
    op.create_table(
        "messaging_signed_prekeys",
        sa.Column("device_id", sa.BigInteger(), nullable=False),
        sa.Column("key_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["device_id"],
            ["messaging_devices.id"],
            name=op.f("fk_messaging_signed_prekeys_device_id_messaging_devices"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("device_id", "key_id", name=op.f("pk_messaging_signed_prekeys")),
    )
    op.create_table(
        "telegram_bots",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_update_id", sa.BigInteger(), nullable=False),
        sa.Column("allowed_updates", sa.JSON(), nullable=True),
        sa.Column("webhook_url", sa.String(length=2048), nullable=True),
        sa.Column("webhook_secret", sa.String(length=256), nullable=True),
        sa.Column("webhook_failures", sa.BigInteger(), nullable=False),
        sa.Column("webhook_last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("webhook_last_error", sa.String(length=512), nullable=True),
        sa.ForeignKeyConstraint(
            ["id"],
            ["auth_users.id"],
            name=op.f("fk_telegram_bots_id_auth_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_bots")),
        sa.UniqueConstraint("username", name=op.f("uq_telegram_bots_username")),
    )
    with op.batch_alter_table("telegram_bots", schema=None) as batch_op:
        batch_op.create_index("ix_telegram_bots_owner", ["owner_id", "id"], unique=False)

    op.create_table(
        "telegram_post_view_counts",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_telegram_post_view_counts_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "seq", name=op.f("pk_telegram_post_view_counts")
        ),
    )
    op.create_table(
        "telegram_post_views",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_telegram_post_views_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "seq", "user_id", name=op.f("pk_telegram_post_views")
        ),
    )
    op.create_table(
        "telegram_reply_markups",
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("sender_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("markup", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_telegram_reply_markups_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "conversation_id", "sender_id", "client_id", name=op.f("pk_telegram_reply_markups")
        ),
    )
    op.create_table(
        "viber_call_lines",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("call_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["viber_calls.id"],
            name=op.f("fk_viber_call_lines_call_id_viber_calls"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_viber_call_lines")),
    )
    op.create_table(
        "viber_public_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("handle", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("category", sa.String(length=32), nullable=False),
        sa.Column("about", sa.String(length=512), nullable=False),
        sa.Column("owner_id", sa.BigInteger(), nullable=False),
        sa.Column("channel_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["channel_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_viber_public_accounts_channel_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viber_public_accounts")),
        sa.UniqueConstraint("channel_id", name=op.f("uq_viber_public_accounts_channel_id")),
        sa.UniqueConstraint("handle", name=op.f("uq_viber_public_accounts_handle")),
    )
    with op.batch_alter_table("viber_public_accounts", schema=None) as batch_op:
        batch_op.create_index("ix_viber_public_accounts_category", ["category", "id"], unique=False)

    op.create_table(
        "viber_stickers",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("pack_id", sa.BigInteger(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("emoji", sa.String(length=16), nullable=False),
        sa.Column("attachment_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["attachment_id"],
            ["messaging_attachments.id"],
            name=op.f("fk_viber_stickers_attachment_id_messaging_attachments"),
            ondelete="RESTRICT",
        ),
        sa.ForeignKeyConstraint(
            ["pack_id"],
            ["viber_sticker_packs.id"],
            name=op.f("fk_viber_stickers_pack_id_viber_sticker_packs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_viber_stickers")),
        sa.UniqueConstraint("pack_id", "name", name=op.f("uq_viber_stickers_pack_id_name")),
    )
    op.create_table(
        "messaging_envelopes",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("device_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messaging_messages.id"],
            name=op.f("fk_messaging_envelopes_message_id_messaging_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("message_id", "device_id", name=op.f("pk_messaging_envelopes")),
    )
    op.create_table(
        "messaging_hidden",
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messaging_messages.id"],
            name=op.f("fk_messaging_hidden_message_id_messaging_messages"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "message_id", name=op.f("pk_messaging_hidden")),
    )
    op.create_table(
        "telegram_callback_queries",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("data", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("answer_text", sa.Text(), nullable=True),
        sa.Column("show_alert", sa.Boolean(), nullable=False),
        sa.Column("answer_url", sa.String(length=2048), nullable=True),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["telegram_bots.id"],
            name=op.f("fk_telegram_callback_queries_bot_id_telegram_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_telegram_callback_queries")),
    )
    with op.batch_alter_table("telegram_callback_queries", schema=None) as batch_op:
        batch_op.create_index(
            "ix_telegram_callback_queries_user", ["user_id", "created_at"], unique=False
        )

    op.create_table(
        "telegram_updates",
        sa.Column("bot_id", sa.BigInteger(), nullable=False),
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["bot_id"],
            ["telegram_bots.id"],
            name=op.f("fk_telegram_updates_bot_id_telegram_bots"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("bot_id", "update_id", name=op.f("pk_telegram_updates")),
    )
    op.create_table(
        "viber_public_account_admins",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["viber_public_accounts.id"],
            name=op.f("fk_viber_public_account_admins_account_id_viber_public_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "user_id", name=op.f("pk_viber_public_account_admins")
        ),
    )
    op.create_table(
        "viber_public_account_threads",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("user_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["viber_public_accounts.id"],
            name=op.f("fk_viber_public_account_threads_account_id_viber_public_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["messaging_conversations.id"],
            name=op.f("fk_viber_public_account_threads_conversation_id_messaging_conversations"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "account_id", "user_id", name=op.f("pk_viber_public_account_threads")
        ),
    )
    # Message search (engines/messaging/search.py): the DDL the models attach to the metadata.
    dialect = op.get_bind().dialect.name
    statements = SQLITE_DDL if dialect == "sqlite" else POSTGRES_DDL
    for statement in statements:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for statement in SQLITE_DROP:
            op.execute(statement)
    else:
        op.execute("DROP INDEX IF EXISTS ix_messaging_messages_fts")
    op.drop_table("viber_public_account_threads")
    op.drop_table("viber_public_account_admins")
    op.drop_table("telegram_updates")
    with op.batch_alter_table("telegram_callback_queries", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_callback_queries_user")

    op.drop_table("telegram_callback_queries")
    op.drop_table("messaging_hidden")
    op.drop_table("messaging_envelopes")
    op.drop_table("viber_stickers")
    with op.batch_alter_table("viber_public_accounts", schema=None) as batch_op:
        batch_op.drop_index("ix_viber_public_accounts_category")

    op.drop_table("viber_public_accounts")
    op.drop_table("viber_call_lines")
    op.drop_table("telegram_reply_markups")
    op.drop_table("telegram_post_views")
    op.drop_table("telegram_post_view_counts")
    with op.batch_alter_table("telegram_bots", schema=None) as batch_op:
        batch_op.drop_index("ix_telegram_bots_owner")

    op.drop_table("telegram_bots")
    op.drop_table("messaging_signed_prekeys")
    op.drop_table("messaging_one_time_prekeys")
    with op.batch_alter_table("messaging_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_messages_expires")

    op.drop_table("messaging_messages")
    with op.batch_alter_table("messaging_members", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_members_user")

    op.drop_table("messaging_members")
    op.drop_table("messaging_cursors")
    op.drop_table("messaging_attachment_refs")
    op.drop_table("viber_sticker_packs")
    with op.batch_alter_table("viber_calls", schema=None) as batch_op:
        batch_op.drop_index("ix_viber_calls_caller")
        batch_op.drop_index("ix_viber_calls_callee")

    op.drop_table("viber_calls")
    with op.batch_alter_table("sim_sms_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_sim_sms_messages_to")

    op.drop_table("sim_sms_messages")
    with op.batch_alter_table("messaging_profiles", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_profiles_phone_hash")

    op.drop_table("messaging_profiles")
    op.drop_table("messaging_phone_codes")
    with op.batch_alter_table("messaging_friend_requests", schema=None) as batch_op:
        batch_op.drop_index(
            "ux_messaging_friend_requests_open",
            sqlite_where=sa.text("status = 'pending'"),
            postgresql_where=sa.text("status = 'pending'"),
        )
        batch_op.drop_index("ix_messaging_friend_requests_to")

    op.drop_table("messaging_friend_requests")
    with op.batch_alter_table("messaging_devices", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_devices_user")

    op.drop_table("messaging_devices")
    op.drop_table("messaging_conversations")
    with op.batch_alter_table("messaging_contacts", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_contacts_contact")

    op.drop_table("messaging_contacts")
    with op.batch_alter_table("messaging_attachments", schema=None) as batch_op:
        batch_op.drop_index("ix_messaging_attachments_owner")

    op.drop_table("messaging_attachments")
