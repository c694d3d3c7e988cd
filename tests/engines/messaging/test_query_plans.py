"""The hot paths' queries search by key on SQLite, never through every row of a system.

Without statistics SQLite takes any `system = ?` on an indexed column for a selective search
(casebook.platform.sqlite_plans now writes statistics that say otherwise): a query that named
both a system and a list of keys walked every conversation (or contact, or message) of the
system instead of looking the keys up. The ack batch, the push fan-out, the writer's block
check and the self-destruct sweep all did. This test runs each of them, records every statement
SQLite executes meanwhile, and checks each plan (tests/query_plans.py): no search constrained by
the system alone, no full scan of a messaging table.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update

from casebook.engines.messaging import push, selfdestruct, service, writer
from casebook.engines.messaging.models import (
    MessagingConversation,
    MessagingMember,
    MessagingMessage,
)
from casebook.engines.messaging.runtime import Messenger
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.engines.messaging.conftest import SYSTEM, ChatUser, Conversation, SendText
from tests.query_plans import bad_plans, recorded


async def test_hot_paths_search_by_key_not_by_system(
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    if platform.db.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL plans from the statistics autovacuum gathers")
    direct = await conversation(alice, "direct", members=[bob])
    group = await conversation(alice, "group", members=[bob, carol])
    with recorded(platform) as statements:
        for conversation_id, text in ((direct["id"], "hi bob"), (group["id"], "hi all")):
            sent = await send_text(alice, conversation_id, text)  # the writer's batch
            assert sent.status_code in (200, 201), sent.text
        acks = [
            service.Ack(bob.user_id, bob.device_id, int(direct["id"]), 1),
            service.Ack(bob.user_id, bob.device_id, int(group["id"]), 1),
            service.Ack(carol.user_id, carol.device_id, int(group["id"]), 1),
        ]
        async with platform.db.session(write=True) as session:
            receipts = await service.ack_many(session, SYSTEM, acks)
        assert {mark["user_id"] for _, _, event in receipts for mark in event["receipts"]} == {
            bob.id,
            carol.id,
        }
        notes = [
            push.notification(sent.json(), SYSTEM)
            for sent in [await send_text(bob, group["id"], "and back")]
        ]
        await push.fan_out(platform, SYSTEM, notes)
        async with platform.db.session(write=True) as session:
            await session.execute(
                update(MessagingMessage)
                .where(MessagingMessage.conversation_id == int(group["id"]))
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
            # The sweep of another system leaves this one's expired messages alone.
            assert await selfdestruct.erase_expired(session, "telegram") == 0
            assert await selfdestruct.erase_expired(session, SYSTEM) == 2
    assert await bad_plans(platform, statements, "messaging_") == []


async def _load_steps(platform: Platform, engine_state: Messenger, senders: int) -> int:
    """SQLite virtual-machine steps (in hundreds) of the writer's reads for a batch of one
    message from each of `senders` users, each to a group of its own with one other member."""
    base = 7_000_000 + senders * 1_000
    async with platform.db.session(write=True) as session:
        for i in range(senders):
            session.add(
                MessagingConversation(
                    id=base + i,
                    system=SYSTEM,
                    kind="group",
                    created_by=base + i,
                    member_count=2,
                    member_limit=10,
                )
            )
        await session.flush()
        for i in range(senders):
            for user_id, role in ((base + i, "owner"), (base + senders + i, "member")):
                session.add(MessagingMember(conversation_id=base + i, user_id=user_id, role=role))
    loop = asyncio.get_running_loop()
    batch = [
        writer._Pending(
            writer.SendRequest(conversation_id=base + i, sender_id=base + i, client_id=f"c{i}"),
            None,
            loop.create_future(),
        )
        for i in range(senders)
    ]
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    async with platform.db.session(write=True) as session:
        raw = await (await session.connection()).get_raw_connection()
        driver = raw.driver_connection
        await driver.set_progress_handler(count, 100)
        try:
            state = await engine_state.writer._load(session, batch)
        finally:
            await driver.set_progress_handler(None, 100)
    assert len(state.conversations) == len(state.members) == senders
    return steps


async def test_writer_batch_looks_each_sender_up_once(
    platform: Platform, engine_state: Messenger
) -> None:
    """The batch's memberships cost O(messages), not O(conversations x senders): joined to an
    IN list of the batch's senders, SQLite searched every sender in every conversation."""
    if platform.db.engine.dialect.name != "sqlite":
        pytest.skip("counts SQLite's virtual-machine steps")
    small = await _load_steps(platform, engine_state, 40)
    large = await _load_steps(platform, engine_state, 160)
    # 4x the messages: about 4x the steps when linear, 16x when every pair is searched.
    assert large < 7 * small, (small, large)
