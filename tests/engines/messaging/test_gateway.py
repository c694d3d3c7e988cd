"""The WebSocket gateway at /ws/instant-messenger, through a real uvicorn server and the
`casebook.clients.messaging.ws` client: hello and its refusals, resume from device cursors,
live delivery in order without loss or duplicates (also across reconnects, under concurrent
senders, with gaps filled from the database), send/ack/read/typing frames, error frames and
backpressure."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import update
from websockets.asyncio.client import connect as raw_connect
from websockets.exceptions import ConnectionClosed

from casebook.clients.messaging.ws import MessagingSocket, SocketClosed, SocketError, open_socket
from casebook.engines.messaging import events
from casebook.engines.messaging import gateway as gateway_module
from casebook.engines.messaging.gateway import CloseCode, Gateway
from casebook.engines.messaging.hub import Hub, HubClosed
from casebook.engines.messaging.models import MessagingDevice
from casebook.engines.messaging.runtime import Messenger
from casebook.engines.messaging.writer import SendRequest, message_event
from casebook.platform.bus import MemoryBus, RedisBus
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from tests.engines.messaging.conftest import (
    API,
    SYSTEM,
    ChatUser,
    Conversation,
    NewUser,
    SendText,
    cursor_of,
)
from tests.servers import kill_bus_subscribers

FEATURE = "instant-messenger"


def gateway_of(platform: Platform) -> Gateway:
    return gateway_module.gateway(platform, SYSTEM)


def reconfigure(platform: Platform, **changes: Any) -> None:
    gw = gateway_of(platform)
    gw.config = dataclasses.replace(gw.config, **changes)
    if "receipt_delay" in changes and gw.receipts is not None:
        gw.receipts.delay = changes["receipt_delay"]


async def connect(ws_url: str, user: ChatUser, **options: Any) -> MessagingSocket:
    return await open_socket(ws_url, token=user.token, device_id=user.device_id, **options)


async def messages_until_resumed(socket: MessagingSocket) -> list[dict[str, Any]]:
    """The message frames of the resume, up to the `resumed` marker."""
    received: list[dict[str, Any]] = []
    while True:
        event = await socket.next_event("message", "resumed")
        if event["type"] == "resumed":
            return received
        received.append(event)


async def collect(
    socket: MessagingSocket, count: int, within: float = 10.0
) -> list[dict[str, Any]]:
    """The next `count` message frames."""
    return [await socket.next_event("message", within=within) for _ in range(count)]


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait (up to 5 s) until `condition()` holds; for state the server changes on its own."""
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the condition did not come true within 5 s")


async def refused(ws_url: str, first_frame: dict[str, Any] | None, **headers: str) -> SocketClosed:
    """Open a socket, send `first_frame` (nothing when None); how the server closed it."""
    async with raw_connect(ws_url, proxy=None, additional_headers=headers or None) as raw:
        if first_frame is not None:
            await raw.send(orjson.dumps(first_frame).decode())
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(5):
                async for _ in raw:
                    pass
        close = raw.protocol.close_rcvd
        assert close is not None
        return SocketClosed(close.code, close.reason)


# Hello and authentication ----------------------------------------------------------------------


async def test_hello_with_a_token_answers_ready(ws_url: str, alice: ChatUser) -> None:
    socket = await connect(ws_url, alice)
    try:
        assert socket.ready["user_id"] == alice.id
        assert socket.ready["device_id"] == str(alice.device_id)
        assert socket.ready["heartbeat_interval"] < socket.ready["presence_ttl"]
        assert await messages_until_resumed(socket) == []
        assert (await socket.ping())["type"] == "pong"
    finally:
        await socket.close()


async def test_bad_hellos_are_refused_with_close_codes(
    ws_url: str, platform: Platform, alice: ChatUser, bob: ChatUser
) -> None:
    hello = {"type": "hello", "token": alice.token, "device_id": str(alice.device_id)}
    bad_token = await refused(ws_url, {**hello, "token": alice.token[:-4] + "AAAA"})
    assert bad_token.code == CloseCode.UNAUTHENTICATED
    not_mine = await refused(ws_url, {**hello, "device_id": str(bob.device_id)})
    assert (not_mine.code, not_mine.reason) == (CloseCode.FORBIDDEN, "not a live device of yours")
    not_hello = await refused(ws_url, {"type": "ping"})
    assert not_hello.code == CloseCode.BAD_HELLO
    no_device = await refused(ws_url, {"type": "hello", "token": alice.token})
    assert no_device.code == CloseCode.BAD_HELLO
    no_credential = await refused(ws_url, {"type": "hello", "device_id": str(alice.device_id)})
    assert no_credential.code == CloseCode.UNAUTHENTICATED
    reconfigure(platform, hello_timeout=0.1)
    silent = await refused(ws_url, None)
    assert silent.code == CloseCode.TIMEOUT


