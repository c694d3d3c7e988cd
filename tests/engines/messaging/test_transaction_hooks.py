"""The writer's in-transaction hooks (`Messenger.in_transaction`): they run inside the batch's
transaction after the rows are inserted, what they write commits or rolls back with the
messages, a hook failing on one request fails only that request, and their follow-ups run after
the COMMIT."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import pytest
import structlog.testing
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging.models import MessagingConversation, MessagingMessage
from casebook.engines.messaging.runtime import AfterCommit, Messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.context import Platform
from casebook.platform.errors import Forbidden
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


class Refused(Forbidden):
    type_ = "test/refused"
    title = "Refused by the test's rule"


@pytest.mark.parametrize("error", [Refused("no"), HookFailed("broken")])
async def test_a_hook_refusal_is_answered_quietly_and_a_failure_is_logged(
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    error: Exception,
) -> None:
    """A Problem from a hook is a rule refusing a request (Instagram's message requests): the
    caller gets it and the log stays free of errors; any other exception is a bug: logged."""
    group = await conversation(alice, "group", [bob])
    cid = int(group["id"])

    async def hook(session: AsyncSession, rows: Sequence[dict[str, Any]]) -> AfterCommit | None:
        if any(row["conversation_id"] == cid and row["body"] == "refuse" for row in rows):
            raise error
        return None

    engine_state.in_transaction(hook)
    try:
        with structlog.testing.capture_logs() as logs:
            results = await asyncio.gather(
                *(
                    engine_state.writer.send(SendRequest(cid, alice.user_id, f"q{i}", body=body))
                    for i, body in enumerate(["ok", "refuse", "fine"])
                ),
                return_exceptions=True,
            )
    finally:
        engine_state.transaction_hooks.remove(hook)
    assert results[1] is error
    assert not isinstance(results[0], BaseException) and not isinstance(results[2], BaseException)
    errors = [entry for entry in logs if entry["log_level"] in ("error", "warning")]
    if isinstance(error, Refused):
        assert errors == []
    else:
        assert any(entry["event"] == "message write failed" for entry in errors)
