"""Viber's own tables; chats, messages, contacts and attachments are the messaging engine's.

- Sticker packs and stickers: a sticker is an image attachment of the engine (uploaded through
  its blob store) with a name inside a pack. A sticker message is an engine message of kind
  "sticker" whose data names the pack and the sticker.
- Public accounts: a business or public figure's account. Its posts are an engine channel (the
  followers are the channel's subscribers, so the follower count is the channel's exact
  `member_count`); each follower who writes to the account gets one private thread (an engine
  group of the follower and the account's admins), recorded in `viber_public_account_threads`.
- Calls are the engine's (`engines/messaging/calls.py`, tables `messaging_calls` and
  `messaging_call_lines`), mounted for every chat system.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class ViberStickerPack(Base):
    """A named set of stickers; `owner_id` null for the packs Viber itself ships."""

    __tablename__ = "viber_sticker_packs"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    """Unique, and what a sticker message names as `pack`."""
    title: Mapped[str] = mapped_column(String(100))
    owner_id: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ViberSticker(Base):
    """One sticker: an image attachment of the engine, named within its pack."""

    __tablename__ = "viber_stickers"
    __table_args__ = (UniqueConstraint("pack_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    pack_id: Mapped[int] = mapped_column(ForeignKey("viber_sticker_packs.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(64))
    emoji: Mapped[str] = mapped_column(String(16), default="")
    """The emoji the sticker stands for (suggested when that emoji is typed)."""
    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_attachments.id", ondelete="RESTRICT")
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ViberPublicAccount(Base):
    """A business's or public figure's account: a channel for posts plus a thread per follower
    who writes to it."""

    __tablename__ = "viber_public_accounts"
    __table_args__ = (Index("ix_viber_public_accounts_category", "category", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    handle: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    category: Mapped[str] = mapped_column(String(32))
    about: Mapped[str] = mapped_column(String(512), default="")
    owner_id: Mapped[int]
    channel_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), unique=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ViberPublicAccountAdmin(Base):
    """Who answers for a public account (its owner included). Admins post to the channel and
    are members of every follower's thread."""

    __tablename__ = "viber_public_account_admins"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("viber_public_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)


class ViberPublicAccountThread(Base):
    """The private conversation between one follower and a public account's admins."""

    __tablename__ = "viber_public_account_threads"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("viber_public_accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE")
    )
    """Set in the transaction that claims the row (null only inside it)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
