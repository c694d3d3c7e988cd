"""Use cases of the messaging engine other than appending to a log (that is writer.py): devices,
conversations and their members, join links, history, receipts, device cursors.

Every function takes the caller's `AsyncSession` (and works inside its transaction) and the
`system` whose rows it may touch: a conversation of "telegram" does not exist for
"instant-messenger". Only members read a conversation; a conversation the caller is not in is
`ConversationNotFound`, exactly like one that does not exist.

Counters users race on are single statements: joining is `UPDATE … SET member_count =
member_count + 1 WHERE member_count < member_limit RETURNING last_seq` (the row lock it takes
also orders the join against the writer, so `joined_seq` is exact), receipt marks and device
cursors only grow (`CASE WHEN mark < :seq THEN :seq ELSE mark END`).

Functions that change what other users' devices see return the bus events to publish; the caller
publishes them after its transaction commits (`publish_all`).
"""

from __future__ import annotations

import functools
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import orjson
from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import contacts, selfdestruct
from casebook.engines.messaging.errors import (
    AlreadyMember,
    ConversationNotFound,
    DeviceNotFound,
    HandleTaken,
    InvalidOperation,
    MemberLimitReached,
    MessageNotFound,
    NotAllowed,
    UserNotFound,
)
from casebook.engines.messaging.events import publish_to_conversation, publish_to_user
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingCursor,
    MessagingDevice,
    MessagingEnvelope,
    MessagingHidden,
    MessagingMember,
    MessagingMessage,
    MessagingOneTimePrekey,
    MessagingSignedPrekey,
)
from casebook.engines.messaging.runtime import MessagingConfig
from casebook.platform.auth.models import User
from casebook.platform.bus import Bus
from casebook.platform.db import keys_parameter, utcnow, where_keys
from casebook.platform.errors import InvalidInput
from casebook.platform.ids import new_id

ADMIN_ROLES = frozenset({"owner", "admin"})
MAX_DEVICES = 20
"""Live devices per user and system."""

Event = tuple[str, int, dict[str, Any]]
"""("c", conversation id, event) or ("u", user id, event): a bus event and where it goes."""


def _insert(session: AsyncSession) -> Any:
    """The dialect's INSERT (both offer ON CONFLICT DO NOTHING)."""
    return sqlite.insert if session.get_bind().dialect.name == "sqlite" else postgresql.insert


async def publish_all(bus: Bus, system: str, events: Iterable[Event]) -> None:
    """Publish events returned by the functions of this module (after their commit)."""
    for target, key, event in events:
        if target == "c":
            await publish_to_conversation(bus, system, key, event)
        else:
            await publish_to_user(bus, system, key, event)


# Devices ---------------------------------------------------------------------------------------


async def register_device(
    session: AsyncSession, system: str, user_id: int, name: str
) -> MessagingDevice:
    """Register a new device for `user_id`.

    The device starts "now": one cursor per conversation the user is in, at its current
    `last_seq` (INSERT … SELECT, O(conversations of the user)), so it is not flooded with old
    history over the socket (that is read page by page over HTTP). Conversations joined later have
    no cursor and resume from the user's `joined_seq`. Raises `InvalidOperation` past
    `MAX_DEVICES` live devices. The device row is not locked, so two concurrent registrations may
    exceed the cap by one; the cap is a guard against runaway clients, not a quota.
    """
    live = await session.scalar(
        select(func.count())
        .select_from(MessagingDevice)
        .where(
            MessagingDevice.system == system,
            MessagingDevice.user_id == user_id,
            MessagingDevice.revoked_at.is_(None),
        )
    )
    if (live or 0) >= MAX_DEVICES:
        raise InvalidOperation(f"At most {MAX_DEVICES} devices; revoke one first.")
    device = MessagingDevice(id=new_id(), system=system, user_id=user_id, name=name)
    session.add(device)
    await session.flush()
    cursor_rows = select(
        literal(device.id, BigInteger).label("device_id"),
        MessagingConversation.id,
        MessagingConversation.last_seq,
    ).where(
        MessagingMember.user_id == user_id,
        MessagingConversation.id == MessagingMember.conversation_id,
        MessagingConversation.system == system,
    )
    await session.execute(
        _insert(session)(MessagingCursor).from_select(
            ["device_id", "conversation_id", "acked_seq"], cursor_rows
        )
    )
    return device


async def list_devices(
    session: AsyncSession, system: str, user_id: int
) -> Sequence[MessagingDevice]:
    """The user's devices (live and revoked), oldest first."""
    rows = await session.scalars(
        select(MessagingDevice)
        .where(MessagingDevice.system == system, MessagingDevice.user_id == user_id)
        .order_by(MessagingDevice.id)
    )
    return rows.all()


async def live_device(
    session: AsyncSession, system: str, user_id: int, device_id: int
) -> MessagingDevice:
    """The user's live device `device_id`; `DeviceNotFound` for a missing, revoked or someone
    else's device (the same answer, so ids reveal nothing)."""
    device = await session.scalar(
        select(MessagingDevice).where(
            MessagingDevice.id == device_id,
            MessagingDevice.system == system,
            MessagingDevice.user_id == user_id,
        )
    )
    if device is None or device.revoked_at is not None:
        raise DeviceNotFound(f"No device {device_id} among yours.")
    return device


