"""Presence: online / last seen from heartbeats with a TTL, told to the users who share a chat
(and to no one else), over the real socket and the platform cache."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from casebook.clients.messaging.ws import MessagingSocket, open_socket
from casebook.engines.messaging import gateway as gateway_module
from casebook.engines.messaging import presence
from casebook.engines.messaging.gateway import CloseCode
from casebook.engines.messaging.models import MessagingDevice
from casebook.engines.messaging.presence import Presence
from casebook.platform.context import Platform
from tests.engines.messaging.conftest import API, SYSTEM, ChatUser, Conversation

FEATURE = "instant-messenger"


def reconfigure(platform: Platform, **changes: Any) -> None:
    gw = gateway_module.gateway(platform, SYSTEM)
    gw.config = dataclasses.replace(gw.config, **changes)


async def connect(ws_url: str, user: ChatUser, device_id: int | None = None) -> MessagingSocket:
    socket = await open_socket(ws_url, token=user.token, device_id=device_id or user.device_id)
    await socket.next_event("resumed")
    return socket


@pytest.mark.feature(FEATURE, "presence")
async def test_a_contact_sees_someone_come_online_and_go_offline_with_last_seen(
    ws_url: str, platform: Platform, alice: ChatUser, bob: ChatUser, conversation: Conversation
) -> None:
    await conversation(alice, "direct", [bob])
    watcher = await connect(ws_url, alice)
    try:
        bob_socket = await connect(ws_url, bob)
        online = await watcher.next_event("presence")
        assert (online["user_id"], online["online"]) == (bob.id, True)
        assert await presence.device_is_online(platform, SYSTEM, bob.device_id)
        (state,) = await bob_socket.presence([alice.id])
        assert (state["user_id"], state["online"]) == (alice.id, True)
        await bob_socket.close()
        offline = await watcher.next_event("presence")
        assert (offline["user_id"], offline["online"]) == (bob.id, False)
        assert offline["last_seen"] is not None
        assert not await presence.device_is_online(platform, SYSTEM, bob.device_id)
        (later,) = await watcher.presence([bob.id])
        assert later == {key: offline[key] for key in ("user_id", "online", "last_seen")}
    finally:
        await watcher.close()


async def test_presence_is_not_shown_to_strangers(
    ws_url: str, alice: ChatUser, bob: ChatUser, carol: ChatUser, conversation: Conversation
) -> None:
    await conversation(alice, "direct", [bob])
    stranger = await connect(ws_url, carol)
    try:
        alice_socket = await connect(ws_url, alice)
        assert await stranger.presence([alice.id, bob.id]) == []
        (own,) = await stranger.presence([carol.id])
        assert own["online"] is True
        with pytest.raises(TimeoutError):
            await stranger.next_event("presence", within=0.2)
        await alice_socket.close()
    finally:
        await stranger.close()


async def test_a_user_stays_online_while_any_of_their_devices_is(
    client: httpx.AsyncClient,
    ws_url: str,
    platform: Platform,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    await conversation(alice, "direct", [bob])
    laptop = await client.post(f"{API}/devices", json={"name": "laptop"}, headers=bob.headers)
    assert laptop.status_code == 201, laptop.text
    laptop_id = int(laptop.json()["id"])
    phone = await connect(ws_url, bob)
    desk = await connect(ws_url, bob, laptop_id)
    watcher = await connect(ws_url, alice)
    try:
        await phone.close()
        (state,) = await watcher.presence([bob.id])
        assert state["online"] is True
        assert not await presence.device_is_online(platform, SYSTEM, bob.device_id)
        assert await presence.device_is_online(platform, SYSTEM, laptop_id)
        await desk.close()
        offline = await watcher.next_event("presence")
        assert (offline["user_id"], offline["online"]) == (bob.id, False)
    finally:
        await watcher.close()


@pytest.mark.feature(FEATURE, "presence")
async def test_presence_expires_without_heartbeats_and_last_seen_stays(
    platform: Platform, alice: ChatUser
) -> None:
    tracker = Presence(platform, SYSTEM, ttl=1.0, batch_delay=0.02)
    assert await tracker.beat(alice.user_id, alice.device_id) is True
    assert await tracker.beat(alice.user_id, alice.device_id) is False  # already online
    # Heartbeats' last-seen stamps are written in batches, within the batch delay.
    async with asyncio.timeout(0.8):
        while True:
            async with platform.db.session() as session:
                (state,) = await tracker.states(session, [alice.user_id])
            if state.last_seen is not None:
                break
            await asyncio.sleep(0.05)
    assert state.online
    await asyncio.sleep(1.1)
    assert not await presence.device_is_online(platform, SYSTEM, alice.device_id)
    async with platform.db.session() as session:
        (expired,) = await tracker.states(session, [alice.user_id])
        stored = await session.scalar(
            select(MessagingDevice.last_seen_at).where(MessagingDevice.id == alice.device_id)
        )
    assert not expired.online
    # Offline, last seen is the stored stamp; online it was the latest heartbeat (fresher than
    # the batched write): the two are the same moment to within the batch delay.
    assert stored is not None and state.last_seen is not None
    assert expired.last_seen == stored
    assert abs(stored - state.last_seen) < timedelta(seconds=1)
    assert await tracker.beat(alice.user_id, alice.device_id) is True  # back: a transition
    await tracker.stop()


async def test_a_silent_socket_is_closed_and_heartbeats_keep_one_open(
    ws_url: str, platform: Platform, alice: ChatUser, bob: ChatUser
) -> None:
    reconfigure(platform, presence_ttl=0.3, heartbeat_interval=0.05)
    silent = await open_socket(
        ws_url, token=alice.token, device_id=alice.device_id, heartbeat=False
    )
    beating = await open_socket(ws_url, token=bob.token, device_id=bob.device_id)
    try:
        closed = await silent.wait_closed(within=2)
        assert (closed.code, closed.reason) == (CloseCode.TIMEOUT, "no heartbeat")
        assert not await presence.device_is_online(platform, SYSTEM, alice.device_id)
        assert beating.closed is None
        assert (await beating.ping())["type"] == "pong"
    finally:
        await beating.close()


async def test_presence_over_http_shows_contacts_only_and_checks_input(
    client: httpx.AsyncClient,
    ws_url: str,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    conversation: Conversation,
) -> None:
    await conversation(alice, "direct", [bob])
    socket = await connect(ws_url, bob)
    try:
        seen = await client.get(
            f"{API}/presence", params={"user_ids": [bob.id, carol.id]}, headers=alice.headers
        )
        assert seen.status_code == 200, seen.text
        (state,) = seen.json()["users"]
        assert (state["user_id"], state["online"]) == (bob.id, True)
        hidden = await client.get(
            f"{API}/presence", params={"user_ids": [bob.id]}, headers=carol.headers
        )
        assert hidden.json() == {"users": []}
    finally:
        await socket.close()
    bad = await client.get(f"{API}/presence", params={"user_ids": ["x1"]}, headers=alice.headers)
    assert bad.status_code == 422
    assert bad.headers["content-type"].startswith("application/problem+json")
    anonymous = await client.get(f"{API}/presence", params={"user_ids": [bob.id]})
    assert anonymous.status_code == 401
