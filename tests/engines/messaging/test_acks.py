"""Batched acknowledgements (`service.ack_many`, what the gateway's AckBatcher commits)."""

from __future__ import annotations

from sqlalchemy import select

from casebook.engines.messaging import service
from casebook.engines.messaging.models import MessagingMember
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import (
    SYSTEM,
    ChatUser,
    Conversation,
    SendText,
    cursor_of,
)


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
    assert await cursor_of(platform, bob.device_id, group_id) == 2
    assert await cursor_of(platform, alice.device_id, group_id) == 3
    assert await cursor_of(platform, carol.device_id, group_id) is None
    receipts = {mark["user_id"]: mark for _, _, event in published for mark in event["receipts"]}
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
    assert await cursor_of(platform, bob.device_id, group_id) == 2


async def test_acks_of_another_system_are_dropped(
    platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    group = await conversation(alice, "group", members=[bob])
    async with platform.db.session(write=True) as session:
        published = await service.ack_many(
            session, "telegram", [service.Ack(bob.user_id, bob.device_id, int(group["id"]), 0)]
        )
    assert published == []
    assert await cursor_of(platform, bob.device_id, int(group["id"])) is None


async def test_a_receipt_goes_to_the_authors_it_concerns_not_to_every_member(
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", members=[bob, carol])
    group_id = int(group["id"])
    for author, text in ((alice, "one"), (alice, "two"), (carol, "three")):
        assert (await send_text(author, group["id"], text)).status_code in (200, 201)

    async def ack(user: ChatUser, seq: int) -> list[service.Event]:
        async with platform.db.session(write=True) as session:
            return await service.ack_many(
                session, SYSTEM, [service.Ack(user.user_id, user.device_id, group_id, seq)]
            )

    # Bob has alice's entries: she is told, carol (no entry of hers moved) and bob are not.
    assert [(to, key) for to, key, _ in await ack(bob, 2)] == [("u", alice.user_id)]
    # Then carol's: only carol; the event carries the absolute marks.
    [(to, key, event)] = await ack(bob, 3)
    assert (to, key) == ("u", carol.user_id)
    [mark] = event["receipts"]
    assert (mark["user_id"], mark["delivered_seq"], mark["read_seq"]) == (bob.id, 3, 0)
    # Carol's delivery of alice's entries (and of her own): alice only, never carol herself.
    assert [(to, key) for to, key, _ in await ack(carol, 3)] == [("u", alice.user_id)]
    # Reading also tells the reader's own devices (their unread counts), and every author.
    async with platform.db.session(write=True) as session:
        read = await service.mark(session, SYSTEM, bob.user_id, group_id, read_seq=3)
    assert sorted(key for _, key, _ in read) == sorted([alice.user_id, bob.user_id, carol.user_id])
    assert {mark["read_seq"] for _, _, event in read for mark in event["receipts"]} == {3}


async def test_a_channel_readers_marks_reach_only_their_own_devices(
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    channel = await conversation(alice, "channel", members=[bob])
    channel_id = int(channel["id"])
    assert (await send_text(alice, channel["id"], "news")).status_code in (200, 201)
    async with platform.db.session(write=True) as session:
        delivered = await service.ack_many(
            session, SYSTEM, [service.Ack(bob.user_id, bob.device_id, channel_id, 1)]
        )
    assert delivered == []  # the author of a channel sees view counts, not each reader's ticks
    async with platform.db.session(write=True) as session:
        read = await service.mark(session, SYSTEM, bob.user_id, channel_id, read_seq=1)
    assert [(to, key) for to, key, _ in read] == [("u", bob.user_id)]
