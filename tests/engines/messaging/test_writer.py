"""The group-commit writer under real concurrency: gap-free, duplicate-free seqs, one bus
publish per event, retries folded (also inside one batch), a bad request failing alone, and two
writers (as two processes would) on one database."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from sqlalchemy import select

from casebook.engines.messaging.errors import (
    ConversationNotFound,
    InvalidMessage,
    NotAllowed,
    WriterClosed,
)
from casebook.engines.messaging.events import conversation_channel
from casebook.engines.messaging.models import MessagingConversation, MessagingMessage
from casebook.engines.messaging.runtime import MessagingConfig, Messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.context import Platform
from casebook.platform.db import Database
from tests.engines.messaging.conftest import SYSTEM, ChatUser, Conversation, bus_events

pytestmark = pytest.mark.feature("instant-messenger", "messaging")


async def stored_seqs(platform: Platform, conversation_id: int) -> list[int]:
    async with platform.db.session() as session:
        rows = await session.scalars(
            select(MessagingMessage.seq)
            .where(MessagingMessage.conversation_id == conversation_id)
            .order_by(MessagingMessage.seq)
        )
        return list(rows)


async def test_concurrent_senders_get_gap_free_unique_seqs_and_one_publish_each(
    platform: Platform,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    group = await conversation(alice, "group", [bob, carol])
    cid = int(group["id"])
    senders = [alice, bob, carol]
    async with bus_events(platform, conversation_channel(SYSTEM, cid)) as events:
        results = await asyncio.gather(
            *(
                engine_state.writer.send(
                    SendRequest(cid, senders[i % 3].user_id, f"c{i}", body=f"message {i}")
                )
                for i in range(60)
            )
        )
    seqs = sorted(r.message.seq for r in results)
    assert seqs == list(range(1, 61))
    assert not any(r.duplicate for r in results)
    assert await stored_seqs(platform, cid) == list(range(1, 61))
    assert [e["seq"] for e in events] == list(range(1, 61))
    assert all(e["type"] == "message" for e in events)
    # Group commit: 60 messages took fewer transactions than messages.
    assert engine_state.writer.batches < 60
    async with platform.db.session() as session:
        last = await session.scalar(
            select(MessagingConversation.last_seq).where(MessagingConversation.id == cid)
        )
    assert last == 60


async def test_retries_with_one_client_id_store_one_message_even_in_one_batch(
    platform: Platform,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = int(chat["id"])
    async with bus_events(platform, conversation_channel(SYSTEM, cid)) as events:
        results = await asyncio.gather(
            *(
                engine_state.writer.send(SendRequest(cid, alice.user_id, "same", body="once"))
                for _ in range(10)
            )
        )
    assert {r.message.seq for r in results} == {1}
    assert {r.message.id for r in results} == {results[0].message.id}
    assert sum(not r.duplicate for r in results) == 1
    assert len(events) == 1
    # A later retry (a new batch) gets the stored message back too.
    again = await engine_state.writer.send(SendRequest(cid, alice.user_id, "same", body="once"))
    assert again.duplicate and again.message.id == results[0].message.id
    # The same client id from another sender is another message.
    other = await engine_state.writer.send(SendRequest(cid, bob.user_id, "same", body="mine"))
    assert not other.duplicate and other.message.seq == 2
    assert await stored_seqs(platform, cid) == [1, 2]


async def test_a_bad_request_fails_alone_and_takes_no_seq(
    platform: Platform,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    channel = await conversation(alice, "channel", [bob])
    cid, channel_id = int(chat["id"]), int(channel["id"])
    outcomes = await asyncio.gather(
        engine_state.writer.send(SendRequest(cid, alice.user_id, "a", body="ok 1")),
        engine_state.writer.send(SendRequest(cid, carol.user_id, "b", body="not a member")),
        engine_state.writer.send(SendRequest(channel_id, bob.user_id, "c", body="subscriber")),
        engine_state.writer.send(SendRequest(cid + 1, alice.user_id, "d", body="no such chat")),
        engine_state.writer.send(SendRequest(cid, bob.user_id, "e", body="ok 2")),
        return_exceptions=True,
    )
    assert isinstance(outcomes[1], ConversationNotFound)
    assert isinstance(outcomes[2], NotAllowed)
    assert isinstance(outcomes[3], ConversationNotFound)
    ok = [o for o in outcomes if not isinstance(o, BaseException)]
    assert sorted(o.message.seq for o in ok) == [1, 2]
    assert await stored_seqs(platform, cid) == [1, 2]
    assert await stored_seqs(platform, channel_id) == []


async def test_invalid_content_is_refused_before_queueing(
    engine_state: Messenger, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = int(chat["id"])
    too_long = "x" * (engine_state.config.max_text_length + 1)
    for request in (
        SendRequest(cid, alice.user_id, "a", body=too_long),
        SendRequest(cid, alice.user_id, "b", body="   "),
        SendRequest(cid, alice.user_id, "c", kind="sticker", data={"pack": "p"}),
        SendRequest(
            cid, alice.user_id, "d", kind="location", data={"latitude": 91, "longitude": 0}
        ),
        SendRequest(cid, alice.user_id, "", body="empty client id"),
        SendRequest(cid, alice.user_id, "e", kind="system", body="not a client kind"),
        SendRequest(cid, alice.user_id, "f", kind="encrypted", body="plain", envelopes={1: b"x"}),
    ):
        with pytest.raises(InvalidMessage):
            await engine_state.writer.send(request)
    assert engine_state.writer.batches == 0
    # Well-formed, but this conversation is not end-to-end encrypted: refused by the writer.
    with pytest.raises(InvalidMessage):
        await engine_state.writer.send(
            SendRequest(cid, alice.user_id, "h", kind="encrypted", envelopes={1: b"x"})
        )
    exact = await engine_state.writer.send(
        SendRequest(cid, alice.user_id, "g", body="y" * engine_state.config.max_text_length)
    )
    assert exact.message.seq == 1


async def test_two_writers_on_one_database_interleave_without_gaps(
    platform: Platform,
    engine_state: Messenger,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """A second writer with its own connection pool stands in for a second process: the
    conversation row lock (PostgreSQL) or the database write lock (SQLite) orders them."""
    chat = await conversation(alice, "direct", [bob])
    cid = int(chat["id"])
    other_db = Database(platform.settings.resolved_database_url)
    other_platform = dataclasses.replace(platform, db=other_db, state={})
    other = Messenger(other_platform, SYSTEM, MessagingConfig())
    other.writer.start()
    try:
        writers = [engine_state.writer, other.writer]
        # Warm both pools, so the writers' transactions really overlap below.
        warm = [
            w.send(SendRequest(cid, bob.user_id, f"w{i}", body="w")) for i, w in enumerate(writers)
        ]
        results = list(await asyncio.gather(*warm))
        for round_ in range(4):
            results += await asyncio.gather(
                *(
                    writers[i % 2].send(
                        SendRequest(cid, alice.user_id, f"m{round_}-{i}", body=str(i))
                    )
                    for i in range(10)
                )
            )
    finally:
        await other.writer.stop()
        await other_db.dispose()
    assert sorted(r.message.seq for r in results) == list(range(1, 43))
    # Ordered by the lock, not rescued by the unique (conversation, seq) index and a retry.
    assert engine_state.writer.failed_batches == other.writer.failed_batches == 0
    assert engine_state.writer.batches + other.writer.batches < 42
    assert await stored_seqs(platform, cid) == list(range(1, 43))


async def test_stop_drains_the_queue_then_refuses(
    platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    cid = int(chat["id"])
    writer = Messenger(platform, SYSTEM, MessagingConfig()).writer
    writer.start()
    pending = [
        asyncio.create_task(writer.send(SendRequest(cid, alice.user_id, f"s{i}", body="x")))
        for i in range(10)
    ]
    await asyncio.sleep(0)
    await writer.stop()
    results = await asyncio.gather(*pending)
    assert sorted(r.message.seq for r in results) == list(range(1, 11))
    with pytest.raises(WriterClosed):
        await writer.send(SendRequest(cid, alice.user_id, "late", body="x"))
