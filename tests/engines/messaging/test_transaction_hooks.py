"""The writer's in-transaction hooks (`Messenger.in_transaction`): they run inside the batch's
transaction after the rows are inserted, what they write commits or rolls back with the
messages, a hook failing on one request fails only that request, and their follow-ups run after
the COMMIT."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import MessagingConversation, MessagingMessage
from casebook.engines.messaging.runtime import AfterCommit, Messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import ChatUser, Conversation

pytestmark = pytest.mark.feature("instant-messenger", "messaging")


class HookFailed(RuntimeError):
    pass


async def test_hooks_write_in_the_messages_transaction_and_fail_only_their_request(
    platform: Platform,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    group = await conversation(alice, "group", [bob])
    cid = int(group["id"])
    seen_inside: list[int] = []
    committed_at_follow_up: list[int] = []

    async def hook(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> AfterCommit | None:
        mine = [row for row in rows if row["conversation_id"] == cid]
        if not mine:
            return None
        # Inside the transaction, after the INSERT: the session sees its own new rows.
        count = await session.scalar(
            select(func.count())
            .select_from(MessagingMessage)
            .where(MessagingMessage.id.in_([row["id"] for row in mine]))
        )
        seen_inside.append(int(count or 0))
        if any(row["body"] == "boom" for row in mine):
            # Written first, then the failure: the write must roll back with the message.
            await session.execute(
                update(MessagingConversation)
                .where(MessagingConversation.id == cid)
                .values(title="hooked boom")
            )
            raise HookFailed("this hook refuses 'boom'")
        last = mine[-1]
        await session.execute(
            update(MessagingConversation)
            .where(MessagingConversation.id == cid)
            .values(title=f"hooked {last['body']}")
        )
        ids = [row["id"] for row in mine]

        async def follow_up() -> None:
            # After the COMMIT: another session sees the messages.
            async with platform.db.session() as other:
                found = await other.scalar(
                    select(func.count())
                    .select_from(MessagingMessage)
                    .where(MessagingMessage.id.in_(ids))
                )
            committed_at_follow_up.append(int(found or 0))

        return follow_up

    engine_state.in_transaction(hook)
    try:
        results = await asyncio.gather(
            *(
                engine_state.writer.send(SendRequest(cid, alice.user_id, f"c{i}", body=body))
                for i, body in enumerate(["one", "two", "boom", "three", "four"])
            ),
            return_exceptions=True,
        )
    finally:
        engine_state.transaction_hooks.remove(hook)
    assert isinstance(results[2], HookFailed)
    sent = [r for r in results if not isinstance(r, BaseException)]
    assert len(sent) == 4
    assert sorted(r.message.seq for r in sent) == [1, 2, 3, 4]
    assert all(n > 0 for n in seen_inside)
    # Every committed message is seen once after its COMMIT; the failed batch ran no follow-up.
    # Follow-ups run after the callers are answered: wait for the last one.
    async with asyncio.timeout(5):
        while sum(committed_at_follow_up) < 4:  # noqa: ASYNC110 (follow-ups signal nothing)
            await asyncio.sleep(0.01)
    await asyncio.sleep(0.05)
    assert sum(committed_at_follow_up) == 4
    async with platform.db.session() as session:
        bodies = list(
            await session.scalars(
                select(MessagingMessage.body)
                .where(MessagingMessage.conversation_id == cid)
                .order_by(MessagingMessage.seq)
            )
        )
        title = await session.scalar(
            select(MessagingConversation.title).where(MessagingConversation.id == cid)
        )
    assert "boom" not in bodies and len(bodies) == 4
    assert title is not None and title.startswith("hooked ") and title != "hooked boom"