async def test_cookie_authenticates_only_from_the_sites_own_origin(
    ws_url: str, alice: ChatUser
) -> None:
    host = ws_url.split("/")[2]
    hello = {"type": "hello", "device_id": str(alice.device_id)}
    cookie = f"casebook_access={alice.token}"
    cross_site = await refused(ws_url, hello, Cookie=cookie, Origin="https://evil.example")
    assert cross_site.code == CloseCode.FORBIDDEN
    no_origin = await refused(ws_url, hello, Cookie=cookie)
    assert no_origin.code == CloseCode.FORBIDDEN
    socket = await open_socket(
        ws_url, cookie=alice.token, origin=f"http://{host}", device_id=alice.device_id
    )
    try:
        assert socket.ready["user_id"] == alice.id
    finally:
        await socket.close()


async def test_revoking_the_device_closes_its_socket(
    client: httpx.AsyncClient, ws_url: str, alice: ChatUser
) -> None:
    socket = await connect(ws_url, alice)
    await messages_until_resumed(socket)
    revoked = await client.delete(f"{API}/devices/{alice.device_id}", headers=alice.headers)
    assert revoked.status_code == 204, revoked.text
    closed = await socket.wait_closed()
    assert closed.code == CloseCode.FORBIDDEN
    again = await refused(
        ws_url, {"type": "hello", "token": alice.token, "device_id": str(alice.device_id)}
    )
    assert again.code == CloseCode.FORBIDDEN


# Resume and live delivery ----------------------------------------------------------------------


