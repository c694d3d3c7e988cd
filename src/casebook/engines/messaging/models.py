"""The messaging engine's tables: conversations, members, messages (an ordered event log per
conversation), per-device envelopes of end-to-end messages, devices with their delivery cursors.

Every row carries the system it belongs to (`system`, a catalogue slug such as "telegram"), so
Viber, Telegram and Instant Messenger share the engine without seeing each other's chats.

Ordering: `MessagingConversation.last_seq` is the conversation's counter. A message takes
`last_seq + 1` in the transaction that inserts it, under the conversation row's lock, so the
sequence is gap-free and totally ordered per conversation. Edits and deletes for everyone are
events in the same sequence (kind "edit" / "delete" naming `target_seq`), so a device that resumes
from its cursor sees them too.

Receipts are watermarks, not one row per recipient and message: a member's `delivered_seq` and
`read_seq` only grow, and message `s` is delivered to (read by) a member when `s <=` the mark. A
group of 200,000 stores one row per member, whatever the traffic.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow


class MessagingConversation(Base):
    """A direct chat, a group, or a channel (broadcast: only owners and admins post)."""

    __tablename__ = "messaging_conversations"
    __table_args__ = (
        UniqueConstraint("system", "direct_key"),
        UniqueConstraint("system", "public_handle"),
        UniqueConstraint("join_token"),
        CheckConstraint("kind IN ('direct', 'group', 'channel')", name="kind"),
        CheckConstraint("last_seq >= 0 AND member_count >= 0", name="counters"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(128), default="")
    about: Mapped[str] = mapped_column(String(512), default="")
    created_by: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seq: Mapped[int] = mapped_column(default=0)
    member_count: Mapped[int] = mapped_column(default=0)
    member_limit: Mapped[int]
    e2e: Mapped[bool] = mapped_column(Boolean, default=False)
    """Messages are ciphertext envelopes per device; the server cannot read or search them."""
    ttl_seconds: Mapped[int | None]
    """Self-destruct timer: messages are deleted this long after they are read (secret chats)."""
    direct_key: Mapped[str | None] = mapped_column(String(48))
    """For direct chats "<low user id>:<high user id>" (plus ":e2e" for a secret chat): one per
    pair and kind, enforced by the unique index. Null for groups and channels."""
    join_token: Mapped[str | None] = mapped_column(String(48))
    """The secret of the conversation's join link; null when it has none."""
    public_handle: Mapped[str | None] = mapped_column(String(64))
    """Public groups and channels (and Viber public accounts) can be found by handle."""


class MessagingMember(Base):
    """One user's membership: role, receipt watermarks, mute, and where their history starts."""

    __tablename__ = "messaging_members"
    __table_args__ = (
        Index("ix_messaging_members_user", "user_id", "conversation_id"),
        CheckConstraint("role IN ('owner', 'admin', 'member', 'subscriber')", name="role"),
        CheckConstraint("read_seq <= delivered_seq", name="marks"),
    )

    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    role: Mapped[str] = mapped_column(String(10))
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    joined_seq: Mapped[int] = mapped_column(default=0)
    """The conversation's last_seq when the user joined: they see messages after it only."""
    delivered_seq: Mapped[int] = mapped_column(default=0)
    read_seq: Mapped[int] = mapped_column(default=0)
    cleared_seq: Mapped[int] = mapped_column(default=0)
    """"Clear history" for this user: messages up to here are hidden from them."""
    muted_until: Mapped[datetime | None]


