"""Telegram's own tables, beside the messaging engine's: bots and their update queues, the inline
keyboards of bot messages, callback queries, and channel post views.

A bot is a user of the platform (an `auth_users` row whose id is the bot's id), so it joins the
engine's conversations exactly like a person: a private chat with a bot is an engine direct chat.
Everything bot-specific lives here.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class TelegramBot(Base):
    """A bot made by `owner_id` (BotFather's job). `id` is the bot's user id and the number
    before the colon of its token; only a SHA-256 of the token's secret is stored."""

    __tablename__ = "telegram_bots"
    __table_args__ = (Index("ix_telegram_bots_owner", "owner_id", "id"),)

    id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    owner_id: Mapped[int]
    username: Mapped[str] = mapped_column(String(32), unique=True)
    """Lower-case, ends in "bot", unique."""
    name: Mapped[str] = mapped_column(String(64))
    secret_hash: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    last_update_id: Mapped[int] = mapped_column(default=0)
    """The bot's update counter: every new update takes the next value (one atomic UPDATE)."""
    allowed_updates: Mapped[list[str] | None] = mapped_column(JSON)
    """Update types the bot wants (null: all the types this server produces)."""
    webhook_url: Mapped[str | None] = mapped_column(String(2048))
    webhook_secret: Mapped[str | None] = mapped_column(String(256))
    webhook_failures: Mapped[int] = mapped_column(default=0)
    """Failed deliveries in a row: the backoff before the next attempt grows with it."""
    webhook_last_error_at: Mapped[datetime | None]
    webhook_last_error: Mapped[str | None] = mapped_column(String(512))


class TelegramUpdate(Base):
    """One pending update of a bot (Telegram's `Update`, stored as its JSON). Deleted when the
    bot confirms it (a later getUpdates offset) or its webhook answers 2xx."""

    __tablename__ = "telegram_updates"

    bot_id: Mapped[int] = mapped_column(
        ForeignKey("telegram_bots.id", ondelete="CASCADE"), primary_key=True
    )
    update_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TelegramReplyMarkup(Base):
    """The current inline keyboard of a bot's message. Kept here, not in the message, because
    editMessageText may replace or remove it. Keyed like the message's retry key (conversation,
    sender, client_id), which the bot chooses before sending: the keyboard is stored before the
    message exists, so nobody ever sees the message without it."""

    __tablename__ = "telegram_reply_markups"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    sender_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    markup: Mapped[dict[str, Any]] = mapped_column(JSON)


class TelegramCallbackQuery(Base):
    """A user pressed a callback button of a bot's message; the bot answers it once."""

    __tablename__ = "telegram_callback_queries"
    __table_args__ = (Index("ix_telegram_callback_queries_user", "user_id", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    bot_id: Mapped[int] = mapped_column(ForeignKey("telegram_bots.id", ondelete="CASCADE"))
    user_id: Mapped[int]
    conversation_id: Mapped[int]
    seq: Mapped[int]
    data: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    answer_text: Mapped[str | None] = mapped_column(Text)
    show_alert: Mapped[bool] = mapped_column(Boolean, default=False)
    answer_url: Mapped[str | None] = mapped_column(String(2048))


class TelegramPostView(Base):
    """User `user_id` has seen channel post `seq`: at most one row per (post, user)."""

    __tablename__ = "telegram_post_views"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class TelegramPostViewCount(Base):
    """The view counter of one channel post, raised in the transaction that inserts a new
    `TelegramPostView`, so it always equals the number of those rows."""

    __tablename__ = "telegram_post_view_counts"

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    views: Mapped[int] = mapped_column(default=0)
