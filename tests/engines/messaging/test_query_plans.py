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

from datetime import timedelta

import pytest
from sqlalchemy import update

from casebook.engines.messaging import push, selfdestruct, service
from casebook.engines.messaging.models import MessagingMessage
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
