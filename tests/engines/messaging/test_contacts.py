"""Profiles, contacts, friend requests and discovery through `/api/instant-messenger`."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass

import httpx
import pytest

from casebook.engines.messaging import contacts
from casebook.platform.context import Platform

API = "/api/instant-messenger"


@dataclass
class Person:
    user_id: str
    headers: dict[str, str]


async def _person(client: httpx.AsyncClient, name: str) -> Person:
    email = f"{name.lower().replace(' ', '.')}-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": name}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    token = login.json()["access_token"]
    return Person(registered.json()["id"], {"Authorization": f"Bearer {token}"})


async def _member(client: httpx.AsyncClient, name: str) -> Person:
    """A user who has opened the system once (which makes their profile)."""
    person = await _person(client, name)
    assert (await client.get(f"{API}/profile", headers=person.headers)).status_code == 200
    return person


@pytest.fixture
async def ann(client: httpx.AsyncClient) -> Person:
    return await _member(client, "Ann Lee")


@pytest.fixture
async def ben(client: httpx.AsyncClient) -> Person:
    return await _member(client, "Ben Okafor")


async def test_only_users_of_the_system_can_be_added(
    client: httpx.AsyncClient, ann: Person
) -> None:
    outsider = await _person(client, "Cy Outsider")
    refused = await client.put(f"{API}/contacts/{outsider.user_id}", json={}, headers=ann.headers)
    assert refused.status_code == 404
    assert (await client.get(f"{API}/contacts", headers=ann.headers)).json() == []


@pytest.mark.feature("instant-messenger", "user-accounts")
async def test_profile_is_made_from_the_account_and_handles_are_unique(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    mine = await client.get(f"{API}/profile", headers=ann.headers)
    assert mine.json()["display_name"] == "Ann Lee" and mine.json()["handle"] is None
    named = await client.patch(
        f"{API}/profile", json={"handle": "Ann_Lee", "status_text": "busy"}, headers=ann.headers
    )
    assert named.status_code == 200 and named.json()["handle"] == "ann_lee"
    taken = await client.patch(f"{API}/profile", json={"handle": "ann_lee"}, headers=ben.headers)
    assert taken.status_code == 409 and taken.json()["type"].endswith("handle-taken")
    bad = await client.patch(f"{API}/profile", json={"handle": "1abcde"}, headers=ben.headers)
    assert bad.status_code == 422
    unknown = await client.patch(f"{API}/profile", json={"phone": "+1555"}, headers=ben.headers)
    assert unknown.status_code == 422


@pytest.mark.feature("instant-messenger", "message-search")
async def test_users_are_found_by_handle_prefix_or_name(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    await client.patch(f"{API}/profile", json={"handle": "annlee"}, headers=ann.headers)
    by_handle = await client.get(f"{API}/users/search", params={"q": "@ann"}, headers=ben.headers)
    assert [u["user_id"] for u in by_handle.json()] == [ann.user_id]
    by_name = await client.get(f"{API}/users/search", params={"q": "okaf"}, headers=ann.headers)
    assert [u["user_id"] for u in by_name.json()] == [ben.user_id]
    wildcard = await client.get(f"{API}/users/search", params={"q": "%"}, headers=ann.headers)
    assert wildcard.json() == []
    anonymous = await client.get(f"{API}/users/search", params={"q": "ann"})
    assert anonymous.status_code == 401


@pytest.mark.feature("instant-messenger", "contacts")
async def test_contacts_are_added_tagged_and_removed_one_way(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    added = await client.put(
        f"{API}/contacts/{ben.user_id}", json={"name": "Benny", "tag": "work"}, headers=ann.headers
    )
    assert added.status_code == 200, added.text
    assert added.json()["name"] == "Benny" and added.json()["user"]["display_name"] == "Ben Okafor"
    listed = await client.get(f"{API}/contacts", headers=ann.headers)
    assert [(c["user"]["user_id"], c["tag"]) for c in listed.json()] == [(ben.user_id, "work")]
    # Directed: Ben's list is his own.
    assert (await client.get(f"{API}/contacts", headers=ben.headers)).json() == []
    assert (
        await client.put(f"{API}/contacts/{ann.user_id}", json={}, headers=ann.headers)
    ).status_code == 422
    assert (
        await client.put(f"{API}/contacts/123456789", json={}, headers=ann.headers)
    ).status_code == 404
    removed = await client.delete(f"{API}/contacts/{ben.user_id}", headers=ann.headers)
    assert removed.status_code == 204
    again = await client.delete(f"{API}/contacts/{ben.user_id}", headers=ann.headers)
    assert again.status_code == 404


@pytest.mark.feature("instant-messenger", "contacts")
async def test_a_friend_request_accepted_makes_both_contacts(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    sent = await client.post(
        f"{API}/friend-requests",
        json={"to_user_id": ben.user_id, "message": "hi"},
        headers=ann.headers,
    )
    assert sent.status_code == 201, sent.text
    request_id = sent.json()["id"]
    twice = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ben.user_id}, headers=ann.headers
    )
    assert twice.status_code == 409
    # Ann cannot answer her own request; Ben sees it incoming, Ann outgoing.
    assert (
        await client.post(f"{API}/friend-requests/{request_id}/accept", headers=ann.headers)
    ).status_code == 404
    incoming = await client.get(f"{API}/friend-requests", headers=ben.headers)
    assert [r["id"] for r in incoming.json()] == [request_id]
    outgoing = await client.get(
        f"{API}/friend-requests", params={"direction": "outgoing"}, headers=ann.headers
    )
    assert [r["id"] for r in outgoing.json()] == [request_id]

    accepted = await client.post(f"{API}/friend-requests/{request_id}/accept", headers=ben.headers)
    assert accepted.status_code == 200 and accepted.json()["status"] == "accepted"
    ann_list = (await client.get(f"{API}/contacts", headers=ann.headers)).json()
    ben_list = (await client.get(f"{API}/contacts", headers=ben.headers)).json()
    assert [c["user"]["user_id"] for c in ann_list] == [ben.user_id]
    assert [c["user"]["user_id"] for c in ben_list] == [ann.user_id]
    answered = await client.post(f"{API}/friend-requests/{request_id}/decline", headers=ben.headers)
    assert answered.status_code == 404


@pytest.mark.feature("instant-messenger", "contacts")
async def test_crossing_requests_become_one_friendship(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    first = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ben.user_id}, headers=ann.headers
    )
    crossing = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ann.user_id}, headers=ben.headers
    )
    assert crossing.status_code == 201
    assert crossing.json()["id"] == first.json()["id"]
    assert crossing.json()["status"] == "accepted"


@pytest.mark.feature("instant-messenger", "contacts")
async def test_concurrent_answers_to_one_request_resolve_once(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    sent = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ben.user_id}, headers=ann.headers
    )
    request_id = sent.json()["id"]
    answers = await asyncio.gather(
        client.post(f"{API}/friend-requests/{request_id}/accept", headers=ben.headers),
        client.post(f"{API}/friend-requests/{request_id}/decline", headers=ben.headers),
        client.post(f"{API}/friend-requests/{request_id}/accept", headers=ben.headers),
    )
    assert sorted(a.status_code for a in answers) == [200, 404, 404]
    won = next(a for a in answers if a.status_code == 200).json()["status"]
    friends = (await client.get(f"{API}/contacts", headers=ann.headers)).json()
    assert len(friends) == (1 if won == "accepted" else 0)


@pytest.mark.feature("instant-messenger", "contacts")
async def test_blocked_users_cannot_ask_and_senders_may_withdraw(
    client: httpx.AsyncClient, ann: Person, ben: Person
) -> None:
    blocked = await client.put(
        f"{API}/contacts/{ann.user_id}", json={"blocked": True}, headers=ben.headers
    )
    assert blocked.status_code == 200 and blocked.json()["blocked"] is True
    refused = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ben.user_id}, headers=ann.headers
    )
    assert refused.status_code == 403 and refused.json()["type"].endswith("blocked")
    asked = await client.post(
        f"{API}/friend-requests", json={"to_user_id": ann.user_id}, headers=ben.headers
    )
    request_id = asked.json()["id"]
    assert (
        await client.delete(f"{API}/friend-requests/{request_id}", headers=ann.headers)
    ).status_code == 404
    assert (
        await client.delete(f"{API}/friend-requests/{request_id}", headers=ben.headers)
    ).status_code == 204
    assert (await client.get(f"{API}/friend-requests", headers=ann.headers)).json() == []


@pytest.mark.feature("instant-messenger", "contacts")
async def test_discovery_matches_phone_hashes_only(
    client: httpx.AsyncClient, platform: Platform, ann: Person, ben: Person
) -> None:
    async with platform.db.session() as session:
        await contacts.set_verified_phone(
            session, "instant-messenger", int(ben.user_id), "+447700900123"
        )
    book = [contacts.phone_hash("+447700900123"), contacts.phone_hash("+447700900999")]
    found = await client.post(
        f"{API}/contacts/discover", json={"phone_hashes": book}, headers=ann.headers
    )
    assert found.status_code == 200, found.text
    assert [(m["user_id"], m["phone_hash"]) for m in found.json()] == [(ben.user_id, book[0])]
    assert "phone" not in found.json()[0]
    bad = await client.post(
        f"{API}/contacts/discover", json={"phone_hashes": ["+447700900123"]}, headers=ann.headers
    )
    assert bad.status_code == 422
    # A number is one account's: another cannot claim it.
    async with platform.db.session() as session:
        with pytest.raises(contacts.PhoneTaken):
            await contacts.set_verified_phone(
                session, "instant-messenger", int(ann.user_id), "+447700900123"
            )
        with pytest.raises(contacts.InvalidInput):
            await contacts.set_verified_phone(
                session, "instant-messenger", int(ann.user_id), "0770"
            )
