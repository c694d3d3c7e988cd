"""View counts of channel posts: each post counts each user once, exactly, under any
concurrency.

Recording a view of posts s1..sk is, in one transaction: `INSERT … ON CONFLICT DO NOTHING
RETURNING seq` of the (post, user) rows — the primary key decides which views are new, so two
racing requests of one user count once — then one upsert per post that was new, `views = views +
1` (an atomic increment, never read-modify-write). The counter thus always equals the number of
view rows. O(k) statements' work per request; reading the counts of k posts is one IN query on
the counters' primary key.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import service
from casebook.engines.messaging.errors import InvalidOperation
from casebook.engines.messaging.models import MessagingMessage
from casebook.platform.errors import InvalidInput
from casebook.systems.telegram.models import TelegramPostView, TelegramPostViewCount

MAX_POSTS_PER_REQUEST = 100
COUNTED_KINDS = ("text", "media", "sticker", "location", "contact")


def _dialect_insert(session: AsyncSession) -> type[postgresql.Insert] | type[sqlite.Insert]:
    return sqlite.Insert if session.get_bind().dialect.name == "sqlite" else postgresql.Insert


def _check(seqs: Sequence[int]) -> list[int]:
    unique = sorted(set(seqs))
    if not 1 <= len(unique) <= MAX_POSTS_PER_REQUEST:
        raise InvalidInput(f"Name 1 to {MAX_POSTS_PER_REQUEST} posts.")
    if unique[0] < 1:
        raise InvalidInput("Post seqs are positive.")
    return unique


async def record_views(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seqs: Sequence[int]
) -> dict[int, int]:
    """Count the caller's view of each visible post among `seqs` (once per user and post) and
    return the posts' counts. Raises ConversationNotFound (not a member), InvalidOperation (not a
    channel), InvalidInput (bad list). Posts the caller cannot see (before they joined, deleted,
    edit/delete events, missing) are not counted and not returned."""
    wanted = _check(seqs)
    conversation, member = await service.membership(session, system, conversation_id, user_id)
    if conversation.kind != "channel":
        raise InvalidOperation("Only channel posts have view counts.")
    floor = max(member.joined_seq, member.cleared_seq)
    visible = list(
        await session.scalars(
            select(MessagingMessage.seq).where(
                MessagingMessage.conversation_id == conversation_id,
                MessagingMessage.seq.in_(wanted),
                MessagingMessage.seq > floor,
                MessagingMessage.kind.in_(COUNTED_KINDS),
                MessagingMessage.deleted.is_(False),
            )
        )
    )
    if not visible:
        return {}
    insert = _dialect_insert(session)
    new = list(
        await session.scalars(
            insert(TelegramPostView)
            .values(
                [
                    {"conversation_id": conversation_id, "seq": seq, "user_id": user_id}
                    for seq in sorted(visible)
                ]
            )
            .on_conflict_do_nothing()
            .returning(TelegramPostView.seq)
        )
    )
    for seq in sorted(new):
        statement = insert(TelegramPostViewCount).values(
            conversation_id=conversation_id, seq=seq, views=1
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["conversation_id", "seq"],
                set_={"views": TelegramPostViewCount.views + 1},
            )
        )
    return await counts(session, conversation_id, visible)


async def counts(
    session: AsyncSession, conversation_id: int, seqs: Sequence[int]
) -> dict[int, int]:
    """Views of each of `seqs` (0 for a post nobody has seen). One primary-key IN query."""
    found = dict(
        (
            await session.execute(
                select(TelegramPostViewCount.seq, TelegramPostViewCount.views).where(
                    TelegramPostViewCount.conversation_id == conversation_id,
                    TelegramPostViewCount.seq.in_(list(seqs)),
                )
            )
        ).all()
    )
    return {seq: int(found.get(seq, 0)) for seq in sorted(seqs)}


async def read_counts(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seqs: Sequence[int]
) -> dict[int, int]:
    """Counts without counting a view (members only)."""
    wanted = _check(seqs)
    conversation, _member = await service.membership(session, system, conversation_id, user_id)
    if conversation.kind != "channel":
        raise InvalidOperation("Only channel posts have view counts.")
    return await counts(session, conversation_id, wanted)
