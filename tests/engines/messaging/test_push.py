"""Web Push to offline devices, delivered to a real local push service (push_service.py) that
checks the VAPID JWT and decrypts each push with the subscription's private key."""

from __future__ import annotations

import asyncio
import base64
import os
import secrets
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import pytest
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from py_vapid import Vapid
from pydantic import SecretStr
from pywebpush import WebPusher

from casebook.clients.messaging.e2e import DeviceCrypto
from casebook.engines.messaging import presence, push, runtime
from casebook.engines.messaging.models import MessagingDevice
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.jobs import FINISHED
from tests.engines.messaging.conftest import API, SYSTEM, ChatUser, Conversation
from tests.engines.messaging.push_service import PushService, Subscriber, b64url

FEATURE = pytest.mark.feature("instant-messenger", "push-notifications")
WAIT = 10.0


@pytest.fixture
async def push_service(platform: Platform) -> AsyncIterator[PushService]:
    push.configure_push(platform, SYSTEM, allow_insecure_endpoints=True)
    async with PushService() as service:
        yield service


async def _vapid_key(client: httpx.AsyncClient) -> str:
    response = await client.get(f"{API}/push/vapid-public-key")
    assert response.status_code == 200
    key: str = response.json()["public_key"]
    return key


async def _subscribe(
    client: httpx.AsyncClient, service: PushService, user: ChatUser, device_id: int | None = None
) -> Subscriber:
    subscriber = service.subscribe(await _vapid_key(client))
    response = await client.put(
        f"{API}/devices/{device_id or user.device_id}/push",
        json=subscriber.subscription,
        headers=user.headers,
    )
    assert response.status_code == 200, response.text
    return subscriber


async def _send(client: httpx.AsyncClient, user: ChatUser, chat: dict[str, Any], text: str) -> int:
    response = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={"client_id": secrets.token_hex(6), "kind": "text", "body": text},
        headers=user.headers,
    )
    assert response.status_code in (200, 201), response.text
    seq: int = response.json()["seq"]
    return seq


async def _push_jobs_done(platform: Platform) -> None:
    """Wait until every push job queued so far has finished (fan-outs first: they queue sends)."""
    async with asyncio.timeout(WAIT):
        for name in (push.fanout_job(SYSTEM), push.send_job(SYSTEM)):
            for job in await platform.jobs.list_jobs(limit=10_000):
                if job.name == name and job.status not in FINISHED:
                    await platform.jobs.wait(job.id)


async def _fanouts_queued(platform: Platform, count: int) -> None:
    """Wait until `count` fan-out jobs were queued (the writer's commit callback queues one per
    committed batch, just after the sender got its answer)."""
    async with asyncio.timeout(WAIT):
        while True:
            jobs = await platform.jobs.list_jobs(limit=10_000)
            if sum(job.name == push.fanout_job(SYSTEM) for job in jobs) >= count:
                return
            await asyncio.sleep(0.01)


async def _subscription(platform: Platform, device_id: int) -> dict[str, Any] | None:
    async with platform.db.session() as session:
        device = await session.get(MessagingDevice, device_id)
        assert device is not None
        return device.push_subscription


