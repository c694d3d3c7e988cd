"""Instant Messenger's own read models over the messaging engine: the friends list, a user's
message feed, and one message by id. Everything else (conversations, sending, receipts, search,
push) is the engine's.

- Friends are mutual contacts: the relation a friend request creates when it is accepted (each
  lists the other). A one-sided contact entry (`PUT /contacts/{id}`) is not a friend.
- The feed is the seed's `GET /messages/get/<user_id>`: the newest messages of the user's own
  conversations. The seed's feed also took every message of the user's contacts and of the
  members of the user's groups, so it showed a user the private chats their friends had with
  other people; this one reads only conversations the user is a member of, after their
  `joined_seq` and `cleared_seq`, without messages they hid or that self-destructed.
- A message by id is visible to members of its conversation only; to anyone else it does not
  exist (404), so ids reveal nothing.

Every function takes the caller's session and `system`: rows of other systems are never read.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from casebook.engines.messaging import selfdestruct, service
from casebook.engines.messaging.content import CONTENT_KINDS
from casebook.engines.messaging.errors import ConversationNotFound, MessageNotFound
from casebook.engines.messaging.models import (
    MessagingContact,
    MessagingConversation,
    MessagingHidden,
    MessagingMember,
    MessagingMessage,
    MessagingProfile,
)


@dataclass(frozen=True)
class Friend:
    profile: MessagingProfile
    name: str
    """The owner's own name for the friend ("" when they gave none)."""
    tag: str


async def friends_of(
    session: AsyncSession, system: str, user_id: int, *, after: int | None, limit: int
) -> list[Friend]:
    """The user's mutual contacts by user id (keyset `after`), with their profiles.

    One join of the owner's contact rows (primary key range) with the reverse rows (primary key
    probes) and the profiles: O(log n + limit)."""
    mine = aliased(MessagingContact)
    theirs = aliased(MessagingContact)
    query = (
        select(mine, MessagingProfile)
        .join(
            theirs,
            and_(
                theirs.system == mine.system,
                theirs.owner_id == mine.contact_id,
                theirs.contact_id == mine.owner_id,
            ),
        )
        .join(
            MessagingProfile,
            and_(
                MessagingProfile.system == mine.system,
                MessagingProfile.user_id == mine.contact_id,
            ),
        )
        .where(mine.system == system, mine.owner_id == user_id, ~mine.blocked)
        .order_by(mine.contact_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(mine.contact_id > after)
    rows = await session.execute(query)
    return [Friend(profile, contact.name, contact.tag) for contact, profile in rows]


async def feed_of(
    session: AsyncSession, system: str, user_id: int, *, before_id: int | None, limit: int
) -> list[MessagingMessage]:
    """The newest content messages of the user's conversations, newest first by id (keyset
    `before_id`; ids grow with time).

    Only conversations the user is in, only entries after their joined/cleared marks, without
    hidden, deleted or self-destructed ones. The database walks the messages of the user's
    conversations from the newest (message id index) and probes the membership per row: the
    cost grows with how many messages of the user's conversations lie above the page, so a busy
    user's feed is cheap and a page deep in the past of a quiet one costs more."""
    hidden = select(MessagingHidden.message_id).where(
        MessagingHidden.user_id == user_id, MessagingHidden.message_id == MessagingMessage.id
    )
    query = (
        select(MessagingMessage)
        .join(
            MessagingMember,
            and_(
                MessagingMember.conversation_id == MessagingMessage.conversation_id,
                MessagingMember.user_id == user_id,
            ),
        )
        .join(MessagingConversation, MessagingConversation.id == MessagingMessage.conversation_id)
        .where(
            MessagingConversation.system == system,
            MessagingMessage.seq > MessagingMember.joined_seq,
            MessagingMessage.seq > MessagingMember.cleared_seq,
            # Edit and delete events change other entries; the feed shows the entries.
            MessagingMessage.kind.in_(sorted(CONTENT_KINDS)),
            ~MessagingMessage.deleted,
            selfdestruct.not_expired(),
            ~hidden.exists(),
        )
        .order_by(MessagingMessage.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(MessagingMessage.id < before_id)
    return list(await session.scalars(query))


async def message_by_id(
    session: AsyncSession, system: str, user_id: int, message_id: int
) -> tuple[MessagingConversation, MessagingMessage]:
    """Message `message_id` and its conversation, if the user may see it (member, after their
    joined/cleared marks, not hidden, not expired); MessageNotFound otherwise, the same answer
    for a missing message and someone else's. Three index probes."""
    found = (
        await session.execute(
            select(MessagingMessage.conversation_id, MessagingMessage.seq)
            .join(
                MessagingConversation,
                MessagingConversation.id == MessagingMessage.conversation_id,
            )
            .where(MessagingMessage.id == message_id, MessagingConversation.system == system)
        )
    ).one_or_none()
    if found is None:
        raise MessageNotFound(f"No message {message_id} among yours.")
    conversation_id, seq = found
    try:
        message = await service.message_at(session, system, user_id, conversation_id, seq)
        conversation, _ = await service.membership(session, system, conversation_id, user_id)
    except ConversationNotFound:
        raise MessageNotFound(f"No message {message_id} among yours.") from None
    return conversation, message
