"""Viber's push notifications through /api/viber: Web Push (VAPID, aes128gcm) to offline
devices for new messages and for incoming (then missed) calls, delivered to a real local push
service that checks the VAPID JWT and decrypts each push (tests/engines/messaging/
push_service.py)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator

import httpx
import pytest

from casebook.engines.messaging import presence, push
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED
from tests.engines.messaging.push_service import PushService, Subscriber
from tests.systems.viber.conftest import API, ViberUser

SLUG = "viber"
FEATURE = pytest.mark.feature("viber", "push-notifications")


@pytest.fixture
async def push_service(platform: Platform) -> AsyncIterator[PushService]:
    push.configure_push(platform, SLUG, allow_insecure_endpoints=True)
    async with PushService() as service:
        yield service


async def subscribe(client: httpx.AsyncClient, service: PushService, user: ViberUser) -> Subscriber:
    key = (await client.get(f"{API}/push/vapid-public-key")).json()["public_key"]
    subscriber = service.subscribe(key)
    response = await client.put(
        f"{API}/devices/{user.device_id}/push", json=subscriber.subscription, headers=user.headers
    )
    assert response.status_code == 200, response.text
    return subscriber


async def push_jobs_done(platform: Platform) -> None:
    """Wait until every push job of Viber queued so far has finished."""
    async with asyncio.timeout(10):
        for name in (push.fanout_job(SLUG), push.send_job(SLUG)):
            for job in await platform.jobs.list_jobs(limit=10_000):
                if job.name == name and job.status not in FINISHED:
                    await platform.jobs.wait(job.id)


@FEATURE
async def test_an_offline_callee_gets_an_incoming_call_push_then_a_missed_one(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ViberUser,
    bob: ViberUser,
) -> None:
    bobs_phone = await subscribe(client, push_service, bob)
    alices_phone = await subscribe(client, push_service, alice)
    call = await client.post(
        f"{API}/calls",
        json={"callee_id": bob.id, "kind": "video", "device_id": str(alice.device_id)},
        headers=alice.headers,
    )
    assert call.status_code == 201
    call_id = call.json()["id"]
    async with asyncio.timeout(10):
        [incoming] = await push_service.wait_for(bobs_phone, 1)
    assert incoming.payload == {
        "type": "call",
        "event": "incoming",
        "system": SLUG,
        "call_id": call_id,
        "caller_id": alice.id,
        "kind": "video",
        "started_at": call.json()["started_at"],
    }
    assert incoming.urgency == "high" and incoming.topic == f"call{call_id}"
    assert incoming.claims["aud"] == push_service.origin

    # Alice gives up: Bob's phone learns the call was missed, under the same topic (a push
    # service still holding the "incoming" one replaces it).
    await client.post(f"{API}/calls/{call_id}/end", headers=alice.headers)
    async with asyncio.timeout(10):
        _, missed = await push_service.wait_for(bobs_phone, 2)
    assert missed.payload["event"] == "missed" and missed.topic == incoming.topic
    await push_jobs_done(platform)
    assert alices_phone.deliveries == []  # the caller is never pushed about her own call
    assert push_service.refused == []


@FEATURE
async def test_an_online_callee_gets_no_call_push(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ViberUser,
    bob: ViberUser,
) -> None:
    bobs_phone = await subscribe(client, push_service, bob)
    await presence.Presence(platform, SLUG).beat(bob.user_id, bob.device_id)  # Bob is online
    ringing = await client.post(
        f"{API}/calls",
        json={"callee_id": bob.id, "device_id": str(alice.device_id)},
        headers=alice.headers,
    )
    await client.post(f"{API}/calls/{ringing.json()['id']}/decline", headers=bob.headers)
    # The control: once Bob is away, the next call does reach his phone.
    await presence.Presence(platform, SLUG).went_away(bob.user_id, bob.device_id)
    second = await client.post(
        f"{API}/calls",
        json={"callee_id": bob.id, "device_id": str(alice.device_id)},
        headers=alice.headers,
    )
    async with asyncio.timeout(10):
        [delivery] = await push_service.wait_for(bobs_phone, 1)
    assert delivery.payload["call_id"] == second.json()["id"]
    await push_jobs_done(platform)
    assert len(bobs_phone.deliveries) == 1


@FEATURE
async def test_offline_group_members_get_a_push_for_a_new_message(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ViberUser,
    bob: ViberUser,
    carol: ViberUser,
) -> None:
    group = await client.post(
        f"{API}/conversations",
        json={"kind": "group", "title": "Hike", "members": [bob.id, carol.id]},
        headers=alice.headers,
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    bobs_phone = await subscribe(client, push_service, bob)
    carols_phone = await subscribe(client, push_service, carol)
    muted = await client.put(
        f"{API}/conversations/{group_id}/mute", json={"muted": True}, headers=carol.headers
    )
    assert muted.status_code == 200
    sent = await client.post(
        f"{API}/conversations/{group_id}/messages",
        json={"client_id": secrets.token_hex(6), "kind": "text", "body": "Saturday, 8 am 🥾"},
        headers=alice.headers,
    )
    assert sent.status_code in (200, 201), sent.text
    async with asyncio.timeout(10):
        [delivery] = await push_service.wait_for(bobs_phone, 1)
    assert delivery.payload["type"] == "message" and delivery.payload["system"] == SLUG
    assert delivery.payload["conversation_id"] == group_id
    assert delivery.payload["sender_id"] == alice.id
    assert delivery.payload["preview"] == "Saturday, 8 am 🥾"
    assert delivery.topic == f"c{group_id}" and delivery.urgency == "normal"
    await push_jobs_done(platform)
    assert carols_phone.deliveries == []  # she muted the group
