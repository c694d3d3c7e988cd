"""Telegram's media sharing (compressed variants), groups up to the configured member limit, and
push notifications to offline users, through /api/telegram (and /ws/telegram)."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from PIL import Image

from casebook.clients.messaging.ws import connect
from casebook.engines.messaging import attachments, push
from casebook.engines.messaging.runtime import messenger
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED
from casebook.systems.telegram import MESSAGING, SLUG
from tests.engines.messaging.push_service import PushService, Subscriber
from tests.servers import serve_in_loop
from tests.systems.telegram.conftest import API, NewUser, Say, TgUser
from tests.systems.telegram.test_cloud_chats import device, direct_chat, history

WAIT = 10.0


def photo(width: int, height: int) -> bytes:
    """A JPEG with real content (noise), so compression has work to do."""
    image = Image.effect_noise((width, height), 64).convert("RGB")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


@pytest.mark.feature("telegram", "media-sharing")
async def test_a_photo_is_shared_compressed_with_a_thumbnail_and_only_chat_members_fetch_it(
    client: httpx.AsyncClient, platform: Platform, alice: TgUser, bob: TgUser, new_user: NewUser
) -> None:
    original = photo(2400, 1800)
    uploaded = await client.post(
        f"{API}/attachments",
        params={"kind": "image"},
        files={"file": ("holiday.jpg", original, "application/octet-stream")},
        headers=alice.headers,
    )
    assert uploaded.status_code == 201, uploaded.text
    attachment_id = uploaded.json()["id"]
    job = await platform.jobs.get(f"{attachments.variants_job(SLUG)}:{attachment_id}")
    assert job is not None
    async with asyncio.timeout(WAIT):
        await platform.jobs.wait(job.id)
    info = (await client.get(f"{API}/attachments/{attachment_id}", headers=alice.headers)).json()
    assert info["status"] == "ready" and (info["width"], info["height"]) == (2400, 1800)

    chat_id = await direct_chat(client, alice, bob)
    sent = await client.post(
        f"{API}/conversations/{chat_id}/messages",
        json={
            "client_id": secrets.token_hex(6),
            "kind": "media",
            "body": "The view from the hotel",
            "data": {"attachments": [attachment_id]},
        },
        headers=alice.headers,
    )
    assert sent.status_code == 201, sent.text
    [message] = await history(client, bob, chat_id)
    assert message["data"]["attachments"] == [attachment_id]

    # Bob gets the compressed photo: at most 1280 px and far fewer bytes than the original.
    compressed = await client.get(info["variants"]["compressed"]["url"], headers=bob.headers)
    assert compressed.status_code == 200
    with Image.open(io.BytesIO(compressed.content)) as image:
        assert max(image.size) == 1280
    assert len(compressed.content) < len(original) / 2
    thumbnail = await client.get(info["variants"]["thumbnail"]["url"], headers=bob.headers)
    with Image.open(io.BytesIO(thumbnail.content)) as image:
        assert max(image.size) == 320
    # Someone outside the chat cannot fetch it.
    mallory = await new_user()
    stolen = await client.get(info["variants"]["compressed"]["url"], headers=mallory.headers)
    assert stolen.status_code == 404
    # Only the uploader may send it.
    reused = await client.post(
        f"{API}/conversations/{chat_id}/messages",
        json={"client_id": "x1", "kind": "media", "data": {"attachments": [attachment_id]}},
        headers=bob.headers,
    )
    assert reused.status_code == 422


@pytest.mark.feature("telegram", "group-chats")
async def test_groups_take_members_up_to_the_limit_exactly_under_a_race(
    client: httpx.AsyncClient, platform: Platform, alice: TgUser, new_user: NewUser, say: Say
) -> None:
    # Telegram runs with 200,000-member groups. Filling one here would take 200,000 accounts,
    # so the race is run on a group made while the limit is configured to 5: the same code
    # path (an atomic `member_count < member_limit` increment), with the limit stored on the
    # group at creation.
    state = messenger(platform, SLUG)
    assert state.config.group_member_limit == MESSAGING.group_member_limit == 200_000
    big = await client.post(
        f"{API}/conversations", json={"kind": "group", "title": "Big"}, headers=alice.headers
    )
    assert big.json()["member_limit"] == 200_000

    state.config = dataclasses.replace(state.config, group_member_limit=5)
    try:
        created = await client.post(
            f"{API}/conversations",
            json={"kind": "group", "title": "Book club"},
            headers=alice.headers,
        )
    finally:
        state.config = MESSAGING
    assert created.status_code == 201, created.text
    group = created.json()
    assert group["member_limit"] == 5
    link = await client.post(f"{API}/conversations/{group['id']}/join-link", headers=alice.headers)
    token = link.json()["token"]
    people = await asyncio.gather(*(new_user() for _ in range(8)))
    joins = await asyncio.gather(
        *(client.post(f"{API}/join/{token}", headers=p.headers) for p in people)
    )
    statuses = sorted(r.status_code for r in joins)
    assert statuses == [200] * 4 + [409] * 4, statuses
    assert all(r.json()["type"].endswith("member-limit") for r in joins if r.status_code == 409)
    members = await client.get(f"{API}/conversations/{group['id']}/members", headers=alice.headers)
    assert len(members.json()["items"]) == 5
    detail = await client.get(f"{API}/conversations/{group['id']}", headers=alice.headers)
    assert detail.json()["member_count"] == 5

    # Group messages reach every member, and only members.
    joined = [p for p, r in zip(people, joins, strict=True) if r.status_code == 200]
    outsider = next(p for p, r in zip(people, joins, strict=True) if r.status_code == 409)
    await say(joined[0], group["id"], "hello, book club")
    for member in [alice, *joined]:
        assert [m["body"] for m in await history(client, member, group["id"])] == [
            "hello, book club"
        ]
    peek = await client.get(f"{API}/conversations/{group['id']}/messages", headers=outsider.headers)
    assert peek.status_code == 404


@pytest.fixture
async def push_service(platform: Platform) -> AsyncIterator[PushService]:
    push.configure_push(platform, SLUG, allow_insecure_endpoints=True)
    async with PushService() as service:
        yield service


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + f"/ws/{SLUG}"


async def _subscribe(
    client: httpx.AsyncClient, service: PushService, user: TgUser, device_id: str
) -> Subscriber:
    key = (await client.get(f"{API}/push/vapid-public-key")).json()["public_key"]
    subscriber = service.subscribe(key)
    response = await client.put(
        f"{API}/devices/{device_id}/push", json=subscriber.subscription, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return subscriber


async def _push_jobs_done(platform: Platform, fanouts: int) -> None:
    """Wait until `fanouts` fan-out jobs were queued (the writer's commit callback queues one
    per committed batch, just after the sender got its answer), then until all push jobs ran."""
    async with asyncio.timeout(WAIT):
        while True:
            jobs = await platform.jobs.list_jobs(limit=10_000)
            if sum(job.name == push.fanout_job(SLUG) for job in jobs) >= fanouts:
                break
            await asyncio.sleep(0.01)
        for name in (push.fanout_job(SLUG), push.send_job(SLUG)):
            for job in await platform.jobs.list_jobs(limit=10_000):
                if job.name == name and job.status not in FINISHED:
                    await platform.jobs.wait(job.id)


@pytest.mark.feature("telegram", "push-notifications")
async def test_offline_users_get_a_web_push_online_and_muted_ones_do_not(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    ws_url: str,
    alice: TgUser,
    bob: TgUser,
    say: Say,
) -> None:
    chat_id = await direct_chat(client, alice, bob)
    bobs_phone = await device(client, bob, "phone")
    alices_phone = await device(client, alice, "phone")
    bob_push = await _subscribe(client, push_service, bob, bobs_phone)
    alice_push = await _subscribe(client, push_service, alice, alices_phone)

    offline = await say(alice, chat_id, "Are you coming tonight?")
    async with asyncio.timeout(WAIT):
        [delivery] = await push_service.wait_for(bob_push, 1)
    payload: dict[str, Any] = delivery.payload
    assert payload["system"] == SLUG and payload["conversation_id"] == chat_id
    assert payload["seq"] == offline["seq"] and payload["sender_id"] == alice.id
    assert payload["preview"] == "Are you coming tonight?"

    # While Bob's phone is connected it gets the message on the socket instead of a push.
    async with connect(ws_url, token=bob.token, device_id=bobs_phone) as socket:
        online = await say(alice, chat_id, "I see you are online")
        async with asyncio.timeout(WAIT):
            while True:
                event = await socket.next_event("message")
                if event["seq"] == online["seq"]:
                    break
        await _push_jobs_done(platform, 2)
    assert len(bob_push.deliveries) == 1

    # Muted: no push even offline.
    muted = await client.put(
        f"{API}/conversations/{chat_id}/mute", json={"muted": True}, headers=bob.headers
    )
    assert muted.status_code == 200, muted.text
    await say(alice, chat_id, "muted one")
    await _push_jobs_done(platform, 3)
    assert len(bob_push.deliveries) == 1
    # The sender never gets a push for her own messages.
    assert alice_push.deliveries == []
    # Nobody can subscribe someone else's device.
    stolen = await client.put(
        f"{API}/devices/{bobs_phone}/push",
        json=push_service.subscribe(None).subscription,
        headers=alice.headers,
    )
    assert stolen.status_code == 404
