"""Batched acknowledgements (`service.ack_many`, what the gateway's AckBatcher commits)."""

from __future__ import annotations

from sqlalchemy import select

from casebook.engines.messaging import service
from casebook.engines.messaging.models import MessagingCursor, MessagingMember
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import SYSTEM, ChatUser, Conversation, SendText


async def _cursor(platform: Platform, device_id: int, conversation_id: int) -> int | None:
    async with platform.db.session() as session:
        cursor = await session.get(MessagingCursor, (device_id, conversation_id))
        return None if cursor is None else cursor.acked_seq


async def test_many_acks_commit_together_highest_wins_and_strangers_are_dropped(
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", members=[bob])
    group_id = int(group["id"])
    for text in ("one", "two", "three"):
        assert (await send_text(alice, group["id"], text)).status_code in (200, 201)
    acks = [
        service.Ack(bob.user_id, bob.device_id, group_id, 1),
        service.Ack(bob.user_id, bob.device_id, group_id, 2),
        service.Ack(bob.user_id, bob.device_id, group_id, 1),  # late and lower: changes nothing
        service.Ack(alice.user_id, alice.device_id, group_id, 99),  # beyond the log: clamped to 3
        service.Ack(carol.user_id, carol.device_id, group_id, 3),  # not a member: dropped
    ]
    async with platform.db.session(write=True) as session:
        published = await service.ack_many(session, SYSTEM, acks)
    assert await _cursor(platform, bob.device_id, group_id) == 2
    assert await _cursor(platform, alice.device_id, group_id) == 3
    assert await _cursor(platform, carol.device_id, group_id) is None
    receipts = {event["user_id"]: event for _, _, event in published}
    assert receipts[bob.id]["delivered_seq"] == 2
    assert carol.id not in receipts
    async with platform.db.session() as session:
        rows = await session.execute(
            select(MessagingMember.user_id, MessagingMember.delivered_seq).where(
                MessagingMember.conversation_id == group_id
            )
        )
        marks = {user_id: seq for user_id, seq in rows}
    assert marks[bob.user_id] == 2
    # Cursors and marks never move back.
    async with platform.db.session(write=True) as session:
        again = await service.ack_many(
            session, SYSTEM, [service.Ack(bob.user_id, bob.device_id, group_id, 1)]
        )
    assert again == []
    assert await _cursor(platform, bob.device_id, group_id) == 2


async def test_acks_of_another_system_are_dropped(
    platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    group = await conversation(alice, "group", members=[bob])
    async with platform.db.session(write=True) as session:
        published = await service.ack_many(
            session, "telegram", [service.Ack(bob.user_id, bob.device_id, int(group["id"]), 0)]
        )
    assert published == []
    assert await _cursor(platform, bob.device_id, int(group["id"])) is None