async def revoke_device(
    session: AsyncSession, system: str, user_id: int, device_id: int
) -> list[Event]:
    """Revoke one of the user's devices: it can no longer connect, receive envelopes or push.
    Its cursors and prekeys are deleted. Returns the "device" event for the user's channel (the
    gateway closes the device's sockets)."""
    device = await live_device(session, system, user_id, device_id)
    device.revoked_at = utcnow()
    device.push_subscription = None
    device.identity_key = None
    for table in (MessagingCursor, MessagingSignedPrekey, MessagingOneTimePrekey):
        await session.execute(delete(table).where(table.device_id == device_id))
    return [("u", user_id, {"type": "device", "device_id": str(device_id), "revoked": True})]


# Conversations ---------------------------------------------------------------------------------


async def _user_exists(session: AsyncSession, user_ids: Iterable[int]) -> set[int]:
    ids = set(user_ids)
    if not ids:
        return set()
    found = await session.scalars(select(User.id).where(User.id.in_(ids)))
    return set(found)


def direct_key(a: int, b: int, e2e: bool) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}{':e2e' if e2e else ''}"


async def create_direct(
    session: AsyncSession, system: str, user_id: int, other_id: int, *, e2e: bool = False
) -> tuple[MessagingConversation, bool, list[Event]]:
    """The direct chat of two users (and kind: plain or E2E), created if absent.

    Returns (conversation, created, events). One per pair and kind even under concurrent
    creation: INSERT … ON CONFLICT (system, direct_key) DO NOTHING, then a read. Raises
    `UserNotFound` when `other_id` is not a user, `InvalidInput` for a chat with oneself,
    `NotAllowed` when `other_id` has blocked the caller (contacts.py).
    """
    if other_id == user_id:
        raise InvalidInput("A direct chat needs another user.")
    if other_id not in await _user_exists(session, [other_id]):
        raise UserNotFound(f"No user {other_id}.")
    if await contacts.is_blocked(session, system, other_id, user_id):
        raise NotAllowed("This user does not accept messages from you.")
    key = direct_key(user_id, other_id, e2e)
    conversation_id = new_id()
    inserted = await session.scalar(
        _insert(session)(MessagingConversation)
        .values(
            id=conversation_id,
            system=system,
            kind="direct",
            title="",
            about="",
            created_by=user_id,
            created_at=utcnow(),
            last_seq=0,
            member_count=2,
            member_limit=2,
            e2e=e2e,
            direct_key=key,
        )
        .on_conflict_do_nothing(index_elements=["system", "direct_key"])
        .returning(MessagingConversation.id)
    )
    if inserted is not None:
        now = utcnow()
        session.add_all(
            [
                MessagingMember(
                    conversation_id=conversation_id, user_id=uid, role="member", joined_at=now
                )
                for uid in (user_id, other_id)
            ]
        )
        await session.flush()
    conversation = await session.scalar(
        select(MessagingConversation)
        .where(MessagingConversation.system == system, MessagingConversation.direct_key == key)
        .execution_options(populate_existing=True)
    )
    assert conversation is not None
    events: list[Event] = []
    if inserted is not None:
        events = [
            ("u", uid, {"type": "joined", "conversation_id": str(conversation.id)})
            for uid in (user_id, other_id)
        ]
    return conversation, inserted is not None, events


async def create_group(
    session: AsyncSession,
    system: str,
    config: MessagingConfig,
    owner_id: int,
    *,
    kind: str,
    title: str,
    about: str = "",
    member_ids: Sequence[int] = (),
) -> tuple[MessagingConversation, list[Event]]:
    """A new group or channel owned by `owner_id`, with `member_ids` as members (subscribers in
    a channel). Raises `UserNotFound` for an unknown member, `MemberLimitReached`."""
    if kind not in ("group", "channel"):
        raise InvalidInput(f"kind must be group or channel, not {kind!r}.")
    others = set(member_ids) - {owner_id}
    if len(others) > config.max_initial_members:
        raise InvalidInput(f"Name at most {config.max_initial_members} members at creation.")
    missing = others - await _user_exists(session, others)
    if missing:
        raise UserNotFound(f"No user {min(missing)}.")
    limit = config.group_member_limit if kind == "group" else config.channel_member_limit
    if len(others) + 1 > limit:
        raise MemberLimitReached(f"A {kind} holds at most {limit} members.")
    now = utcnow()
    conversation = MessagingConversation(
        id=new_id(),
        system=system,
        kind=kind,
        title=title,
        about=about,
        created_by=owner_id,
        created_at=now,
        last_seq=0,
        member_count=len(others) + 1,
        member_limit=limit,
        e2e=False,
    )
    session.add(conversation)
    await session.flush()
    member_role = "member" if kind == "group" else "subscriber"
    rows = [{"conversation_id": conversation.id, "user_id": owner_id, "role": "owner"}]
    rows += [
        {"conversation_id": conversation.id, "user_id": uid, "role": member_role}
        for uid in sorted(others)
    ]
    for row in rows:
        row.update(joined_at=now, joined_seq=0, delivered_seq=0, read_seq=0, cleared_seq=0)
    await session.execute(cast(Table, MessagingMember.__table__).insert(), rows)
    events: list[Event] = [
        ("u", uid, {"type": "joined", "conversation_id": str(conversation.id)})
        for uid in (owner_id, *sorted(others))
    ]
    return conversation, events