@pytest.mark.feature(FEATURE, "messaging")
async def test_offline_messages_arrive_on_connect_in_order_then_live_ones(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    reconfigure(platform, resume_page=2)  # the resume reads pages of 2: 1-2, 3-4, 5
    chat = await conversation(alice, "direct", [bob])
    for i in range(5):
        assert (await send_text(alice, chat["id"], f"offline {i}")).status_code == 201
    socket = await connect(ws_url, bob)
    try:
        resumed = await messages_until_resumed(socket)
        assert [e["seq"] for e in resumed] == [1, 2, 3, 4, 5]
        assert [e["message"]["body"] for e in resumed] == [f"offline {i}" for i in range(5)]
        assert resumed[0]["message"]["sender_id"] == alice.id
        assert resumed[0]["conversation_id"] == chat["id"]
        assert (await send_text(alice, chat["id"], "live")).status_code == 201
        live = await socket.next_event("message")
        assert (live["seq"], live["message"]["body"]) == (6, "live")
    finally:
        await socket.close()


async def test_send_over_the_socket_is_answered_with_its_seq_and_reaches_the_others(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "group", [bob])
    sender = await connect(ws_url, alice)
    other_tab = await connect(ws_url, alice)  # the same device, another socket
    receiver = await connect(ws_url, bob)
    try:
        for socket in (sender, other_tab, receiver):
            await messages_until_resumed(socket)
        sent = await sender.send_message(chat["id"], "hi bob", client_id="c-1")
        assert (sent["type"], sent["seq"], sent["duplicate"]) == ("sent", 1, False)
        retry = await sender.send_message(chat["id"], "hi bob", client_id="c-1")
        assert (retry["seq"], retry["duplicate"]) == (1, True)
        second = await sender.send_message(chat["id"], "second", client_id="c-2")
        assert second["seq"] == 2
        got = await collect(receiver, 2)
        assert [(e["seq"], e["message"]["body"]) for e in got] == [(1, "hi bob"), (2, "second")]
        # The sending socket has its entries from the answers, and is not sent them again …
        assert [(a["message"]["seq"], a["message"]["body"]) for a in (sent, retry, second)] == [
            (1, "hi bob"),
            (1, "hi bob"),
            (2, "second"),
        ]
        await receiver.send_message(chat["id"], "back", client_id="c-3")
        assert [e["seq"] for e in await collect(sender, 1)] == [3]
        # … while the device's other sockets (another tab) get every entry.
        assert [e["seq"] for e in await collect(other_tab, 3)] == [1, 2, 3]
    finally:
        await sender.close()
        await other_tab.close()
        await receiver.close()


async def test_an_ack_counts_only_what_the_socket_has_delivered(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "group", [bob])
    for i in range(3):
        await send_text(alice, chat["id"], f"m{i}")
    socket = await connect(ws_url, bob)
    try:
        assert [e["seq"] for e in await messages_until_resumed(socket)] == [1, 2, 3]
        [connection] = [c for c in gateway_of(platform).connections if c.user_id == bob.user_id]
        # As if entry 3 were still queued for this socket, and the client acked it early (a
        # `sent` answer, which carries its own entry, can overtake earlier entries).
        connection.sent_seq[int(chat["id"])] = 2
        await socket.ack(chat["id"], 3)
        assert await cursor_of(platform, bob.device_id, int(chat["id"])) == 2
        # The socket's own entries right after what it delivered count too: it has them from
        # its `sent` answers, even before their events pass through it (as if 3 were bob's).
        connection._echoes[int(chat["id"])] = {3}
        await socket.ack(chat["id"], 3)
        assert await cursor_of(platform, bob.device_id, int(chat["id"])) == 3
    finally:
        await socket.close()


async def test_ack_moves_the_cursor_and_a_reconnect_resumes_after_it(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation, send_text: SendText
) -> None:
    chat = await conversation(alice, "direct", [bob])
    for i in range(3):
        await send_text(alice, chat["id"], f"m{i}")
    socket = await connect(ws_url, bob)
    got = await messages_until_resumed(socket)
    assert [e["seq"] for e in got] == [1, 2, 3]
    await socket.ack(chat["id"], 2)
    await socket.close()
    for i in range(3, 5):
        await send_text(alice, chat["id"], f"m{i}")
    socket = await connect(ws_url, bob)
    try:
        again = await messages_until_resumed(socket)
        # 3 was delivered but never acknowledged: at least once, so it comes again.
        assert [e["seq"] for e in again] == [3, 4, 5]
        await socket.ack(chat["id"], 5)
    finally:
        await socket.close()
    socket = await connect(ws_url, bob)
    try:
        assert await messages_until_resumed(socket) == []
    finally:
        await socket.close()


@pytest.mark.feature(FEATURE, "messaging")
async def test_concurrent_senders_and_a_reconnect_lose_and_duplicate_nothing(
    ws_url: str,
    new_user: NewUser,
    conversation: Conversation,
) -> None:
    """Three members send 30 messages each, all at once over their own sockets, while the
    reader takes some, acknowledges, drops its connection and comes back: every seq arrives,
    in order, once per connection, and the union of both connections is the whole log."""
    owner, *senders = [await new_user() for _ in range(4)]
    reader = owner
    group = await conversation(owner, "group", senders)
    per_sender, total = 30, 30 * len(senders)
    sockets = [await connect(ws_url, s) for s in senders]
    first = await connect(ws_url, reader)
    await messages_until_resumed(first)

    async def send_all(socket: MessagingSocket, index: int) -> list[int]:
        return [
            (await socket.send_message(group["id"], f"{index}:{n}", client_id=f"{index}-{n}"))[
                "seq"
            ]
            for n in range(per_sender)
        ]

    senders_done = asyncio.gather(*(send_all(s, i) for i, s in enumerate(sockets)))
    before = await collect(first, total // 3)
    await first.ack(group["id"], before[-1]["seq"])
    await first.close()
    second = await connect(ws_url, reader)
    seqs_sent = await senders_done
    after = await messages_until_resumed(second)
    after += await collect(second, total - before[-1]["seq"] - len(after))
    try:
        all_sent = sorted(seq for seqs in seqs_sent for seq in seqs)
        assert all_sent == list(range(1, total + 1))
        first_seqs = [e["seq"] for e in before]
        second_seqs = [e["seq"] for e in after]
        assert first_seqs == list(range(1, len(first_seqs) + 1))
        assert second_seqs == list(range(first_seqs[-1] + 1, total + 1))
        bodies = {e["message"]["body"] for e in before + after}
        assert len(bodies) == total
        with pytest.raises(TimeoutError):
            await second.next_event("message", within=0.2)
    finally:
        await second.close()
        for socket in sockets:
            await socket.close()


async def test_a_gap_seen_live_is_filled_from_the_database(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """A second writer whose bus this process cannot hear (another node whose publish is late
    or lost) commits seq 2; the next event, seq 3, arrives live and the gateway sends 2 first;
    the late publish of 2 is then dropped."""
    chat = await conversation(alice, "direct", [bob])
    socket = await connect(ws_url, bob)
    deaf = Messenger(dataclasses.replace(platform, bus=MemoryBus(), state={}), SYSTEM)
    deaf.writer.start()
    try:
        await messages_until_resumed(socket)
        sender = await connect(ws_url, alice)
        await sender.send_message(chat["id"], "one")
        unheard = await deaf.writer.send(
            SendRequest(int(chat["id"]), alice.user_id, "unheard", body="two")
        )
        assert unheard.message.seq == 2
        await sender.send_message(chat["id"], "three")
        got = await collect(socket, 3)
        assert [(e["seq"], e["message"]["body"]) for e in got] == [
            (1, "one"),
            (2, "two"),
            (3, "three"),
        ]
        # The other node's publish of seq 2 arrives after all: it was sent already, so the
        # socket drops it (as it drops any seq it has sent), and the next one is 4.
        await events.publish_to_conversation(
            platform.bus, SYSTEM, int(chat["id"]), message_event(unheard.message, None)
        )
        await sender.send_message(chat["id"], "four")
        assert (await socket.next_event("message"))["seq"] == 4
        await sender.close()
    finally:
        await deaf.writer.stop()
        await socket.close()


async def test_joining_a_conversation_while_connected_starts_its_delivery(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation, send_text: SendText
) -> None:
    socket = await connect(ws_url, bob)
    try:
        await messages_until_resumed(socket)
        group = await conversation(alice, "group", [bob])
        joined = await socket.next_event("joined")
        assert joined["conversation_id"] == group["id"]
        assert (await send_text(alice, group["id"], "welcome")).status_code == 201
        message = await socket.next_event("message")
        assert (message["conversation_id"], message["seq"]) == (group["id"], 1)
    finally:
        await socket.close()


async def test_a_removed_member_stops_receiving_the_conversation_at_once(
    client: httpx.AsyncClient,
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    group = await conversation(alice, "group", [bob])
    socket = await connect(ws_url, bob)
    try:
        await messages_until_resumed(socket)
        removed = await client.delete(
            f"{API}/conversations/{group['id']}/members/{bob.id}", headers=alice.headers
        )
        assert removed.status_code == 204, removed.text
        left = await socket.next_event("left")
        assert left["conversation_id"] == group["id"]
        channel = events.conversation_channel(SYSTEM, int(group["id"]))
        await eventually(lambda: gateway_of(platform).hub.subscribers(channel) == 0)
        assert (await send_text(alice, group["id"], "after you left")).status_code == 201
        with pytest.raises(TimeoutError):
            await socket.next_event("message", within=0.2)
    finally:
        await socket.close()


# Isolation -------------------------------------------------------------------------------------


async def test_a_stranger_neither_receives_nor_acts_on_others_conversations(
    ws_url: str,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    stranger = await connect(ws_url, carol)
    try:
        await messages_until_resumed(stranger)
        await send_text(alice, chat["id"], "private")
        for frame in (
            {"type": "send", "conversation_id": chat["id"], "client_id": "x", "body": "hi"},
            {"type": "ack", "conversation_id": chat["id"], "seq": 1},
            {"type": "read", "conversation_id": chat["id"], "seq": 1},
            {"type": "typing", "conversation_id": chat["id"]},
        ):
            with pytest.raises(SocketError) as error:
                await stranger.request(frame)
            assert error.value.status == 404
            assert error.value.problem["type"] == "/problems/messaging/conversation-not-found"
        with pytest.raises(TimeoutError):
            await stranger.next_event("message", "typing", "receipts", within=0.2)
    finally:
        await stranger.close()


# Frames ----------------------------------------------------------------------------------------


async def test_bad_frames_get_error_frames_and_the_socket_stays_open(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    socket = await connect(ws_url, alice)
    try:
        await messages_until_resumed(socket)
        cases: list[tuple[dict[str, Any], str]] = [
            ({"type": "warp"}, "/problems/messaging/unknown-frame"),
            (
                {"type": "ack", "conversation_id": "abc", "seq": 1},
                "/problems/messaging/invalid-frame",
            ),
            (
                {"type": "ack", "conversation_id": chat["id"], "seq": -1},
                "/problems/messaging/invalid-frame",
            ),
            ({"type": "send", "conversation_id": chat["id"]}, "/problems/messaging/invalid-frame"),
            (
                {
                    "type": "send",
                    "conversation_id": chat["id"],
                    "client_id": "t",
                    "body": "x" * 5000,
                },
                "/problems/messaging/invalid-message",
            ),
            ({"type": "hello", "device_id": "1"}, "/problems/messaging/invalid-frame"),
        ]
        for frame, problem_type in cases:
            with pytest.raises(SocketError) as error:
                await socket.request(frame)
            assert error.value.problem["type"] == problem_type, frame
            assert 400 <= error.value.status < 500
        await socket.send_frame({"type": "ping"})  # no ref: the reply is an ordinary event
        assert (await socket.next_event("pong"))["type"] == "pong"
        await socket.connection.send("not json")
        error_frame = await socket.next_event("error")
        assert error_frame["problem"]["type"] == "/problems/messaging/invalid-frame"
        sent = await socket.send_message(chat["id"], "still works")
        assert sent["seq"] == 1
    finally:
        await socket.close()


async def test_read_frames_move_the_read_mark_and_tell_the_sender(
    client: httpx.AsyncClient,
    ws_url: str,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", [bob])
    sender = await connect(ws_url, alice)
    reader = await connect(ws_url, bob)
    try:
        await messages_until_resumed(sender)
        await messages_until_resumed(reader)
        sent = await sender.send_message(chat["id"], "read me")
        await reader.next_event("message")
        await reader.ack(chat["id"], sent["seq"])
        [delivered] = (await sender.next_event("receipts"))["receipts"]
        assert delivered == {
            "conversation_id": chat["id"],
            "user_id": bob.id,
            "delivered_seq": 1,
            "read_seq": 0,
        }
        await reader.mark_read(chat["id"], sent["seq"])
        [read] = (await sender.next_event("receipts"))["receipts"]
        assert (read["user_id"], read["read_seq"]) == (bob.id, 1)
        state = await client.get(f"{API}/conversations/{chat['id']}", headers=bob.headers)
        assert state.json()["me"]["read_seq"] == 1
    finally:
        await sender.close()
        await reader.close()


@pytest.mark.feature(FEATURE, "receipts")
async def test_the_receipts_of_a_groups_acks_reach_the_author_merged_in_one_frame(
    platform: Platform,
    ws_url: str,
    new_user: NewUser,
    conversation: Conversation,
) -> None:
    """Three members ack the author's message: one "receipts" frame carries the three marks
    (the outbox holds an author's receipts for `receipt_delay`), not one frame per ack."""
    reconfigure(platform, receipt_delay=2.0)  # room for three acks on a slow machine
    author, *members = [await new_user() for _ in range(4)]
    group = await conversation(author, "group", members)
    sender = await connect(ws_url, author)
    readers = [await connect(ws_url, member) for member in members]
    try:
        for socket in (sender, *readers):
            await messages_until_resumed(socket)
        sent = await sender.send_message(group["id"], "to all three")
        for reader in readers:
            await reader.next_event("message")
            await reader.ack(group["id"], sent["seq"])  # committed when it returns
        frame = await sender.next_event("receipts")
        assert sorted(frame["receipts"], key=lambda mark: int(mark["user_id"])) == [
            {
                "conversation_id": group["id"],
                "user_id": member.id,
                "delivered_seq": sent["seq"],
                "read_seq": 0,
            }
            for member in sorted(members, key=lambda member: member.user_id)
        ]
        with pytest.raises(TimeoutError):
            await sender.next_event("receipts", within=0.3)
    finally:
        for socket in (sender, *readers):
            await socket.close()


@pytest.mark.feature(FEATURE, "presence")
async def test_typing_reaches_the_others_once_per_interval_and_never_oneself(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    typist = await connect(ws_url, alice)
    watcher = await connect(ws_url, bob)
    try:
        await messages_until_resumed(typist)
        await messages_until_resumed(watcher)
        await typist.typing(chat["id"])
        await typist.typing(chat["id"])  # within typing_interval: not published again
        event = await watcher.next_event("typing")
        assert (event["conversation_id"], event["user_id"]) == (chat["id"], alice.id)
        assert event["expires_at"] > 0
        with pytest.raises(TimeoutError):
            await watcher.next_event("typing", within=0.2)
        with pytest.raises(TimeoutError):
            await typist.next_event("typing", within=0.1)
    finally:
        await typist.close()
        await watcher.close()


async def test_a_typing_event_that_expired_on_the_way_is_not_shown(
    ws_url: str, platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    watcher = await connect(ws_url, bob)
    try:
        await messages_until_resumed(watcher)
        now_ms = int(time.time() * 1000)
        for expires_at in (now_ms - 1, now_ms + 60_000):
            await events.publish_to_conversation(
                platform.bus,
                SYSTEM,
                int(chat["id"]),
                {
                    "type": "typing",
                    "conversation_id": chat["id"],
                    "user_id": alice.id,
                    "expires_at": expires_at,
                },
            )
        shown = await watcher.next_event("typing")
        assert shown["expires_at"] == now_ms + 60_000
    finally:
        await watcher.close()


async def test_channel_subscribers_cannot_type_or_post(
    ws_url: str, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    channel = await conversation(alice, "channel", [bob])
    subscriber = await connect(ws_url, bob)
    try:
        await messages_until_resumed(subscriber)
        with pytest.raises(SocketError) as typing:
            await subscriber.typing(channel["id"])
        assert typing.value.status == 403
        with pytest.raises(SocketError) as posting:
            await subscriber.send_message(channel["id"], "me too")
        assert posting.value.status == 403
    finally:
        await subscriber.close()


# Backpressure ----------------------------------------------------------------------------------


async def test_a_socket_that_falls_behind_is_closed_and_resumes_from_its_cursor(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """Bob's socket cannot be written for a while (its write lock is held, as when the
    network stalls) while more events arrive than its buffer holds: it is closed with 4429,
    and on reconnect everything comes from his cursor."""
    chat = await conversation(alice, "direct", [bob])
    reconfigure(platform, queue_size=3)
    slow = await connect(ws_url, bob)
    await messages_until_resumed(slow)
    (connection,) = [c for c in gateway_of(platform).connections if c.user_id == bob.user_id]
    sender = await connect(ws_url, alice)
    try:
        async with connection._write_lock:
            for n in range(5):
                await sender.send_message(chat["id"], f"burst {n}")
            assert connection.too_slow is not None
        closed = await slow.wait_closed()
        assert closed.code == CloseCode.TOO_SLOW
        again = await connect(ws_url, bob)
        resumed = await messages_until_resumed(again)
        assert [e["seq"] for e in resumed] == [1, 2, 3, 4, 5]
        await again.close()
    finally:
        await sender.close()


async def test_live_events_are_written_at_once_and_queue_in_order_while_the_socket_is_paused(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """Under uvicorn a live entry is written from inside the hub's offer: afterwards no task
    of the socket waits for the next event. While its transport is paused for flow control the
    events queue behind a drainer, and they arrive once it resumes, in seq order, none lost or
    doubled; then events are written at once again."""
    chat = await conversation(alice, "direct", [bob])
    receiver = await connect(ws_url, bob)
    await messages_until_resumed(receiver)
    (connection,) = [c for c in gateway_of(platform).connections if c.user_id == bob.user_id]
    assert connection._direct is not None and connection._pushed is not None
    sender = await connect(ws_url, alice)
    try:
        await sender.send_message(chat["id"], "first")
        assert [e["seq"] for e in await collect(receiver, 1)] == [1]
        await eventually(lambda: connection._drainer is None and not connection.queue)
        protocol: Any = getattr(connection._raw_send, "__self__", None)
        protocol.writable.clear()  # what uvicorn does when the transport's buffer is full
        for n in range(3):
            await sender.send_message(chat["id"], f"paused {n}")
        # The first is in the drainer's hands, waiting to be written (on Redis the events may
        # arrive after the sends' answers).
        await eventually(lambda: connection._drainer is not None and len(connection.queue) == 2)
        protocol.writable.set()
        assert [e["seq"] for e in await collect(receiver, 3)] == [2, 3, 4]
        await sender.send_message(chat["id"], "last")
        assert [e["seq"] for e in await collect(receiver, 1)] == [5]
        await eventually(lambda: connection._drainer is None and not connection.queue)
        assert connection.sent_seq[int(chat["id"])] == 5
    finally:
        await sender.close()
        await receiver.close()


async def _raw_session(ws_url: str, user: ChatUser) -> Any:
    """A raw socket past hello and resume (frames as sent, answers as they come)."""
    raw = await raw_connect(ws_url, proxy=None)
    hello = {"type": "hello", "token": user.token, "device_id": str(user.device_id)}
    await raw.send(orjson.dumps(hello).decode())
    async with asyncio.timeout(5):
        while orjson.loads(await raw.recv())["type"] != "resumed":
            pass
    return raw


async def test_frames_sent_back_to_back_are_answered_in_order_and_reading_resumes(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """Under uvicorn a socket's frames are pushed to the gateway as they arrive. Frames behind
    one still being answered wait their turn; past `INBOX_PAUSE` of them reading pauses, and
    resumes once they are answered. Every frame is answered, in the order sent."""
    chat = await conversation(alice, "group", [bob])
    raw = await _raw_session(ws_url, alice)
    (connection,) = [c for c in gateway_of(platform).connections if c.user_id == alice.user_id]
    pushed = connection._pushed
    assert pushed is not None
    count = gateway_module.INBOX_PAUSE + 16
    try:
        async with connection._write_lock:  # the first answer cannot be written yet
            for n in range(count):
                frame = {
                    "type": "send",
                    "conversation_id": chat["id"],
                    "client_id": f"b{n}",
                    "body": f"back to back {n}",
                    "ref": f"r{n}",
                }
                await raw.send(orjson.dumps(frame).decode())
            await eventually(lambda: len(connection._inbox) >= gateway_module.INBOX_PAUSE)
            assert pushed.paused
        answers = []
        async with asyncio.timeout(10):
            while len(answers) < count:
                answers.append(orjson.loads(await raw.recv()))
        assert [a["ref"] for a in answers] == [f"r{n}" for n in range(count)]
        assert [a["seq"] for a in answers] == list(range(1, count + 1))
        assert not pushed.paused and connection._handler is None and not connection._inbox
    finally:
        await raw.close()


async def test_acks_without_a_ref_are_counted_against_the_frame_rate(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
    send_text: SendText,
) -> None:
    """The acks a socket takes at once (no answer wanted) count against its frame rate like
    every other frame: beyond it they are refused, each with a 429 error frame."""
    chat = await conversation(alice, "direct", [bob])
    assert (await send_text(bob, chat["id"], "one")).status_code == 201
    reconfigure(platform, frame_rate=RateLimit(rate=0.1, burst=2))
    raw = await _raw_session(ws_url, alice)
    try:
        for _ in range(6):
            ack = {"type": "ack", "conversation_id": chat["id"], "seq": 1}
            await raw.send(orjson.dumps(ack).decode())
        errors = []
        async with asyncio.timeout(5):
            while len(errors) < 3:
                frame = orjson.loads(await raw.recv())
                if frame["type"] == "error":
                    errors.append(frame["problem"]["status"])
        assert errors == [429, 429, 429]
    finally:
        await raw.close()


async def test_shutdown_closes_sockets_with_going_away(
    ws_url: str, platform: Platform, alice: ChatUser
) -> None:
    socket = await connect(ws_url, alice)
    await messages_until_resumed(socket)
    await gateway_of(platform).stop()
    closed = await socket.wait_closed()
    assert closed.code == CloseCode.GOING_AWAY
    assert gateway_of(platform).hub.channel_count == 0


# The hub ---------------------------------------------------------------------------------------


class Recorder:
    """A hub subscriber that keeps what it is offered (stands for a socket)."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []
        self.lost: list[str] = []
        self.arrived = asyncio.Event()

    def offer(self, channel: str, event: dict[str, Any], text: str) -> None:
        assert orjson.loads(text) == event
        self.events.append(event)
        self.arrived.set()

    def fell_behind(self, channel: str) -> None:
        self.lost.append(channel)
        self.arrived.set()

    async def wait(self, count: int) -> None:
        async with asyncio.timeout(5):
            while len(self.events) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def test_the_hub_holds_one_bus_subscription_per_channel_while_anyone_watches(
    platform: Platform,
) -> None:
    hub = Hub(platform.bus, SYSTEM)
    first, second = Recorder(), Recorder()
    channel = events.conversation_channel(SYSTEM, 42)
    try:
        await hub.watch(first, channel)
        await hub.watch(second, channel)
        await hub.watch(second, channel)  # idempotent
        assert (hub.channel_count, hub.subscribers(channel)) == (1, 2)
        await platform.bus.publish(channel, events.encode({"type": "receipt", "n": 1}))
        await first.wait(1)
        await second.wait(1)
        hub.unwatch(first, channel)
        assert (hub.channel_count, hub.subscribers(channel)) == (1, 1)
        await platform.bus.publish(channel, events.encode({"type": "receipt", "n": 2}))
        await second.wait(2)
        assert [e["n"] for e in first.events] == [1]
        hub.detach(second)
        assert hub.channel_count == 0
        await asyncio.sleep(0)
        await platform.bus.publish(channel, events.encode({"type": "receipt", "n": 3}))
        await asyncio.sleep(0.05)
        assert [e["n"] for e in second.events] == [1, 2]
    finally:
        await hub.stop()
    with pytest.raises(HubClosed):
        await hub.watch(first, channel)


async def test_the_hub_offers_each_event_as_it_is_published_without_a_buffer() -> None:
    """The hub listens on the bus: on the memory bus every event is offered inside `publish`,
    so a burst larger than any bus buffer reaches the subscriber whole and in order."""
    bus = MemoryBus(queue_size=2)
    hub = Hub(bus, SYSTEM)
    watcher = Recorder()
    channel = events.conversation_channel(SYSTEM, 7)
    try:
        await hub.watch(watcher, channel)
        for n in range(5):  # no await yields here: a buffer of 2 would overflow
            await bus.publish(channel, events.encode({"type": "receipt", "n": n}))
        assert [e["n"] for e in watcher.events] == [0, 1, 2, 3, 4]
        assert watcher.lost == []
    finally:
        await hub.stop()
        await bus.close()


async def test_the_hub_tells_subscribers_when_the_redis_bus_lost_events(redis_url: str) -> None:
    """The Redis connection drops: once the channel is subscribed again, every local subscriber
    hears that events may have been lost (and resumes from the log), then live events flow."""
    bus = RedisBus.from_url(redis_url)
    hub = Hub(bus, SYSTEM)
    watcher = Recorder()
    channel = events.conversation_channel(SYSTEM, 8)
    try:
        await hub.watch(watcher, channel)
        assert await kill_bus_subscribers(bus) == 1
        async with asyncio.timeout(5):
            while not watcher.lost:
                watcher.arrived.clear()
                await watcher.arrived.wait()
        assert watcher.lost == [channel]
        await bus.publish(channel, events.encode({"type": "receipt", "n": 99}))
        await watcher.wait(1)
        assert watcher.events[-1]["n"] == 99
    finally:
        await hub.stop()
        await bus.close()


async def test_sockets_share_the_hubs_subscription_and_release_it_on_close(
    ws_url: str, platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    chat = await conversation(alice, "direct", [bob])
    hub = gateway_of(platform).hub
    channel = events.conversation_channel(SYSTEM, int(chat["id"]))
    first, second = await connect(ws_url, alice), await connect(ws_url, bob)
    assert hub.subscribers(channel) == 2
    await first.close()
    await eventually(lambda: hub.subscribers(channel) == 1)
    await second.close()
    await eventually(lambda: hub.channel_count == 0)


async def test_a_socket_whose_events_were_lost_catches_up_from_the_database(
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    """When the hub reports lost events of a conversation, the socket sends what the log
    holds past what it sent, in order."""
    chat = await conversation(alice, "direct", [bob])
    socket = await connect(ws_url, bob)
    deaf = Messenger(dataclasses.replace(platform, bus=MemoryBus(), state={}), SYSTEM)
    deaf.writer.start()
    try:
        await messages_until_resumed(socket)
        for n in range(3):
            await deaf.writer.send(
                SendRequest(int(chat["id"]), alice.user_id, f"lost-{n}", body=f"lost {n}")
            )
        (connection,) = [c for c in gateway_of(platform).connections if c.user_id == bob.user_id]
        connection.fell_behind(events.conversation_channel(SYSTEM, int(chat["id"])))
        got = await collect(socket, 3)
        assert [(e["seq"], e["message"]["body"]) for e in got] == [
            (1, "lost 0"),
            (2, "lost 1"),
            (3, "lost 2"),
        ]
    finally:
        await deaf.writer.stop()
        await socket.close()


# End-to-end envelopes --------------------------------------------------------------------------


async def test_each_device_gets_only_its_own_envelope_live_and_on_resume(
    client: httpx.AsyncClient,
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    laptop = await client.post(f"{API}/devices", json={"name": "laptop"}, headers=bob.headers)
    assert laptop.status_code == 201, laptop.text
    bob_laptop = int(laptop.json()["id"])
    # The devices take part in E2E chats once they have an identity key (the keys API's job;
    # the gateway only routes envelopes, so the key itself is set directly here).
    async with platform.db.session() as session:
        await session.execute(
            update(MessagingDevice)
            .where(MessagingDevice.id.in_([alice.device_id, bob.device_id, bob_laptop]))
            .values(identity_key=os.urandom(32))
        )
    secret = await conversation(alice, "direct", [bob], e2e=True)
    sender = await connect(ws_url, alice)
    phone = await connect(ws_url, bob)
    try:
        await messages_until_resumed(sender)
        await messages_until_resumed(phone)
        for_phone, for_laptop = os.urandom(40), os.urandom(40)
        sent = await sender.send_message(
            secret["id"],
            kind="encrypted",
            envelopes={
                str(bob.device_id): base64.b64encode(for_phone).decode(),
                str(bob_laptop): base64.b64encode(for_laptop).decode(),
            },
        )
        live = await phone.next_event("message")
        assert live["seq"] == sent["seq"]
        assert base64.b64decode(live["message"]["ciphertext"]) == for_phone
        assert live["message"]["body"] is None
        assert "envelopes" not in live
        # The sending device has no envelope of its own message: it gets nothing.
        with pytest.raises(TimeoutError):
            await sender.next_event("message", within=0.2)
        desk = await open_socket(ws_url, token=bob.token, device_id=bob_laptop)
        try:
            (resumed,) = await messages_until_resumed(desk)
            assert base64.b64decode(resumed["message"]["ciphertext"]) == for_laptop
        finally:
            await desk.close()
    finally:
        await sender.close()
        await phone.close()


async def test_a_flood_of_frames_is_refused_with_429_and_an_oversized_frame_closes(
    ws_url: str, platform: Platform, alice: ChatUser
) -> None:
    reconfigure(platform, frame_rate=RateLimit(rate=1.0, burst=2), max_frame_bytes=2000)
    socket = await connect(ws_url, alice)
    try:
        await messages_until_resumed(socket)
        outcomes = []
        for _ in range(6):
            try:
                outcomes.append((await socket.ping())["type"])
            except SocketError as error:
                outcomes.append(error.status)
        assert outcomes.count("pong") <= 3
        assert 429 in outcomes
        await socket.send_frame({"type": "ping", "pad": "x" * 3000})
        closed = await socket.wait_closed()
        assert closed.code == CloseCode.TOO_BIG
    finally:
        await socket.close()