class MessagingMessage(Base):
    """One event of a conversation's log, numbered `seq` (1, 2, 3, … without gaps)."""

    __tablename__ = "messaging_messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "sender_id", "client_id"),
        # The sweep's search: expired and not yet erased (erased rows keep their expires_at,
        # so an index on expires_at alone would walk every message ever erased).
        Index("ix_messaging_messages_expiring", "deleted", "expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int]
    sender_id: Mapped[int]
    sender_device_id: Mapped[int | None]
    client_id: Mapped[str] = mapped_column(String(64))
    """Chosen by the sending client; a retry with the same id returns the stored message."""
    kind: Mapped[str] = mapped_column(String(12))
    """text, media, sticker, location, contact, system, edit, delete, encrypted."""
    body: Mapped[str | None] = mapped_column(Text)
    """Plain text (null for encrypted messages and for media without caption)."""
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Structured content: attachment ids, location, contact card, sticker, reply_to, buttons."""
    target_seq: Mapped[int | None]
    """For edit and delete events: the seq of the message they change."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted: Mapped[bool] = mapped_column(Boolean, default=False)
    """Deleted for everyone: body and data are erased, the row stays so seqs stay gap-free."""
    expires_at: Mapped[datetime | None]
    """Set when a self-destructing message is first read; a job erases it then."""


@dataclass(slots=True, eq=False)
class StoredMessage:
    """A `MessagingMessage` row as the writer built it, as a plain object: the same attributes,
    none of the ORM's instrumentation (building one costs a fraction of a mapped instance, and
    the writer builds one per message it accepts). Mutable: an edit or delete later in the same
    batch changes it before the INSERT."""

    id: int
    conversation_id: int
    seq: int
    sender_id: int
    sender_device_id: int | None
    client_id: str
    kind: str
    body: str | None
    data: dict[str, Any] | None
    target_seq: int | None
    created_at: datetime
    edited_at: datetime | None
    deleted: bool
    expires_at: datetime | None


MessageRow = MessagingMessage | StoredMessage
"""A message as a stored row or as the writer's plain copy of one (views read either)."""


class MessagingEnvelope(Base):
    """The ciphertext of an end-to-end message for one recipient device (Signal's model: the
    sender encrypts once per device, including its own other devices)."""

    __tablename__ = "messaging_envelopes"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_messages.id", ondelete="CASCADE"), primary_key=True
    )
    device_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)


class MessagingDevice(Base):
    """A user's client (phone, desktop, browser): its own delivery cursors, push subscription and,
    for end-to-end chats, its identity key."""

    __tablename__ = "messaging_devices"
    __table_args__ = (Index("ix_messaging_devices_user", "user_id", "system"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[int]
    name: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
    identity_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    """Public identity key (X3DH); null for devices that do not take part in E2E chats."""
    push_subscription: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Web Push subscription ({endpoint, keys: {p256dh, auth}}); null when not registered."""


class MessagingCursor(Base):
    """How far one device has acknowledged one conversation: everything up to `acked_seq` was
    delivered to it. Resuming sends what lies after it."""

    __tablename__ = "messaging_cursors"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_devices.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    acked_seq: Mapped[int] = mapped_column(default=0)


class MessagingHidden(Base):
    """A message deleted "for me": hidden from this user on every device, kept for the others."""

    __tablename__ = "messaging_hidden"

    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    message_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_messages.id", ondelete="CASCADE"), primary_key=True
    )


class MessagingAttachment(Base):
    """An uploaded file in the blob store: the original and, for images, a compressed variant
    and a thumbnail made by a job. Messages name attachments by id in `data`."""

    __tablename__ = "messaging_attachments"
    __table_args__ = (Index("ix_messaging_attachments_owner", "system", "owner_id", "created_at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    owner_id: Mapped[int]
    kind: Mapped[str] = mapped_column(String(10))
    """image, video, voice, file (sticker packs and GIFs are images or videos)."""
    content_type: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(255), default="")
    size: Mapped[int]
    sha256: Mapped[str] = mapped_column(String(64))
    blob_key: Mapped[str] = mapped_column(String(200))
    variants: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    """Derived files once processed, e.g. {"thumbnail": {blob_key, width, height, size}, …}."""
    status: Mapped[str] = mapped_column(String(10), default="ready")
    """"processing" while a job derives variants, then "ready" (or "failed")."""
    width: Mapped[int | None]
    height: Mapped[int | None]
    duration_ms: Mapped[int | None]
    e2e: Mapped[bool] = mapped_column(Boolean, default=False)
    """Encrypted by the client before upload: stored and served as opaque bytes, never processed."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessagingAttachmentRef(Base):
    """A conversation in which message `seq` names an attachment: the conversation's members who
    can see that message may download it. Written in the transaction that inserts the message
    (`attachments.link_message_attachments`), so a recipient never sees a message whose
    attachment it may not fetch yet."""

    __tablename__ = "messaging_attachment_refs"

    attachment_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_attachments.id", ondelete="CASCADE"), primary_key=True
    )
    conversation_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_conversations.id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int]
    """The latest message of the conversation that names the attachment."""


class MessagingSignedPrekey(Base):
    """A device's current signed prekey (X3DH), replaced from time to time by the client."""

    __tablename__ = "messaging_signed_prekeys"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_devices.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    signature: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessagingOneTimePrekey(Base):
    """A device's one-time prekey: handed out to exactly one session initiator, then deleted."""

    __tablename__ = "messaging_one_time_prekeys"

    device_id: Mapped[int] = mapped_column(
        ForeignKey("messaging_devices.id", ondelete="CASCADE"), primary_key=True
    )
    key_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary)


