"""The seed's endpoints at /api/viber: authenticate, add_contact, get_contacts, create_group_chat,
and send_message (end-to-end only), each acting for the caller alone."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from tests.systems.viber.conftest import API, PASSWORD, NewUser, ViberUser


@pytest.mark.feature("viber", "user-accounts")
async def test_authenticate_with_phone_and_password(
    client: httpx.AsyncClient, alice: ViberUser
) -> None:
    answer = await client.post(
        f"{API}/authenticate", json={"phone": alice.phone, "password": PASSWORD}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["message"] == "Authentication successful"
    assert body["user"] == {"id": alice.id, "name": "Alice", "phone": alice.phone}
    me = await client.get(
        f"{API}/profile", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["user_id"] == alice.id

    wrong = await client.post(
        f"{API}/authenticate", json={"phone": alice.phone, "password": "wrong horse 42"}
    )
    unknown = await client.post(
        f"{API}/authenticate", json={"phone": "+447700900001", "password": PASSWORD}
    )
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["type"] == unknown.json()["type"]


@pytest.mark.feature("viber", "contacts")
async def test_contacts_are_the_callers_own_and_found_by_phone_hash(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser
) -> None:
    by_phone = await client.post(
        f"{API}/add_contact", json={"contact": bob.phone, "name": "Bobby"}, headers=alice.headers
    )
    assert by_phone.status_code == 200, by_phone.text
    by_id = await client.post(
        f"{API}/add_contact", json={"contact": carol.id}, headers=alice.headers
    )
    assert by_id.status_code == 200
    listed = await client.get(f"{API}/get_contacts", headers=alice.headers)
    names = {c["id"]: c["name"] for c in listed.json()["contacts"]}
    assert names == {bob.id: "Bobby", carol.id: "Carol"}
    # Synced across devices: the list lives on the server, so a new log-in sees it too.
    again = await client.post(
        f"{API}/authenticate", json={"phone": alice.phone, "password": PASSWORD}
    )
    other_device = {"Authorization": f"Bearer {again.json()['access_token']}"}
    assert (await client.get(f"{API}/get_contacts", headers=other_device)).json() == listed.json()

    # Nobody reads or writes another user's list.
    assert (await client.get(f"{API}/get_contacts", headers=bob.headers)).json()["contacts"] == []
    spy = await client.get(f"{API}/get_contacts", params={"user": alice.id}, headers=bob.headers)
    assert spy.status_code == 403
    forged = await client.post(
        f"{API}/add_contact", json={"user": alice.id, "contact": carol.id}, headers=bob.headers
    )
    assert forged.status_code == 403
    missing = await client.post(
        f"{API}/add_contact", json={"contact": "+447700900002"}, headers=alice.headers
    )
    assert missing.status_code == 404
    assert (
        await client.post(f"{API}/add_contact", json={"contact": "bob"}, headers=alice.headers)
    ).status_code == 422

    removed = await client.delete(f"{API}/contacts/{carol.id}", headers=alice.headers)
    assert removed.status_code == 204
    after = await client.get(f"{API}/get_contacts", headers=alice.headers)
    assert [c["id"] for c in after.json()["contacts"]] == [bob.id]

    hashes = [hashlib.sha256(p.encode()).hexdigest() for p in (bob.phone, "+447700900003")]
    found = await client.post(
        f"{API}/contacts/discover", json={"phone_hashes": hashes}, headers=alice.headers
    )
    assert [u["user_id"] for u in found.json()] == [bob.id]


@pytest.mark.feature("viber", "group-chats")
async def test_group_chats_get_unique_engine_ids(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser
) -> None:
    async def create(n: int) -> httpx.Response:
        return await client.post(
            f"{API}/create_group_chat",
            json={"name": f"Team {n}", "participants": [bob.phone, carol.id]},
            headers=alice.headers,
        )

    answers = await asyncio.gather(*(create(n) for n in range(20)))
    assert {a.status_code for a in answers} == {201}
    first = answers[0].json()
    assert first["message"] == "Group chat created"
    assert first["group_chat"]["name"] == "Team 0"
    assert first["group_chat"]["participants"] == [alice.id, *sorted([bob.id, carol.id], key=int)]
    ids = [a.json()["group_chat"]["group_id"] for a in answers]
    assert len(set(ids)) == 20 and all(int(i) > 9999 for i in ids)

    group_id = first["group_chat"]["group_id"]
    sent = await client.post(
        f"{API}/conversations/{group_id}/messages",
        json={"client_id": "g1", "kind": "text", "body": "hello team 👋"},
        headers=bob.headers,
    )
    assert sent.status_code == 201
    history = await client.get(f"{API}/conversations/{group_id}/messages", headers=carol.headers)
    assert [m["body"] for m in history.json()["items"]] == ["hello team 👋"]

    bad = await client.post(
        f"{API}/create_group_chat",
        json={"name": "x", "participants": ["+447700900004"]},
        headers=alice.headers,
    )
    assert bad.status_code == 404
    blank = await client.post(
        f"{API}/create_group_chat", json={"name": "   ", "participants": []}, headers=alice.headers
    )
    assert blank.status_code == 422


async def test_send_message_refuses_plaintext_and_forged_senders(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, new_user: NewUser
) -> None:
    plain = await client.post(
        f"{API}/send_message", json={"receiver": bob.id, "message": "hi"}, headers=alice.headers
    )
    assert plain.status_code == 422
    assert plain.json()["type"].endswith("viber/end-to-end-required")
    forged = await client.post(
        f"{API}/send_message",
        json={"sender": bob.id, "receiver": alice.id, "envelopes": {"1": "AAAA"}},
        headers=alice.headers,
    )
    assert forged.status_code == 403
    nobody = await client.post(
        f"{API}/send_message",
        json={"receiver": "+447700900005", "envelopes": {"1": "AAAA"}},
        headers=alice.headers,
    )
    assert nobody.status_code == 404
    # Nothing was created by the refused requests.
    chats = await client.get(f"{API}/conversations", headers=alice.headers)
    assert chats.json()["items"] == []