@FEATURE
async def test_an_offline_member_gets_an_encrypted_vapid_signed_push_and_the_sender_none(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", members=[bob])
    bobs_phone = await _subscribe(client, push_service, bob)
    alices_phone = await _subscribe(client, push_service, alice)

    seq = await _send(client, alice, chat, "Dinner at eight? " + "x" * 200)
    async with asyncio.timeout(WAIT):
        [delivery] = await push_service.wait_for(bobs_phone, 1)
    assert delivery.payload["type"] == "message"
    assert delivery.payload["conversation_id"] == chat["id"]
    assert delivery.payload["seq"] == seq
    assert delivery.payload["sender_id"] == alice.id
    assert delivery.payload["preview"].startswith("Dinner at eight? xxx")
    assert len(delivery.payload["preview"]) == push.PREVIEW_CHARS
    assert delivery.topic == f"c{chat['id']}"
    assert delivery.ttl == push.PushConfig().ttl_seconds
    assert delivery.vapid_key == await _vapid_key(client)
    assert delivery.claims["aud"] == push_service.origin
    await _push_jobs_done(platform)
    assert alices_phone.deliveries == []  # nobody is notified of their own message
    assert push_service.refused == []


@FEATURE
async def test_online_devices_and_members_who_muted_get_no_push(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
    carol: ChatUser,
    new_user: Any,
    conversation: Conversation,
) -> None:
    dave: ChatUser = await new_user()
    group = await conversation(alice, "group", members=[bob, carol, dave])
    bobs_phone = await _subscribe(client, push_service, bob)
    carols_phone = await _subscribe(client, push_service, carol)
    daves_phone = await _subscribe(client, push_service, dave)
    await presence.Presence(platform, SYSTEM).beat(bob.user_id, bob.device_id)  # bob is online
    muted = await client.put(
        f"{API}/conversations/{group['id']}/mute", json={"muted": True}, headers=carol.headers
    )
    assert muted.status_code == 200
    assert muted.json()["muted_until"].startswith("9999-")

    await _send(client, alice, group, "first")
    async with asyncio.timeout(WAIT):
        await push_service.wait_for(daves_phone, 1)  # the control: offline and not muted
    await _push_jobs_done(platform)
    assert bobs_phone.deliveries == []
    assert carols_phone.deliveries == []

    # Carol unmutes, Bob goes away: both are notified of the next message.
    unmuted = await client.put(
        f"{API}/conversations/{group['id']}/mute", json={"muted": False}, headers=carol.headers
    )
    assert unmuted.json()["muted_until"] is None
    await presence.Presence(platform, SYSTEM).went_away(bob.user_id, bob.device_id)
    seq = await _send(client, alice, group, "second")
    async with asyncio.timeout(WAIT):
        [to_bob] = await push_service.wait_for(bobs_phone, 1)
        [to_carol] = await push_service.wait_for(carols_phone, 1)
    assert to_bob.payload["seq"] == to_carol.payload["seq"] == seq


@FEATURE
async def test_a_mute_with_an_end_stops_pushes_and_only_members_mute(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
    new_user: Any,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", members=[bob])
    bobs_phone = await _subscribe(client, push_service, bob)
    past = await client.put(
        f"{API}/conversations/{chat['id']}/mute",
        json={"muted": True, "until": (utcnow() - timedelta(minutes=1)).isoformat()},
        headers=bob.headers,
    )
    assert past.status_code == 422
    until = utcnow() + timedelta(hours=1)
    muted = await client.put(
        f"{API}/conversations/{chat['id']}/mute",
        json={"muted": True, "until": until.isoformat()},
        headers=bob.headers,
    )
    assert muted.status_code == 200
    await _send(client, alice, chat, "quiet")
    await _fanouts_queued(platform, 1)
    await _push_jobs_done(platform)
    assert bobs_phone.deliveries == []
    # Someone outside the conversation cannot mute it, nor learn that it exists.
    outsider: ChatUser = await new_user()
    refused = await client.put(
        f"{API}/conversations/{chat['id']}/mute", json={"muted": True}, headers=outsider.headers
    )
    assert refused.status_code == 404


@FEATURE
async def test_a_gone_subscription_is_removed_and_a_busy_service_is_retried(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
    conversation: Conversation,
) -> None:
    chat = await conversation(alice, "direct", members=[bob])
    bobs_phone = await _subscribe(client, push_service, bob)
    note = {
        "type": "message",
        "conversation_id": chat["id"],
        "seq": 1,
        "message_id": "1",
        "sender_id": alice.id,
        "kind": "text",
        "preview": "hi",
    }
    bobs_phone.answer = 503
    with pytest.raises(push.PushRetryLater):
        await push.send_to_device(platform, SYSTEM, bob.device_id, note)
    assert await _subscription(platform, bob.device_id) is not None

    bobs_phone.answer = None
    assert await push.send_to_device(platform, SYSTEM, bob.device_id, note) == "sent"

    bobs_phone.answer = 410  # the user revoked the permission in the browser
    await _send(client, alice, chat, "are you there?")
    async with asyncio.timeout(WAIT):
        while await _subscription(platform, bob.device_id) is not None:
            await _push_jobs_done(platform)
            await asyncio.sleep(0.02)
    assert [status for status, _ in push_service.refused] == [503, 410]
    # Later messages find no subscription and send nothing.
    await _send(client, alice, chat, "hello?")
    await _fanouts_queued(platform, 2)
    await _push_jobs_done(platform)
    assert len(push_service.refused) == 2


@FEATURE
async def test_subscriptions_are_per_device_validated_and_private(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
) -> None:
    subscriber = push_service.subscribe(await _vapid_key(client))
    good = subscriber.subscription
    url = f"{API}/devices/{alice.device_id}/push"
    bad_point = {**good, "keys": {**good["keys"], "p256dh": b64url(b"\x04" + b"\x01" * 64)}}
    short_auth = {**good, "keys": {**good["keys"], "auth": b64url(b"short")}}
    for body in (
        bad_point,
        short_auth,
        {"endpoint": good["endpoint"]},
        {**good, "endpoint": "ftp://x/y"},
    ):
        response = await client.put(url, json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"] == "application/problem+json"
    push.configure_push(platform, SYSTEM, allow_insecure_endpoints=False)
    insecure = await client.put(url, json=good, headers=alice.headers)
    assert insecure.status_code == 422
    assert insecure.json()["type"] == "/problems/messaging/invalid-push-subscription"
    remote_http = {**good, "endpoint": "http://push.example.com/x"}
    push.configure_push(platform, SYSTEM, allow_insecure_endpoints=True)
    assert (await client.put(url, json=remote_http, headers=alice.headers)).status_code == 422
    assert await _subscription(platform, alice.device_id) is None

    # Bob can neither set nor remove a subscription of Alice's device.
    assert (await client.put(url, json=good, headers=bob.headers)).status_code == 404
    assert (await client.put(url, json=good, headers=alice.headers)).status_code == 200
    assert (await client.delete(url, headers=bob.headers)).status_code == 404
    assert await _subscription(platform, alice.device_id) == {
        "endpoint": good["endpoint"],
        "keys": good["keys"],
    }
    assert (await client.delete(url, headers=alice.headers)).status_code == 204
    assert await _subscription(platform, alice.device_id) is None
    assert (await client.put(url, json=good)).status_code == 401


async def test_the_vapid_key_is_made_once_per_install_or_taken_from_settings(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    first = await _vapid_key(client)
    stored = (platform.settings.var_dir / push.VAPID_FILE).read_bytes()
    platform.state.pop(push.VAPID_STATE_KEY)  # as a restarted process would
    assert await _vapid_key(client) == first
    assert (platform.settings.var_dir / push.VAPID_FILE).read_bytes() == stored
    assert len(push._b64url_decode(first)) == 65

    configured = Vapid()
    configured.generate_keys()
    settings = platform.settings.model_copy(
        update={"messaging_vapid_private_key": SecretStr(configured.private_pem().decode())}
    )
    platform.state.pop(push.VAPID_STATE_KEY)
    original_settings, platform.settings = platform.settings, settings
    try:
        public = b64url(
            configured.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
        )
        assert await _vapid_key(client) == public
    finally:
        platform.settings = original_settings
        platform.state.pop(push.VAPID_STATE_KEY)


def test_a_push_never_carries_the_content_of_an_end_to_end_message() -> None:
    base = {"id": 9, "conversation_id": 5, "seq": 3, "sender_id": 7, "data": None}
    encrypted = push.notification(
        {**base, "kind": "encrypted", "body": None, "ciphertext": "QUJD"}, SYSTEM
    )
    assert encrypted["preview"] is None
    assert "QUJD" not in str(encrypted)
    assert (
        push.notification({**base, "kind": "text", "body": "hello"}, SYSTEM)["preview"] == "hello"
    )


async def test_the_push_service_refuses_unsigned_foreign_or_undecryptable_pushes(
    push_service: PushService,
) -> None:
    ours = Vapid()
    ours.generate_keys()
    theirs = Vapid()
    theirs.generate_keys()
    ours_public = b64url(
        ours.public_key.public_bytes(Encoding.X962, PublicFormat.UncompressedPoint)
    )
    subscriber = push_service.subscribe(ours_public)
    other = push_service.subscribe(None)
    claims = {"sub": "mailto:a@example.com", "aud": push_service.origin}

    async def post(vapid: Vapid | None, target: Subscriber, keys_of: Subscriber) -> int:
        headers = vapid.sign(dict(claims, exp=int(utcnow().timestamp()) + 600)) if vapid else {}
        pusher = WebPusher({**keys_of.subscription, "endpoint": target.endpoint})
        async with aiohttp.ClientSession() as session:
            pusher.aiohttp_session = session
            response = await pusher.send_async(b'{"x": 1}', headers, ttl=60)
            assert isinstance(response, aiohttp.ClientResponse)
            return response.status

    assert await post(ours, subscriber, subscriber) == 201
    assert await post(None, subscriber, subscriber) == 401
    assert await post(theirs, subscriber, subscriber) == 403
    assert await post(ours, subscriber, other) == 400  # encrypted for another browser
    assert [status for status, _ in push_service.refused] == [401, 403, 400]
    assert [d.payload for d in subscriber.deliveries] == [{"x": 1}]


async def _publish_keys(client: httpx.AsyncClient, user: ChatUser) -> None:
    """Give the user's device an identity with the client library (area C's)."""
    crypto = DeviceCrypto.create(one_time_prekeys=2)
    response = await client.put(
        f"{API}/keys/devices/{user.device_id}", json=crypto.publication(), headers=user.headers
    )
    assert response.status_code == 200, response.text


@pytest.mark.feature("instant-messenger", "e2e-encryption")
async def test_an_end_to_end_message_and_its_attachment_stay_opaque_in_the_push(
    client: httpx.AsyncClient,
    platform: Platform,
    push_service: PushService,
    alice: ChatUser,
    bob: ChatUser,
) -> None:
    for user in (alice, bob):
        await _publish_keys(client, user)
    created = await client.post(
        f"{API}/conversations",
        json={"kind": "direct", "user_id": bob.id, "e2e": True},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    chat = created.json()
    bobs_phone = await _subscribe(client, push_service, bob)
    secret = b"the vault code is 4711"
    uploaded = await client.post(
        f"{API}/attachments",
        params={"kind": "file", "e2e": "true"},
        files={"file": ("x", os.urandom(64), "application/octet-stream")},
        headers=alice.headers,
    )
    assert uploaded.status_code == 201
    attachment = uploaded.json()
    sent = await client.post(
        f"{API}/conversations/{chat['id']}/messages",
        json={
            "client_id": "e2e-1",
            "kind": "encrypted",
            "device_id": str(alice.device_id),
            "data": {"attachments": [attachment["id"]]},
            "envelopes": {str(bob.device_id): base64.b64encode(secret).decode()},
        },
        headers=alice.headers,
    )
    assert sent.status_code in (200, 201), sent.text
    async with asyncio.timeout(WAIT):
        [delivery] = await push_service.wait_for(bobs_phone, 1)
    assert delivery.payload["kind"] == "encrypted"
    assert delivery.payload["preview"] is None
    assert base64.b64encode(secret).decode() not in str(delivery.payload)
    # Bob, a member of the secret chat, can fetch the opaque attachment; it was never processed.
    fetched = await client.get(attachment["url"], headers=bob.headers)
    assert fetched.status_code == 200
    assert fetched.headers["content-type"] == "application/octet-stream"


def test_processes_racing_to_create_the_vapid_key_all_end_up_with_one(tmp_path: Path) -> None:
    path = tmp_path / "install" / push.VAPID_FILE
    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = list(pool.map(lambda _: push._load_or_create_pem(path), range(8)))
    assert len(set(keys)) == 1
    assert keys[0] == path.read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [push.VAPID_FILE]  # no temporary left
    assert path.stat().st_mode & 0o777 == 0o600


async def _fanout_seqs(platform: Platform) -> list[list[int]]:
    """The message seqs of each fan-out job queued so far."""
    return sorted(
        sorted(note["seq"] for note in job.payload["notifications"])
        for job in await platform.jobs.list_jobs(limit=10_000)
        if job.name == push.fanout_job(SYSTEM)
    )


@FEATURE
async def test_batches_committed_within_a_window_share_one_fanout_job(platform: Platform) -> None:
    state = runtime.messenger(platform, SYSTEM)

    def event(seq: int) -> dict[str, Any]:
        message = {"id": str(seq), "conversation_id": "7", "seq": seq, "sender_id": "1"}
        return {"type": "message", "message": {**message, "kind": "text", "body": f"m{seq}"}}

    before = await _fanout_seqs(platform)
    await push.on_commit(state, [event(1)])  # two writer batches in one window …
    await push.on_commit(state, [event(2), event(3), {"type": "receipt"}])
    async with asyncio.timeout(WAIT):
        while True:
            if len(await _fanout_seqs(platform)) > len(before):
                break
            await asyncio.sleep(0.01)
    await asyncio.sleep(push.FANOUT_WINDOW * 2)  # … and no second job after the first
    assert [s for s in await _fanout_seqs(platform) if s not in before] == [[1, 2, 3]]
    # Shutdown queues what is pending at once, without waiting for the window.
    await push.on_commit(state, [event(4)])
    await push.close(platform, SYSTEM)
    assert [4] in await _fanout_seqs(platform)
