"""`POST /notifications/register` / `unregister`: a device's Web Push subscription, delivered to
a real local push service that checks the VAPID signature and decrypts each push."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import select

from casebook.engines.messaging import push
from casebook.engines.messaging.models import MessagingDevice
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED
from tests.engines.messaging.push_service import PushService
from tests.systems.instant_messenger.conftest import API, ImUser, Send, assert_problem

SYSTEM = "instant-messenger"
FEATURE = pytest.mark.feature(SYSTEM, "push-notifications")
WAIT = 10.0


@pytest.fixture
async def push_service(platform: Platform) -> AsyncIterator[PushService]:
    push.configure_push(platform, SYSTEM, allow_insecure_endpoints=True)
    async with PushService() as service:
        yield service


async def _vapid_key(client: httpx.AsyncClient) -> str:
    key: str = (await client.get(f"{API}/push/vapid-public-key")).json()["public_key"]
    return key


async def _push_jobs_done(platform: Platform) -> None:
    """Wait until every push job queued so far has finished (fan-outs first: they queue sends)."""
    async with asyncio.timeout(WAIT):
        for name in (push.fanout_job(SYSTEM), push.send_job(SYSTEM)):
            for job in await platform.jobs.list_jobs(limit=10_000):
                if job.name == name and job.status not in FINISHED:
                    await platform.jobs.wait(job.id)


async def _subscriptions(platform: Platform, user: ImUser) -> list[object]:
    async with platform.db.session() as session:
        rows = await session.scalars(
            select(MessagingDevice.push_subscription).where(
                MessagingDevice.system == SYSTEM, MessagingDevice.user_id == user.user_id
            )
        )
        return [r for r in rows if r is not None]


@FEATURE
async def test_a_registered_device_is_pushed_new_messages_until_unregistered(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ImUser,
    bob: ImUser,
    send: Send,
) -> None:
    phone = push_service.subscribe(await _vapid_key(client))
    registered = await client.post(
        f"{API}/notifications/register",
        json={"device_name": "Bob's phone", "subscription": phone.subscription},
        headers=bob.headers,
    )
    assert registered.status_code == 200, registered.text
    device_id = registered.json()["device_id"]
    devices = await client.get(f"{API}/devices", headers=bob.headers)
    assert [d["id"] for d in devices.json()["items"]] == [device_id]

    sent = await send(alice, "Are you there?", receiver=bob)
    async with asyncio.timeout(WAIT):
        [delivery] = await push_service.wait_for(phone, 1)
    assert delivery.payload["conversation_id"] == sent["conversation_id"]
    assert delivery.payload["sender_id"] == alice.id
    assert delivery.payload["preview"] == "Are you there?"

    # Register again for the same device (a renewed subscription replaces the old one).
    renewed = push_service.subscribe(await _vapid_key(client))
    again = await client.post(
        f"{API}/notifications/register",
        json={"device_id": device_id, "subscription": renewed.subscription},
        headers=bob.headers,
    )
    assert again.status_code == 200 and again.json()["device_id"] == device_id
    await send(alice, "Hello again", receiver=bob)
    async with asyncio.timeout(WAIT):
        [second] = await push_service.wait_for(renewed, 1)
    assert second.payload["preview"] == "Hello again"

    off = await client.post(
        f"{API}/notifications/unregister", json={"device_id": device_id}, headers=bob.headers
    )
    assert off.status_code == 200 and off.json() == {"device_id": device_id, "registered": False}
    await _push_jobs_done(platform)
    await send(alice, "Nobody hears this", receiver=bob)
    await _push_jobs_done(platform)
    assert len(renewed.deliveries) == 1 and len(phone.deliveries) == 1


@FEATURE
async def test_nobody_registers_or_unregisters_another_users_device(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ImUser,
    bob: ImUser,
) -> None:
    subscription = push_service.subscribe(await _vapid_key(client)).subscription
    registered = await client.post(
        f"{API}/notifications/register", json={"subscription": subscription}, headers=bob.headers
    )
    device_id = registered.json()["device_id"]
    hijack = await client.post(
        f"{API}/notifications/register",
        json={"device_id": device_id, "subscription": subscription},
        headers=alice.headers,
    )
    silence = await client.post(
        f"{API}/notifications/unregister", json={"device_id": device_id}, headers=alice.headers
    )
    assert assert_problem(hijack, 404)["type"] == assert_problem(silence, 404)["type"]
    assert len(await _subscriptions(platform, bob)) == 1
    assert await _subscriptions(platform, alice) == []


@FEATURE
async def test_bad_subscriptions_are_422_and_store_nothing(
    client: httpx.AsyncClient, platform: Platform, push_service: PushService, alice: ImUser
) -> None:
    good = push_service.subscribe(await _vapid_key(client)).subscription
    bad_bodies = [
        {},
        {"subscription": {**good, "endpoint": "ftp://push.example/x"}},
        {"subscription": {**good, "endpoint": "http://push.example.com/x"}},  # not https
        {"subscription": {**good, "keys": {"p256dh": "abc", "auth": good["keys"]["auth"]}}},
        {"subscription": {**good, "keys": {"p256dh": good["keys"]["p256dh"], "auth": "AAAA"}}},
        {"subscription": good, "device_id": "phone"},
        {"subscription": good, "device_name": ""},
        {"subscription": good, "extra": 1},
    ]
    for body in bad_bodies:
        assert_problem(
            await client.post(f"{API}/notifications/register", json=body, headers=alice.headers),
            422,
        )
    for body in ({}, {"device_id": "x"}):
        assert_problem(
            await client.post(f"{API}/notifications/unregister", json=body, headers=alice.headers),
            422,
        )
    assert_problem(
        await client.post(f"{API}/notifications/register", json={"subscription": good}), 401
    )
    devices = await client.get(f"{API}/devices", headers=alice.headers)
    assert devices.json()["items"] == []
    assert await _subscriptions(platform, alice) == []