class MessagingProfile(Base):
    """A user's identity inside one chat system: handle, phone number, status line."""

    __tablename__ = "messaging_profiles"
    __table_args__ = (
        UniqueConstraint("system", "handle"),
        UniqueConstraint("system", "phone"),
        Index("ix_messaging_profiles_phone_hash", "system", "phone_hash"),
    )

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    handle: Mapped[str | None] = mapped_column(String(32))
    """Lower-case public username, unique per system; null until chosen."""
    display_name: Mapped[str] = mapped_column(String(100))
    phone: Mapped[str | None] = mapped_column(String(16))
    """E.164 (+ and up to 15 digits), set once verified; unique per system."""
    phone_hash: Mapped[str | None] = mapped_column(String(64))
    """Hex SHA-256 of `phone`, what contact discovery matches against."""
    status_text: Mapped[str] = mapped_column(String(140), default="")
    last_seen_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessagingContact(Base):
    """One entry of a user's contact list (directed: A may list B without B listing A)."""

    __tablename__ = "messaging_contacts"
    __table_args__ = (Index("ix_messaging_contacts_contact", "system", "contact_id"),)

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    contact_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    name: Mapped[str] = mapped_column(String(100), default="")
    """The owner's own name for the contact ("" shows the contact's display name)."""
    tag: Mapped[str] = mapped_column(String(32), default="")
    """A folder to organise contacts by (family, work …)."""
    blocked: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessagingFriendRequest(Base):
    """A request to become mutual contacts; accepting adds each to the other's list."""

    __tablename__ = "messaging_friend_requests"
    __table_args__ = (
        Index("ix_messaging_friend_requests_to", "system", "to_user_id", "status"),
        Index("ix_messaging_friend_requests_from", "system", "from_user_id", "status"),
        Index(
            "ux_messaging_friend_requests_open",
            "system",
            "pair_key",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        CheckConstraint("status IN ('pending', 'accepted', 'declined')", name="status"),
        CheckConstraint("from_user_id <> to_user_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    from_user_id: Mapped[int]
    to_user_id: Mapped[int]
    pair_key: Mapped[str] = mapped_column(String(48))
    """"<low>:<high>" user ids: one open request per pair, whichever side sent it."""
    status: Mapped[str] = mapped_column(String(10), default="pending")
    message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]


class MessagingPhoneCode(Base):
    """The one outstanding SMS verification code of a phone number in a system (a new request
    replaces it). Only an HMAC of the code is stored; five wrong tries use it up."""

    __tablename__ = "messaging_phone_codes"

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    phone: Mapped[str] = mapped_column(String(16), primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessagingCall(Base):
    """One voice or video call attempt between two users, as the call log shows it (calls.py:
    the state machine and the signalling relay)."""

    __tablename__ = "messaging_calls"
    __table_args__ = (
        Index("ix_messaging_calls_caller", "system", "caller_id", "id"),
        Index("ix_messaging_calls_callee", "system", "callee_id", "id"),
        CheckConstraint("kind IN ('voice', 'video')", name="kind"),
        CheckConstraint(
            "state IN ('ringing', 'accepted', 'declined', 'missed', 'ended', 'busy')",
            name="state",
        ),
        CheckConstraint("caller_id <> callee_id", name="not_self"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    system: Mapped[str] = mapped_column(String(32))
    caller_id: Mapped[int]
    callee_id: Mapped[int]
    caller_device_id: Mapped[int]
    callee_device_id: Mapped[int | None]
    """The callee's device that accepted (signals then go to it alone)."""
    kind: Mapped[str] = mapped_column(String(5))
    state: Mapped[str] = mapped_column(String(8))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    answered_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[int | None]


class MessagingCallLine(Base):
    """A user busy in a call of a system: at most one row per (system, user) — the primary key —
    held while the call rings or runs and deleted when it ends."""

    __tablename__ = "messaging_call_lines"
    __table_args__ = (Index("ix_messaging_call_lines_call", "call_id"),)

    system: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    call_id: Mapped[int] = mapped_column(ForeignKey("messaging_calls.id", ondelete="CASCADE"))


# The full-text index of message bodies is DDL on the messages table (FTS5 table and triggers on
# SQLite, a GIN expression index on PostgreSQL): importing it attaches that DDL to the metadata.
from casebook.engines.messaging import search as _search  # noqa: E402, F401