async def membership(
    session: AsyncSession, system: str, conversation_id: int, user_id: int, *, lock: bool = False
) -> tuple[MessagingConversation, MessagingMember]:
    """The conversation and the user's membership; `ConversationNotFound` unless a member.
    `lock` locks the conversation row (PostgreSQL) until commit. Two index probes."""
    query = select(MessagingConversation).where(
        MessagingConversation.id == conversation_id, MessagingConversation.system == system
    )
    if lock:
        query = query.with_for_update()
    conversation = await session.scalar(query.execution_options(populate_existing=True))
    member = None
    if conversation is not None:
        member = await session.get(
            MessagingMember, (conversation_id, user_id), populate_existing=True
        )
    if conversation is None or member is None:
        raise ConversationNotFound("No such conversation among yours.")
    return conversation, member


async def list_conversations(
    session: AsyncSession, system: str, user_id: int, *, before_id: int | None, limit: int
) -> list[tuple[MessagingConversation, MessagingMember]]:
    """The user's conversations, newest first by id (keyset: `before_id`), `limit` of them.
    One index range scan on (user_id, conversation_id): O(log n + limit)."""
    query = (
        select(MessagingConversation, MessagingMember)
        .join(MessagingMember, MessagingMember.conversation_id == MessagingConversation.id)
        .where(MessagingMember.user_id == user_id, MessagingConversation.system == system)
        .order_by(MessagingMember.conversation_id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(MessagingMember.conversation_id < before_id)
    rows = await session.execute(query)
    return [(c, m) for c, m in rows]


async def update_conversation(
    session: AsyncSession,
    system: str,
    conversation_id: int,
    user_id: int,
    *,
    title: str | None,
    about: str | None,
) -> tuple[MessagingConversation, MessagingMember, list[Event]]:
    """Change a group's or channel's title/about (owner and admins)."""
    conversation, member = await membership(session, system, conversation_id, user_id)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat has no title.")
    if member.role not in ADMIN_ROLES:
        raise NotAllowed("Only the owner and admins change the conversation.")
    if title is not None:
        conversation.title = title
    if about is not None:
        conversation.about = about
    event = {
        "type": "conversation",
        "conversation_id": str(conversation.id),
        "title": conversation.title,
        "about": conversation.about,
    }
    return conversation, member, [("c", conversation.id, event)]


async def _join(
    session: AsyncSession, conversation: MessagingConversation, user_id: int, role: str
) -> tuple[MessagingMember, list[Event]]:
    """Add `user_id`: one conditional UPDATE (count + limit, takes the row lock and reads
    last_seq) then the member row; an existing member rolls both back (`AlreadyMember`)."""
    joined_seq = await session.scalar(
        update(MessagingConversation)
        .where(
            MessagingConversation.id == conversation.id,
            MessagingConversation.member_count < MessagingConversation.member_limit,
        )
        .values(member_count=MessagingConversation.member_count + 1)
        .returning(MessagingConversation.last_seq)
        .execution_options(synchronize_session=False)
    )
    if joined_seq is None:
        raise MemberLimitReached(f"The conversation holds at most {conversation.member_limit}.")
    now = utcnow()
    added = await session.scalar(
        _insert(session)(MessagingMember)
        .values(
            conversation_id=conversation.id,
            user_id=user_id,
            role=role,
            joined_at=now,
            joined_seq=joined_seq,
            delivered_seq=joined_seq,
            read_seq=joined_seq,
            cleared_seq=0,
        )
        .on_conflict_do_nothing(index_elements=["conversation_id", "user_id"])
        .returning(MessagingMember.user_id)
    )
    if added is None:
        raise AlreadyMember("Already a member of this conversation.")
    member = await session.get(MessagingMember, (conversation.id, user_id), populate_existing=True)
    assert member is not None
    events: list[Event] = [
        ("u", user_id, {"type": "joined", "conversation_id": str(conversation.id)}),
        (
            "c",
            conversation.id,
            {
                "type": "members",
                "conversation_id": str(conversation.id),
                "user_id": str(user_id),
                "change": "joined",
                "role": role,
            },
        ),
    ]
    return member, events


async def add_member(
    session: AsyncSession, system: str, conversation_id: int, actor_id: int, user_id: int
) -> tuple[MessagingMember, list[Event]]:
    """Invite `user_id` into a group or channel (owner and admins). Raises `ConversationNotFound`,
    `NotAllowed`, `InvalidOperation` (direct chats), `UserNotFound`, `AlreadyMember`,
    `MemberLimitReached`."""
    conversation, member = await membership(session, system, conversation_id, actor_id)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat has exactly two members.")
    if member.role not in ADMIN_ROLES:
        raise NotAllowed("Only the owner and admins add members.")
    if user_id not in await _user_exists(session, [user_id]):
        raise UserNotFound(f"No user {user_id}.")
    role = "member" if conversation.kind == "group" else "subscriber"
    return await _join(session, conversation, user_id, role)


async def join_by_token(
    session: AsyncSession, system: str, token: str, user_id: int
) -> tuple[MessagingConversation, MessagingMember, list[Event]]:
    """Join the group or channel whose join link carries `token`. Raises `ConversationNotFound`
    for an unknown or revoked link, `AlreadyMember`, `MemberLimitReached`."""
    conversation = await session.scalar(
        select(MessagingConversation).where(
            MessagingConversation.join_token == token, MessagingConversation.system == system
        )
    )
    if conversation is None:
        raise ConversationNotFound("This join link is not valid (any more).")
    role = "member" if conversation.kind == "group" else "subscriber"
    member, events = await _join(session, conversation, user_id, role)
    await session.refresh(conversation)
    return conversation, member, events


async def set_join_link(
    session: AsyncSession, system: str, conversation_id: int, user_id: int, *, enabled: bool
) -> str | None:
    """Create (or replace: the old link stops working) or revoke the join link (owner and
    admins). Returns the new token, or None when revoked. 24 random bytes: unguessable."""
    conversation, member = await membership(session, system, conversation_id, user_id)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat has no join link.")
    if member.role not in ADMIN_ROLES:
        raise NotAllowed("Only the owner and admins manage the join link.")
    conversation.join_token = secrets.token_urlsafe(24) if enabled else None
    return conversation.join_token


PUBLIC_HANDLE = re.compile(r"^[a-z][a-z0-9_]{4,31}$")
"""Telegram's rule for public names: 5-32 characters, a letter first, then letters, digits and
underscores (stored lower-cased)."""


async def set_public_handle(
    session: AsyncSession, system: str, conversation_id: int, user_id: int, handle: str | None
) -> MessagingConversation:
    """Make a group or channel public under `handle` (anyone can find and join it), move it to
    another handle, or make it private again (None). Owner only. Raises `InvalidInput` for a
    malformed handle, `HandleTaken` when another conversation of the system has it (also when a
    concurrent request took it first: the unique index decides)."""
    conversation, member = await membership(session, system, conversation_id, user_id)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat cannot be public.")
    if member.role != "owner":
        raise NotAllowed("Only the owner makes a conversation public.")
    if handle is not None:
        handle = handle.lower()
        if not PUBLIC_HANDLE.match(handle):
            raise InvalidInput("A handle is 5-32 letters, digits or underscores, a letter first.")
    conversation.public_handle = handle
    try:
        await session.flush()
    except IntegrityError:
        raise HandleTaken(f"@{handle} is taken.") from None
    return conversation


async def public_conversation(
    session: AsyncSession, system: str, handle: str
) -> MessagingConversation:
    """The public group or channel named `handle` (case-insensitive); `ConversationNotFound`."""
    conversation = await session.scalar(
        select(MessagingConversation).where(
            MessagingConversation.system == system,
            MessagingConversation.public_handle == handle.lower(),
        )
    )
    if conversation is None:
        raise ConversationNotFound(f"No public conversation @{handle}.")
    return conversation


async def join_public(
    session: AsyncSession, system: str, handle: str, user_id: int
) -> tuple[MessagingConversation, MessagingMember, list[Event]]:
    """Join the public group or channel `handle`. Raises `ConversationNotFound`,
    `AlreadyMember`, `MemberLimitReached`."""
    conversation = await public_conversation(session, system, handle)
    role = "member" if conversation.kind == "group" else "subscriber"
    member, events = await _join(session, conversation, user_id, role)
    await session.refresh(conversation)
    return conversation, member, events


async def remove_member(
    session: AsyncSession, system: str, conversation_id: int, actor_id: int, user_id: int
) -> list[Event]:
    """`actor_id` leaves (actor == user) or removes `user_id` (kick).

    Owners cannot leave (hand ownership over first); admins kick members and subscribers, the
    owner kicks anyone but themselves. Direct chats cannot be left. The member count is one
    atomic decrement.
    """
    conversation, actor = await membership(session, system, conversation_id, actor_id)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat cannot be left; clear or hide it instead.")
    if actor_id == user_id:
        if actor.role == "owner":
            raise InvalidOperation("The owner hands ownership to another member before leaving.")
    else:
        target = await session.get(MessagingMember, (conversation_id, user_id))
        if target is None:
            raise UserNotFound(f"User {user_id} is not a member.")
        if actor.role not in ADMIN_ROLES or target.role == "owner":
            raise NotAllowed("Only the owner and admins remove members (never the owner).")
        if target.role == "admin" and actor.role != "owner":
            raise NotAllowed("Only the owner removes an admin.")
    removed = await session.execute(
        delete(MessagingMember).where(
            MessagingMember.conversation_id == conversation_id, MessagingMember.user_id == user_id
        )
    )
    if removed.rowcount:  # type: ignore[attr-defined]
        await session.execute(
            update(MessagingConversation)
            .where(MessagingConversation.id == conversation_id)
            .values(member_count=MessagingConversation.member_count - 1)
            .execution_options(synchronize_session=False)
        )
        await session.execute(
            delete(MessagingCursor).where(
                MessagingCursor.conversation_id == conversation_id,
                MessagingCursor.device_id.in_(
                    select(MessagingDevice.id).where(MessagingDevice.user_id == user_id)
                ),
            )
        )
    return [
        ("u", user_id, {"type": "left", "conversation_id": str(conversation_id)}),
        (
            "c",
            conversation_id,
            {
                "type": "members",
                "conversation_id": str(conversation_id),
                "user_id": str(user_id),
                "change": "left",
            },
        ),
    ]


async def set_role(
    session: AsyncSession,
    system: str,
    conversation_id: int,
    actor_id: int,
    user_id: int,
    role: str,
) -> tuple[MessagingMember, list[Event]]:
    """The owner promotes a member to admin, demotes an admin, or hands ownership over
    (`role="owner"`: the old owner becomes an admin). Locks the conversation row so two
    hand-overs cannot both succeed."""
    conversation, actor = await membership(session, system, conversation_id, actor_id, lock=True)
    if conversation.kind == "direct":
        raise InvalidOperation("A direct chat has no roles.")
    if actor.role != "owner":
        raise NotAllowed("Only the owner changes roles.")
    if user_id == actor_id:
        raise InvalidOperation("The owner hands ownership to someone else.")
    target = await session.get(MessagingMember, (conversation_id, user_id))
    if target is None:
        raise UserNotFound(f"User {user_id} is not a member.")
    plain = "member" if conversation.kind == "group" else "subscriber"
    allowed = {"owner", "admin", plain}
    if role not in allowed:
        raise InvalidInput(f"role must be one of {', '.join(sorted(allowed))}.")
    target.role = role
    if role == "owner":
        actor.role = "admin"
    event = {
        "type": "members",
        "conversation_id": str(conversation_id),
        "user_id": str(user_id),
        "change": "role",
        "role": role,
    }
    return target, [("c", conversation_id, event)]


async def list_members(
    session: AsyncSession,
    system: str,
    conversation_id: int,
    user_id: int,
    *,
    after_user_id: int | None,
    limit: int,
) -> list[MessagingMember]:
    """Members by user id (keyset `after_user_id`), for members only. O(log n + limit)."""
    await membership(session, system, conversation_id, user_id)
    query = (
        select(MessagingMember)
        .where(MessagingMember.conversation_id == conversation_id)
        .order_by(MessagingMember.user_id)
        .limit(limit)
    )
    if after_user_id is not None:
        query = query.where(MessagingMember.user_id > after_user_id)
    return list(await session.scalars(query))


# History ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoryItem:
    message: MessagingMessage
    ciphertext: bytes | None


async def history(
    session: AsyncSession,
    system: str,
    user_id: int,
    conversation_id: int,
    *,
    before: int | None = None,
    after: int | None = None,
    limit: int = 50,
    newest_first: bool = True,
    device_id: int | None = None,
) -> list[HistoryItem]:
    """One page of the conversation's log as the user sees it.

    Only seqs after the user's `joined_seq` and `cleared_seq`, without messages they hid.
    `before`/`after` bound the seq range (exclusive); pages are newest first (`before` walks
    back) or oldest first (`after` walks forward). With `device_id` (one of the user's live
    devices), E2E messages carry that device's envelope. One range scan on the
    (conversation_id, seq) index plus an anti-join on hidden rows: O(log n + limit), however
    large the group (fan-out on read).
    """
    _conversation, member = await membership(session, system, conversation_id, user_id)
    if device_id is not None:
        await live_device(session, system, user_id, device_id)
    floor = max(member.joined_seq, member.cleared_seq)
    hidden = select(MessagingHidden.message_id).where(
        MessagingHidden.user_id == user_id, MessagingHidden.message_id == MessagingMessage.id
    )
    query = select(MessagingMessage).where(
        MessagingMessage.conversation_id == conversation_id,
        MessagingMessage.seq > max(floor, after or 0),
        ~hidden.exists(),
        selfdestruct.not_expired(),
    )
    if before is not None:
        query = query.where(MessagingMessage.seq < before)
    order = MessagingMessage.seq.desc() if newest_first else MessagingMessage.seq.asc()
    messages = list(await session.scalars(query.order_by(order).limit(limit)))
    ciphertexts: dict[int, bytes] = {}
    if device_id is not None:
        encrypted = [m.id for m in messages if m.kind == "encrypted"]
        if encrypted:
            rows = await session.execute(
                select(MessagingEnvelope.message_id, MessagingEnvelope.ciphertext).where(
                    MessagingEnvelope.device_id == device_id,
                    MessagingEnvelope.message_id.in_(encrypted),
                )
            )
            ciphertexts = {message_id: data for message_id, data in rows}
    return [HistoryItem(m, ciphertexts.get(m.id)) for m in messages]


async def message_at(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seq: int
) -> MessagingMessage:
    """Message `seq` if the user can see it (member, after joined/cleared, not hidden)."""
    _conversation, member = await membership(session, system, conversation_id, user_id)
    message = await session.scalar(
        select(MessagingMessage).where(
            MessagingMessage.conversation_id == conversation_id, MessagingMessage.seq == seq
        )
    )
    if (
        message is None
        or seq <= max(member.joined_seq, member.cleared_seq)
        or (message.expires_at is not None and message.expires_at <= utcnow())
    ):
        raise MessageNotFound(f"No message {seq}.")
    if await session.get(MessagingHidden, (user_id, message.id)) is not None:
        raise MessageNotFound(f"No message {seq}.")
    return message


async def hide_message(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seq: int
) -> list[Event]:
    """Delete for me: the message disappears from this user's history, search and devices,
    and stays for everyone else. Idempotent."""
    message = await message_at(session, system, user_id, conversation_id, seq)
    await session.execute(
        _insert(session)(MessagingHidden)
        .values(user_id=user_id, message_id=message.id)
        .on_conflict_do_nothing()
    )
    event = {"type": "hidden", "conversation_id": str(conversation_id), "seq": seq}
    return [("u", user_id, event)]


async def clear_history(
    session: AsyncSession, system: str, user_id: int, conversation_id: int
) -> int:
    """Hide everything up to the current last message from this user (monotonic). Returns the
    new `cleared_seq`."""
    conversation, member = await membership(session, system, conversation_id, user_id)
    await session.execute(
        update(MessagingMember)
        .where(
            MessagingMember.conversation_id == conversation_id,
            MessagingMember.user_id == user_id,
        )
        .values(cleared_seq=_raised(MessagingMember.cleared_seq, conversation.last_seq))
        .execution_options(synchronize_session=False)
    )
    return max(conversation.last_seq, member.cleared_seq)


# Receipts and cursors --------------------------------------------------------------------------


def _raised(column: Any, value: Any) -> Any:
    """SQL for max(column, value) on both backends (a monotonic mark in one statement)."""
    return case((column < value, value), else_=column)


async def mark(
    session: AsyncSession,
    system: str,
    user_id: int,
    conversation_id: int,
    *,
    delivered_seq: int | None = None,
    read_seq: int | None = None,
) -> list[Event]:
    """Move the user's delivered and/or read watermark forward (never back), clamped to the
    conversation's last seq; reading implies delivery. One UPDATE and one SELECT of the authors;
    returns the "receipts" events for those they concern (`_receipt_events`), or nothing when no
    mark moved."""
    conversation, member = await membership(session, system, conversation_id, user_id)
    read = min(read_seq or 0, conversation.last_seq)
    delivered = max(min(delivered_seq or 0, conversation.last_seq), read)
    if delivered <= member.delivered_seq and read <= member.read_seq:
        return []
    result = await session.execute(
        update(MessagingMember)
        .where(
            MessagingMember.conversation_id == conversation_id,
            MessagingMember.user_id == user_id,
        )
        .values(
            delivered_seq=_raised(MessagingMember.delivered_seq, delivered),
            read_seq=_raised(MessagingMember.read_seq, read),
        )
        .returning(MessagingMember.delivered_seq, MessagingMember.read_seq)
        .execution_options(synchronize_session=False)
    )
    new_delivered, new_read = result.one()
    if conversation.ttl_seconds:  # secret chat: reading starts the self-destruct timers
        await selfdestruct.start_timers(session, conversation, user_id, member.read_seq, new_read)
    moved = _Moved(
        conversation_id,
        conversation.kind,
        user_id,
        member.read_seq,
        new_delivered,
        new_read,
        read_moved=new_read > member.read_seq,
    )
    return await _receipt_events(session, [moved])


# The distinct authors of the entries in (lo, hi] of each conversation: one statement of a fixed
# text for any number of ranges (so it is prepared once, not compiled per batch as an OR of
# ranges would be), one index range scan on (conversation_id, seq) per range.
_AUTHORS_SQLITE = text(
    "SELECT DISTINCT m.conversation_id, m.sender_id FROM json_each(:ranges) AS r"
    " JOIN messaging_messages AS m ON m.conversation_id = json_extract(r.value, '$[0]')"
    " AND m.seq > json_extract(r.value, '$[1]') AND m.seq <= json_extract(r.value, '$[2]')"
)
_AUTHORS_POSTGRES = text(
    "SELECT DISTINCT m.conversation_id, m.sender_id"
    " FROM unnest(CAST(:c AS bigint[]), CAST(:lo AS bigint[]), CAST(:hi AS bigint[]))"
    " AS r(c, lo, hi)"
    " JOIN messaging_messages AS m ON m.conversation_id = r.c AND m.seq > r.lo AND m.seq <= r.hi"
)


@dataclass(frozen=True)
class _Moved:
    """A member's marks that moved: the entries in (`since`, `delivered_seq`] changed state."""

    conversation_id: int
    kind: str
    user_id: int
    since: int
    delivered_seq: int
    read_seq: int
    read_moved: bool


async def _receipt_events(session: AsyncSession, moved: Sequence[_Moved]) -> list[Event]:
    """The "receipts" events of moved marks (one mark each), each addressed to the users it
    concerns: the authors of the entries whose state changed (their devices show the ticks), and
    the member's own devices when the read mark moved (they clear the unread count). The
    gateway's ack batcher merges them per addressee before it publishes (`ReceiptOutbox`); the
    other paths publish them as they are. Not the whole conversation:
    receipts are the busiest events (one per member per ack), and in a group of n members every
    one of them sent to every member would be n frames per ack, n^2 per message. In a channel the
    readers' marks go to their own devices only (its authors see view counts, not receipts).

    One SELECT of the distinct authors in the changed ranges, merged per conversation (index
    range scans on (conversation_id, seq)): O(entries in the ranges)."""
    ranges: dict[int, tuple[int, int]] = {}
    for item in moved:
        if item.kind == "channel":
            continue
        lo, hi = ranges.get(item.conversation_id, (item.since, item.delivered_seq))
        ranges[item.conversation_id] = (min(lo, item.since), max(hi, item.delivered_seq))
    authors: dict[int, set[int]] = {}
    if ranges:
        ordered = sorted(ranges.items())
        if session.get_bind().dialect.name == "sqlite":
            # Text, not bytes: SQLite 3.45+ reads a BLOB argument as its binary JSONB format.
            ranges_json = orjson.dumps([[c, lo, hi] for c, (lo, hi) in ordered]).decode()
            found = await session.execute(_AUTHORS_SQLITE, {"ranges": ranges_json})
        else:
            found = await session.execute(
                _AUTHORS_POSTGRES,
                {
                    "c": [c for c, _ in ordered],
                    "lo": [lo for _, (lo, _hi) in ordered],
                    "hi": [hi for _, (_lo, hi) in ordered],
                },
            )
        for conversation_id, sender_id in found:
            authors.setdefault(conversation_id, set()).add(sender_id)
    events: list[Event] = []
    for item in moved:
        event = {
            "type": "receipts",
            "receipts": [
                {
                    "conversation_id": str(item.conversation_id),
                    "user_id": str(item.user_id),
                    "delivered_seq": item.delivered_seq,
                    "read_seq": item.read_seq,
                }
            ],
        }
        to = authors.get(item.conversation_id, set()) - {item.user_id}
        if item.read_moved:
            to.add(item.user_id)
        events.extend(("u", user_id, event) for user_id in sorted(to))
    return events


async def ack(
    session: AsyncSession,
    system: str,
    user_id: int,
    device_id: int,
    conversation_id: int,
    seq: int,
) -> list[Event]:
    """The device has everything up to `seq` (clamped to the last seq): its cursor moves
    forward (upsert, monotonic) and the user's delivered mark with it. Returns the receipt
    event when the delivered mark moved. Two statements plus the membership probes."""
    conversation, _member = await membership(session, system, conversation_id, user_id)
    await live_device(session, system, user_id, device_id)
    acked = max(0, min(seq, conversation.last_seq))
    insert = _insert(session)(MessagingCursor).values(
        device_id=device_id, conversation_id=conversation_id, acked_seq=acked
    )
    await session.execute(
        insert.on_conflict_do_update(
            index_elements=["device_id", "conversation_id"],
            set_={"acked_seq": _raised(MessagingCursor.acked_seq, acked)},
        )
    )
    return await mark(session, system, user_id, conversation_id, delivered_seq=acked)


@dataclass(frozen=True)
class Ack:
    """One device's acknowledgement, as `ack_many` takes them."""

    user_id: int
    device_id: int
    conversation_id: int
    seq: int


@dataclass(frozen=True)
class _AckStatements:
    """`ack_many`'s statements, built once per dialect (building them per batch cost more than
    running them at the ack batcher's 50 batches a second)."""

    members: Any
    cursors: Any
    delivered: Any
    driver: tuple[str, str] | None = None
    """On SQLite, the cursor upsert and the delivered-mark update compiled to the driver's SQL
    (`?` parameters in the order `ack_many` passes them): executemany through the driver
    skips SQLAlchemy's processing of every row's parameters, about 2 µs a row."""


def _driver_sql(statement: Any, dialect: Any, order: Sequence[str]) -> str:
    """`statement` compiled for `dialect` once, checked to take its positional parameters in
    `order` (the row tuples `ack_many` builds)."""
    compiled = statement.compile(dialect=dialect, column_keys=list(order))
    if list(compiled.positiontup or ()) != list(order):
        raise RuntimeError(f"unexpected parameter order {compiled.positiontup} for {order}")
    return str(compiled)


@functools.cache
def _ack_statements(dialect: str) -> _AckStatements:
    # The system is checked on the rows, not in SQL: without statistics SQLite takes
    # `conversations.system = ?` for a selective index and walked every conversation of the
    # system per batch. SQLite looks the (conversation, user) pairs up one primary-key search
    # each (`where_keys`); two IN lists would cross each other there. PostgreSQL takes the two
    # IN lists as arrays, planned cheaply whatever their length, where a row-value IN list of
    # pairs is planned anew for every length as an OR of one branch per pair (87 against 54 us
    # an ack at batches of 200 to 300).
    members = select(
        MessagingMember.conversation_id,
        MessagingMember.user_id,
        MessagingMember.delivered_seq,
        MessagingMember.read_seq,
        MessagingConversation.last_seq,
        MessagingConversation.kind,
        MessagingConversation.system,
    ).join(MessagingConversation, MessagingConversation.id == MessagingMember.conversation_id)
    if dialect == "sqlite":
        members = where_keys(
            members, [MessagingMember.conversation_id, MessagingMember.user_id], "pairs", dialect
        )
    else:
        members = members.where(
            MessagingMember.conversation_id.in_(bindparam("conversations", expanding=True)),
            MessagingMember.user_id.in_(bindparam("users", expanding=True)),
        )
    insert = (sqlite.insert if dialect == "sqlite" else postgresql.insert)(MessagingCursor)
    cursors = insert.on_conflict_do_update(
        index_elements=["device_id", "conversation_id"],
        set_={"acked_seq": _raised(MessagingCursor.acked_seq, insert.excluded.acked_seq)},
    )
    table = cast(Table, MessagingMember.__table__)
    seq: Any = bindparam("s")
    delivered = (
        update(table)
        .where(table.c.conversation_id == bindparam("c"), table.c.user_id == bindparam("u"))
        .values(delivered_seq=case((table.c.delivered_seq < seq, seq), else_=table.c.delivered_seq))
    )
    driver = None
    if dialect == "sqlite":
        sqlite_dialect = sqlite.dialect()
        driver = (
            _driver_sql(cursors, sqlite_dialect, ["device_id", "conversation_id", "acked_seq"]),
            # The delivered mark: s twice (the CASE's test and its value), then the keys.
            _driver_sql(delivered, sqlite_dialect, ["s", "s", "c", "u"]),
        )
    return _AckStatements(members=members, cursors=cursors, delivered=delivered, driver=driver)


async def ack_many(session: AsyncSession, system: str, acks: Sequence[Ack]) -> list[Event]:
    """`ack` for many devices at once, in the caller's transaction: what the gateway's ack
    batcher commits every few milliseconds instead of one transaction per ack frame.

    The devices are trusted to be live (the gateway authenticated them and closes a revoked
    device's sockets); acks of conversations the user is not (or no longer) a member of, or of
    another system, are dropped. Per (device, conversation) the highest seq wins, clamped to the
    conversation's last seq. Statements: one SELECT of the memberships (by primary key), one
    multi-row cursor upsert, one executemany UPDATE of the delivered marks that move, one SELECT
    of the authors they concern — O(acks) rows in four statements. Returns the receipt events
    (`_receipt_events`)."""
    if not acks:
        return []
    highest: dict[tuple[int, int], Ack] = {}
    for item in acks:
        key = (item.device_id, item.conversation_id)
        if key not in highest or highest[key].seq < item.seq:
            highest[key] = item
    pair_set = {(a.conversation_id, a.user_id) for a in highest.values()}
    pairs = sorted(pair_set)
    dialect = session.get_bind().dialect.name
    statements = _ack_statements(dialect)
    rows = await session.execute(
        statements.members,
        {"pairs": keys_parameter(pairs, dialect)}
        if dialect == "sqlite"
        else {
            "conversations": sorted({c for c, _ in pairs}),
            "users": sorted({u for _, u in pairs}),
        },
    )
    members: dict[tuple[int, int], tuple[int, int]] = {}
    read_marks: dict[tuple[int, int], int] = {}
    kinds: dict[int, str] = {}
    for r in rows:
        if r.system != system or (r.conversation_id, r.user_id) not in pair_set:
            continue  # another system's, or a cross of the two lists (PostgreSQL)
        members[(r.conversation_id, r.user_id)] = (r.delivered_seq, r.last_seq)
        read_marks[(r.conversation_id, r.user_id)] = r.read_seq
        kinds[r.conversation_id] = r.kind
    cursors: list[dict[str, int]] = []
    delivered: dict[tuple[int, int], int] = {}
    for item in highest.values():
        found = members.get((item.conversation_id, item.user_id))
        if found is None:
            continue
        acked = max(0, min(item.seq, found[1]))
        cursors.append(
            {
                "device_id": item.device_id,
                "conversation_id": item.conversation_id,
                "acked_seq": acked,
            }
        )
        key = (item.conversation_id, item.user_id)
        if acked > found[0] and acked > delivered.get(key, 0):
            delivered[key] = acked
    if cursors:
        cursors.sort(key=lambda c: (c["device_id"], c["conversation_id"]))  # lock order
        if statements.driver is not None:
            connection = await session.connection()
            await connection.exec_driver_sql(
                statements.driver[0],
                [(c["device_id"], c["conversation_id"], c["acked_seq"]) for c in cursors],
            )
        else:
            await session.execute(statements.cursors, cursors)
    if not delivered:
        return []
    # One executemany for every moved mark; still monotonic in SQL, so a racing mark wins if it
    # is higher. The events carry the values this batch computed (clients keep the max).
    moved_marks = sorted(delivered.items())
    if statements.driver is not None:
        connection = await session.connection()
        await connection.exec_driver_sql(
            statements.driver[1], [(s, s, c, u) for (c, u), s in moved_marks]
        )
    else:
        await session.execute(
            statements.delivered, [{"c": c, "u": u, "s": s} for (c, u), s in moved_marks]
        )
    moved = [
        _Moved(
            conversation_id,
            kinds[conversation_id],
            user_id,
            members[(conversation_id, user_id)][0],
            seq_,
            read_marks[(conversation_id, user_id)],
            read_moved=False,
        )
        for (conversation_id, user_id), seq_ in moved_marks
    ]
    return await _receipt_events(session, moved)


@dataclass(frozen=True)
class PendingConversation:
    """A conversation with entries the device has not acknowledged: send seqs in
    (`after_seq`, `last_seq`]."""

    conversation_id: int
    after_seq: int
    last_seq: int


async def pending_for_device(
    session: AsyncSession, system: str, user_id: int, device_id: int
) -> list[PendingConversation]:
    """The resume query: every conversation of the user whose last seq lies past the device's
    cursor (no cursor: past the user's joined/cleared seq). One join over the user's
    memberships: O(conversations of the user)."""
    await live_device(session, system, user_id, device_id)
    start = func.coalesce(
        MessagingCursor.acked_seq,
        case(
            (MessagingMember.joined_seq > MessagingMember.cleared_seq, MessagingMember.joined_seq),
            else_=MessagingMember.cleared_seq,
        ),
    )
    rows = await session.execute(
        select(MessagingConversation.id, start, MessagingConversation.last_seq)
        .join(MessagingMember, MessagingMember.conversation_id == MessagingConversation.id)
        .outerjoin(
            MessagingCursor,
            and_(
                MessagingCursor.conversation_id == MessagingConversation.id,
                MessagingCursor.device_id == device_id,
            ),
        )
        .where(
            MessagingMember.user_id == user_id,
            MessagingConversation.system == system,
            MessagingConversation.last_seq > start,
        )
        .order_by(MessagingConversation.id)
    )
    return [PendingConversation(cid, after, last) for cid, after, last in rows]


@dataclass(frozen=True)
class ReceiptState:
    """Where one message stands for its sender: "sent", "delivered" (to every other member) or
    "read" (by every other member), with counts for groups."""

    seq: int
    state: str
    recipients: int
    delivered: int
    read: int


async def receipt_state(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seq: int
) -> ReceiptState:
    """The delivery state of message `seq` for the member asking. One aggregate over the
    conversation's member rows: O(members) (watermarks, not one row per message and member)."""
    message = await message_at(session, system, user_id, conversation_id, seq)
    row = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(
                    func.sum(case((MessagingMember.delivered_seq >= seq, 1), else_=0)), 0
                ),
                func.coalesce(func.sum(case((MessagingMember.read_seq >= seq, 1), else_=0)), 0),
            ).where(
                MessagingMember.conversation_id == conversation_id,
                MessagingMember.user_id != message.sender_id,
                MessagingMember.joined_seq < seq,
            )
        )
    ).one()
    recipients, delivered, read = int(row[0]), int(row[1]), int(row[2])
    state = "sent"
    if recipients and read == recipients:
        state = "read"
    elif recipients and delivered == recipients:
        state = "delivered"
    return ReceiptState(seq, state, recipients, delivered, read)
