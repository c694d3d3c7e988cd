"""Instagram Direct's rules on top of the messaging engine (conversations of system "instagram").

- Threads are one-to-one (`open_thread`); two users one of whom blocked the other (the feed
  engine's blocks) can neither open a thread nor message each other in an existing one.
- A user messages people they follow or who follow them straight into the inbox; anyone else's
  first message opens a *message request* (direct_models.py) that the recipient accepts or
  declines, and the recipient cannot reply before accepting.
- A shared post (message kind "share", `data.post_id`) may only be sent by someone who sees the
  post, and is rendered (`render_shared_posts`) only to readers who may see it now.

Every send path of the engine (HTTP, the WebSocket, Instagram's share endpoint) goes through the
system's group-commit writer, so the rules live in one place: `guard_batch`, registered with
`Messenger.in_transaction`. It runs inside the batch's transaction, where the writer holds the
batch's conversation locks, so two first messages of one thread cannot both open it. A refusal
raises a Problem; the writer then rolls the batch back and retries its requests one at a time,
so only the refused message fails (and, being a rule rather than a fault, it is not logged as an
error). The cost is one rolled-back batch per refusal: refusals are rare next to messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.feed import audience, graph
from casebook.engines.feed import posts as feed_posts
from casebook.engines.messaging import service
from casebook.engines.messaging.content import CONTENT_KINDS
from casebook.engines.messaging.models import MessagingConversation, MessagingMember
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, Forbidden, InvalidInput, NotFound
from casebook.systems.instagram.direct_models import InstagramDirectThread
from casebook.systems.instagram.media import SLUG


class MessagingBlocked(Forbidden):
    type_ = "instagram/direct-blocked"
    title = "You cannot message this account"


class RequestNotAccepted(Conflict):
    type_ = "instagram/message-request-pending"
    title = "Accept the message request first"


class MessageRequestNotFound(NotFound):
    type_ = "instagram/message-request-not-found"
    title = "Message request not found"


class SharedPostNotFound(NotFound):
    type_ = "instagram/shared-post-not-found"
    title = "Post not found"


class DirectOnly(InvalidInput):
    type_ = "instagram/direct-only"
    title = "Instagram Direct threads are one-to-one"


async def connected(session: AsyncSession, a: int, b: int) -> bool:
    """Whether `a` follows `b` or `b` follows `a` (active follows only: a pending follow request
    to a private account does not count). Two primary-key reads."""
    return await graph.is_following(session, SLUG, a, b) or await graph.is_following(
        session, SLUG, b, a
    )


async def open_thread(
    session: AsyncSession, user_id: int, other_id: int
) -> tuple[MessagingConversation, bool, list[service.Event]]:
    """The direct thread of `user_id` and `other_id`, created if absent (the engine's
    `create_direct`: one per pair). Returns (conversation, created, bus events to publish after
    commit). Raises `MessagingBlocked` when either blocked the other, the engine's
    `UserNotFound` / `InvalidInput` for a missing user or oneself."""
    if other_id != user_id and await graph.is_blocked(session, SLUG, user_id, other_id):
        raise MessagingBlocked()
    return await service.create_direct(session, SLUG, user_id, other_id)


async def guard_batch(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> None:
    """The writer's in-transaction hook: apply Instagram's rules to a batch's new messages.

    For each new content message (edits and deletes of one's own messages stay allowed): refuse
    it when sender and recipient are blocked either way (`MessagingBlocked`), when it shares a
    post the sender cannot see (`SharedPostNotFound`), or when the sender is the recipient of a
    request they have not accepted (`RequestNotAccepted`); open the thread's request state at
    its first message; turn a declined request pending again on the requester's next message.

    Cost: two reads for the batch (members, thread states), then per message one block probe
    (plus two follow probes for a thread's first message, one audience check for a share).
    """
    fresh = [r for r in rows if r["kind"] in CONTENT_KINDS]
    if not fresh:
        return
    conversation_ids = {r["conversation_id"] for r in fresh}
    members: dict[int, list[int]] = {}
    for conversation_id, user_id in await session.execute(
        select(MessagingMember.conversation_id, MessagingMember.user_id).where(
            MessagingMember.conversation_id.in_(conversation_ids)
        )
    ):
        members.setdefault(conversation_id, []).append(user_id)
    threads = {
        t.conversation_id: t
        for t in await session.scalars(
            select(InstagramDirectThread).where(
                InstagramDirectThread.conversation_id.in_(conversation_ids)
            )
        )
    }
    now = utcnow()
    for row in fresh:
        sender, conversation_id = row["sender_id"], row["conversation_id"]
        others = [u for u in members.get(conversation_id, []) if u != sender]
        if len(others) != 1:
            raise DirectOnly()
        recipient = others[0]
        if await graph.is_blocked(session, SLUG, sender, recipient):
            raise MessagingBlocked()
        if row["kind"] == "share":
            post_id = int(row["data"]["post_id"])
            if await audience.visible_post(session, SLUG, sender, post_id) is None:
                raise SharedPostNotFound()
        thread = threads.get(conversation_id)
        if thread is None:
            accepted = await connected(session, sender, recipient)
            thread = InstagramDirectThread(
                conversation_id=conversation_id,
                sender_id=sender,
                recipient_id=recipient,
                status="accepted" if accepted else "pending",
                requested_at=now,
                decided_at=now if accepted else None,
            )
            session.add(thread)
            threads[conversation_id] = thread
        elif thread.status != "accepted":
            if sender == thread.recipient_id:
                raise RequestNotAccepted("Accept the message request before replying.")
            if thread.status == "declined":
                thread.status, thread.requested_at, thread.decided_at = "pending", now, None
    await session.flush()


async def _decide(
    session: AsyncSession, user_id: int, conversation_id: int, status: str, from_: Sequence[str]
) -> None:
    await service.membership(session, SLUG, conversation_id, user_id)  # 404 unless a member
    # One conditional UPDATE: a request answered twice at once is decided once.
    result = await session.execute(
        update(InstagramDirectThread)
        .where(
            InstagramDirectThread.conversation_id == conversation_id,
            InstagramDirectThread.recipient_id == user_id,
            InstagramDirectThread.status.in_(from_),
        )
        .values(status=status, decided_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if getattr(result, "rowcount", 0) != 1:
        raise MessageRequestNotFound()


async def accept_request(session: AsyncSession, user_id: int, conversation_id: int) -> None:
    """Accept the message request of `conversation_id` addressed to `user_id`: the thread moves
    to their inbox and they may reply. A declined request may be accepted later too. Raises
    `ConversationNotFound` (not a member), `MessageRequestNotFound` (no open request)."""
    await _decide(session, user_id, conversation_id, "accepted", ("pending", "declined"))


async def decline_request(session: AsyncSession, user_id: int, conversation_id: int) -> None:
    """Decline the pending message request: the thread leaves the recipient's lists and their
    copy of its history is cleared (the sender is not told). Raises as `accept_request`."""
    await _decide(session, user_id, conversation_id, "declined", ("pending",))
    await service.clear_history(session, SLUG, user_id, conversation_id)


@dataclass(frozen=True)
class ThreadRow:
    conversation: MessagingConversation
    member: MessagingMember
    thread: InstagramDirectThread | None
    peer_id: int | None


async def _with_peers(session: AsyncSession, user_id: int, rows: Sequence[Any]) -> list[ThreadRow]:
    ids = [conversation.id for conversation, _, _ in rows]
    peers: dict[int, int] = {}
    if ids:
        peers = {
            conversation_id: peer
            for conversation_id, peer in await session.execute(
                select(MessagingMember.conversation_id, MessagingMember.user_id).where(
                    MessagingMember.conversation_id.in_(ids), MessagingMember.user_id != user_id
                )
            )
        }
    return [ThreadRow(c, m, t, peers.get(c.id)) for c, m, t in rows]


def _threads_of(user_id: int) -> Any:
    return (
        select(MessagingConversation, MessagingMember, InstagramDirectThread)
        .join(MessagingMember, MessagingMember.conversation_id == MessagingConversation.id)
        .outerjoin(
            InstagramDirectThread,
            InstagramDirectThread.conversation_id == MessagingConversation.id,
        )
        .where(MessagingMember.user_id == user_id, MessagingConversation.system == SLUG)
    )


async def inbox(
    session: AsyncSession, user_id: int, *, before_id: int | None, limit: int
) -> list[ThreadRow]:
    """The user's inbox, newest thread first (keyset on the conversation id): accepted threads,
    threads they opened (whatever the recipient decided), and empty threads they created.
    Message requests to them are not here (`requests`). One index range scan plus one read of
    the peers: O(log n + limit)."""
    query = (
        _threads_of(user_id)
        .where(
            or_(
                InstagramDirectThread.status == "accepted",
                InstagramDirectThread.sender_id == user_id,
                and_(
                    InstagramDirectThread.conversation_id.is_(None),
                    MessagingConversation.created_by == user_id,
                ),
            )
        )
        .order_by(MessagingConversation.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(MessagingConversation.id < before_id)
    return await _with_peers(session, user_id, list(await session.execute(query)))


async def requests(
    session: AsyncSession, user_id: int, *, before_id: int | None, limit: int
) -> list[ThreadRow]:
    """Pending message requests addressed to the user, newest thread first. One range scan on
    (recipient_id, status, conversation_id): O(log n + limit)."""
    query = (
        _threads_of(user_id)
        .where(
            InstagramDirectThread.recipient_id == user_id,
            InstagramDirectThread.status == "pending",
        )
        .order_by(MessagingConversation.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        query = query.where(MessagingConversation.id < before_id)
    return await _with_peers(session, user_id, list(await session.execute(query)))


async def render_shared_posts(
    session: AsyncSession, viewer_id: int, views: Sequence[dict[str, Any]]
) -> None:
    """Give every "share" message view of `views` a `post` key: the post's view when
    `viewer_id` may see it now, else None (deleted, or an audience the viewer is not in — a
    private account they do not follow, a block). Three round trips for the page (posts,
    audience, hydration) whatever its number of shares; O(n)."""
    shares = [v for v in views if v["kind"] == "share"]
    wanted = list(dict.fromkeys(int(v["data"]["post_id"]) for v in shares if v["data"]))
    found = await feed_posts.posts_by_ids(session, SLUG, wanted)
    live = [p for p in found if p.deleted_at is None]
    visible = await audience.visible_posts(session, SLUG, viewer_id, live)
    rendered = {int(v["id"]): v for v in await feed_posts.hydrate(session, SLUG, visible)}
    for view in shares:
        data = view["data"]
        view["post"] = rendered.get(int(data["post_id"])) if data else None
