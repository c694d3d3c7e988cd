"""The key directory of end-to-end chats (engines/messaging/keys.py), through the HTTP API:
publishing, claiming bundles (one one-time prekey each, never twice), counts, validation, and
that nobody touches another user's device keys."""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import httpx
import pytest

from casebook.clients.messaging.e2e import DeviceCrypto
from casebook.engines.messaging import keys
from casebook.engines.messaging.keys import MAX_ONE_TIME_PREKEYS, claim_bundles
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from tests.engines.messaging.conftest import API, ChatUser, NewUser

pytestmark = pytest.mark.feature("instant-messenger", "e2e-encryption")


async def publish(
    client: httpx.AsyncClient, user: ChatUser, crypto: DeviceCrypto, device_id: int | None = None
) -> httpx.Response:
    return await client.put(
        f"{API}/keys/devices/{device_id or user.device_id}",
        json=crypto.publication(),
        headers=user.headers,
    )


async def status(client: httpx.AsyncClient, user: ChatUser) -> dict[str, Any]:
    response = await client.get(f"{API}/keys/devices/{user.device_id}", headers=user.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def claim(
    client: httpx.AsyncClient, claimer: ChatUser, owner: ChatUser, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/keys/users/{owner.id}/bundles", json=body, headers=claimer.headers
    )


async def test_published_keys_come_back_in_a_claimed_bundle(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(one_time_prekeys=3)
    published = await publish(client, bob, crypto)
    assert published.status_code == 200, published.text
    assert published.json() == {
        "device_id": str(bob.device_id),
        "identity_key": base64.b64encode(crypto.identity_key).decode(),
        "signed_prekey_id": 1,
        "one_time_prekeys": 3,
    }

    response = await claim(client, alice, bob)
    assert response.status_code == 200, response.text
    [bundle] = response.json()["devices"]
    sent = crypto.publication()
    assert bundle["device_id"] == str(bob.device_id)
    assert bundle["identity_key"] == sent["identity_key"]
    assert bundle["signed_prekey"] == sent["signed_prekey"]
    assert bundle["one_time_prekey"] in sent["one_time_prekeys"]
    assert (await status(client, bob))["one_time_prekeys"] == 2


async def test_a_device_that_ran_out_gives_bundles_without_one_time_prekey_until_replenished(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(one_time_prekeys=2)
    assert (await publish(client, bob, crypto)).status_code == 200
    taken = [(await claim(client, alice, bob)).json()["devices"][0] for _ in range(3)]
    assert [b["one_time_prekey"] is None for b in taken] == [False, False, True]
    assert taken[0]["one_time_prekey"] != taken[1]["one_time_prekey"]
    assert taken[2]["signed_prekey"] == taken[0]["signed_prekey"]

    fresh = crypto.generate_one_time_prekeys(5)
    added = await client.post(
        f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
        json={"one_time_prekeys": fresh},
        headers=bob.headers,
    )
    assert added.status_code == 200, added.text
    assert added.json()["one_time_prekeys"] == 5
    again = (await claim(client, alice, bob)).json()["devices"][0]
    assert again["one_time_prekey"] == fresh[0]


async def test_racing_claimers_never_get_the_same_one_time_prekey(
    client: httpx.AsyncClient, new_user: NewUser, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(one_time_prekeys=8)
    assert (await publish(client, bob, crypto)).status_code == 200
    claimers = [await new_user() for _ in range(4)]

    responses = await asyncio.gather(*(claim(client, claimers[i % 4], bob) for i in range(12)))

    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    handed = [r.json()["devices"][0]["one_time_prekey"] for r in responses]
    given = [h["key_id"] for h in handed if h is not None]
    assert sorted(given) == list(range(1, 9))  # each of the 8 exactly once
    assert handed.count(None) == 4
    assert (await status(client, bob))["one_time_prekeys"] == 0


async def test_bundles_cover_every_published_device_of_the_user(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    second = await client.post(f"{API}/devices", json={"name": "laptop"}, headers=bob.headers)
    assert second.status_code == 201, second.text
    laptop = int(second.json()["id"])
    unpublished = await client.post(f"{API}/devices", json={"name": "tv"}, headers=bob.headers)
    assert unpublished.status_code == 201, unpublished.text
    assert (await publish(client, bob, DeviceCrypto.create(2))).status_code == 200
    assert (await publish(client, bob, DeviceCrypto.create(2), laptop)).status_code == 200

    listed = await client.get(f"{API}/keys/users/{bob.id}", headers=alice.headers)
    assert listed.status_code == 200
    assert [d["device_id"] for d in listed.json()["devices"]] == sorted(
        [str(bob.device_id), str(laptop)], key=int
    )
    everything = (await claim(client, alice, bob)).json()["devices"]
    assert {b["device_id"] for b in everything} == {str(bob.device_id), str(laptop)}
    only_laptop = (await claim(client, alice, bob, device_ids=[str(laptop)])).json()["devices"]
    assert [b["device_id"] for b in only_laptop] == [str(laptop)]
    # Listing consumed nothing; the two claims took one key from the laptop each.
    assert (await client.get(f"{API}/keys/devices/{laptop}", headers=bob.headers)).json()[
        "one_time_prekeys"
    ] == 0


async def test_a_revoked_device_leaves_the_directory(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(2)
    assert (await publish(client, bob, crypto)).status_code == 200
    revoked = await client.delete(f"{API}/devices/{bob.device_id}", headers=bob.headers)
    assert revoked.status_code in (200, 204), revoked.text

    assert (await claim(client, alice, bob)).json()["devices"] == []
    listed = await client.get(f"{API}/keys/users/{bob.id}", headers=alice.headers)
    assert listed.json()["devices"] == []
    again = await publish(client, bob, crypto)
    assert again.status_code == 410
    assert again.json()["type"] == "/problems/messaging/device-revoked"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("identity_key", base64.b64encode(b"\x01" * 31).decode()),
        ("identity_key", "not base64!"),
        ("signature", base64.b64encode(b"\x02" * 63).decode()),
        ("one_time", base64.b64encode(b"\x03" * 33).decode()),
    ],
)
async def test_malformed_keys_are_refused_and_change_nothing(
    client: httpx.AsyncClient, bob: ChatUser, field: str, value: str
) -> None:
    body = DeviceCrypto.create(1).publication()
    if field == "identity_key":
        body["identity_key"] = value
    elif field == "signature":
        body["signed_prekey"]["signature"] = value
    else:
        body["one_time_prekeys"][0]["public_key"] = value

    response = await client.put(
        f"{API}/keys/devices/{bob.device_id}", json=body, headers=bob.headers
    )

    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert await status(client, bob) == {
        "device_id": str(bob.device_id),
        "identity_key": None,
        "signed_prekey_id": None,
        "one_time_prekeys": 0,
    }


async def test_a_signed_prekey_not_signed_by_the_identity_key_is_refused(
    client: httpx.AsyncClient, bob: ChatUser
) -> None:
    body = DeviceCrypto.create(1).publication()
    body["signed_prekey"]["signature"] = DeviceCrypto.create(1).publication()["signed_prekey"][
        "signature"
    ]

    response = await client.put(
        f"{API}/keys/devices/{bob.device_id}", json=body, headers=bob.headers
    )

    assert response.status_code == 422
    assert response.json()["type"] == "/problems/messaging/bad-prekey-signature"
    assert (await status(client, bob))["identity_key"] is None


async def test_the_identity_key_is_fixed_but_the_signed_prekey_rotates(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(1)
    assert (await publish(client, bob, crypto)).status_code == 200

    other = await publish(client, bob, DeviceCrypto.create(1))
    assert other.status_code == 409
    assert other.json()["type"] == "/problems/messaging/identity-key-changed"

    crypto.rotate_signed_prekey()
    rotated = await publish(client, bob, crypto)
    assert rotated.status_code == 200, rotated.text
    assert rotated.json()["signed_prekey_id"] == 2
    [bundle] = (await claim(client, alice, bob)).json()["devices"]
    assert bundle["signed_prekey"] == crypto.publication()["signed_prekey"]


async def test_a_reused_prekey_id_with_another_key_is_refused_atomically(
    client: httpx.AsyncClient, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(2)
    assert (await publish(client, bob, crypto)).status_code == 200
    # Re-publishing the same keys is a harmless retry.
    assert (await publish(client, bob, crypto)).json()["one_time_prekeys"] == 2

    crypto.rotate_signed_prekey()
    body = crypto.publication()
    body["one_time_prekeys"][0]["public_key"] = base64.b64encode(b"\x09" * 32).decode()
    response = await client.put(
        f"{API}/keys/devices/{bob.device_id}", json=body, headers=bob.headers
    )

    assert response.status_code == 409
    assert response.json()["type"] == "/problems/messaging/prekey-id-taken"
    assert (await status(client, bob))["signed_prekey_id"] == 1  # the rotation rolled back


async def test_a_device_holds_a_bounded_number_of_one_time_prekeys(
    client: httpx.AsyncClient, bob: ChatUser
) -> None:
    crypto = DeviceCrypto.create(0)
    assert (await publish(client, bob, crypto)).status_code == 200
    for _ in range(MAX_ONE_TIME_PREKEYS // 200):
        batch = crypto.generate_one_time_prekeys(200)
        added = await client.post(
            f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
            json={"one_time_prekeys": batch},
            headers=bob.headers,
        )
        assert added.status_code == 200, added.text
    over = await client.post(
        f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
        json={"one_time_prekeys": crypto.generate_one_time_prekeys(1)},
        headers=bob.headers,
    )
    assert over.status_code == 409
    assert over.json()["type"] == "/problems/messaging/too-many-prekeys"
    assert (await status(client, bob))["one_time_prekeys"] == MAX_ONE_TIME_PREKEYS
    too_big = await client.post(
        f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
        json={"one_time_prekeys": crypto.generate_one_time_prekeys(201)},
        headers=bob.headers,
    )
    assert too_big.status_code == 422


async def test_replenishing_before_publishing_is_a_conflict(
    client: httpx.AsyncClient, bob: ChatUser
) -> None:
    response = await client.post(
        f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
        json={"one_time_prekeys": DeviceCrypto.create(0).generate_one_time_prekeys(1)},
        headers=bob.headers,
    )
    assert response.status_code == 409
    assert (await status(client, bob))["one_time_prekeys"] == 0


async def test_nobody_publishes_to_or_reads_another_users_device(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser
) -> None:
    mine = DeviceCrypto.create(2)
    assert (await publish(client, bob, mine)).status_code == 200

    hijack = await publish(client, alice, DeviceCrypto.create(2), device_id=bob.device_id)
    assert hijack.status_code == 404
    peek = await client.get(f"{API}/keys/devices/{bob.device_id}", headers=alice.headers)
    assert peek.status_code == 404
    refill = await client.post(
        f"{API}/keys/devices/{bob.device_id}/one-time-prekeys",
        json={"one_time_prekeys": DeviceCrypto.create(0).generate_one_time_prekeys(1)},
        headers=alice.headers,
    )
    assert refill.status_code == 404
    anonymous = await client.post(f"{API}/keys/users/{bob.id}/bundles", json={})
    assert anonymous.status_code == 401
    assert await status(client, bob) == {
        "device_id": str(bob.device_id),
        "identity_key": base64.b64encode(mine.identity_key).decode(),
        "signed_prekey_id": 1,
        "one_time_prekeys": 2,
    }


async def test_claims_are_rate_limited_per_caller(
    client: httpx.AsyncClient, alice: ChatUser, bob: ChatUser, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keys, "CLAIM_LIMIT", RateLimit.per_minute(2, burst=2))
    assert (await publish(client, bob, DeviceCrypto.create(5))).status_code == 200
    outcomes = [(await claim(client, alice, bob)).status_code for _ in range(3)]
    assert outcomes == [200, 200, 429]
    assert (await status(client, bob))["one_time_prekeys"] == 3  # the refused claim took none


async def test_the_directory_is_per_system(
    client: httpx.AsyncClient, platform: Platform, bob: ChatUser
) -> None:
    assert (await publish(client, bob, DeviceCrypto.create(2))).status_code == 200
    async with platform.db.session() as session:
        assert await claim_bundles(session, "telegram", bob.user_id, None) == []
        [bundle] = await claim_bundles(session, "instant-messenger", bob.user_id, None)
    assert bundle.device_id == bob.device_id
