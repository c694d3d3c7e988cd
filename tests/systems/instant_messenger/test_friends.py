"""`GET /users/{user_id}/friends`: the caller's mutual contacts (made by friend requests) with
live presence; nobody reads another user's list."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.clients.messaging.ws import connect
from tests.servers import serve_in_loop
from tests.systems.instant_messenger.conftest import (
    API,
    Befriend,
    ImUser,
    NewUser,
    assert_problem,
)


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on a loopback port: `ws://127.0.0.1:<port>/ws/instant-messenger`."""
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + "/ws/instant-messenger"


async def _friends(client: httpx.AsyncClient, user: ImUser, **params: Any) -> dict[str, Any]:
    answer = await client.get(f"{API}/users/{user.id}/friends", params=params, headers=user.headers)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.mark.feature("instant-messenger", "contacts")
async def test_friends_are_mutual_contacts_and_only_your_own(
    client: httpx.AsyncClient,
    alice: ImUser,
    bob: ImUser,
    carol: ImUser,
    new_user: NewUser,
    befriend: Befriend,
) -> None:
    dave = await new_user(display_name="Dave")
    await befriend(alice, bob)
    await befriend(carol, alice)
    # A one-sided contact entry and an unanswered request are not friendships.
    one_sided = await client.put(f"{API}/contacts/{dave.id}", json={}, headers=alice.headers)
    assert one_sided.status_code == 200, one_sided.text
    pending = await client.post(
        f"{API}/friend-requests", json={"to_user_id": dave.id}, headers=bob.headers
    )
    assert pending.status_code == 201

    listed = await _friends(client, alice)
    friends = listed["friends"]
    assert [f["user_id"] for f in friends] == sorted([bob.id, carol.id], key=int)
    by_id = {f["user_id"]: f for f in friends}
    assert by_id[bob.id]["username"] == bob.username and by_id[bob.id]["display_name"] == "Bob"
    assert by_id[bob.id]["online"] is False
    assert (await _friends(client, bob))["friends"][0]["user_id"] == alice.id
    assert (await _friends(client, dave))["friends"] == []

    first = await _friends(client, alice, limit=1)
    assert first["next_after"] == friends[0]["user_id"]
    rest = await _friends(client, alice, after=first["next_after"])
    assert [f["user_id"] for f in rest["friends"]] == [friends[1]["user_id"]]

    # Blocking a friend takes them off your list (the friendship itself stays theirs to see).
    blocked = await client.put(
        f"{API}/contacts/{bob.id}", json={"blocked": True}, headers=alice.headers
    )
    assert blocked.status_code == 200
    assert [f["user_id"] for f in (await _friends(client, alice))["friends"]] == [carol.id]

    spy = await client.get(f"{API}/users/{alice.id}/friends", headers=dave.headers)
    assert_problem(spy, 403)
    assert_problem(await client.get(f"{API}/users/{alice.id}/friends"), 401)
    for path, params in (
        ("abc", {}),
        ("0", {}),
        (alice.id, {"limit": 0}),
        (alice.id, {"limit": 201}),
        (alice.id, {"after": "x"}),
    ):
        assert_problem(
            await client.get(f"{API}/users/{path}/friends", params=params, headers=alice.headers),
            422,
        )


@pytest.mark.feature("instant-messenger", "presence")
async def test_friends_show_online_while_connected(
    client: httpx.AsyncClient, ws_url: str, alice: ImUser, bob: ImUser, befriend: Befriend
) -> None:
    await befriend(alice, bob)
    device = await client.post(f"{API}/devices", json={"name": "phone"}, headers=bob.headers)
    assert device.status_code == 201
    async with connect(ws_url, device_id=device.json()["id"], token=bob.token) as socket:
        await socket.ping()
        (online,) = (await _friends(client, alice))["friends"]
        assert online["online"] is True and online["last_seen"] is not None
    # The server notices the disconnect on its own time: poll, bounded.
    async with asyncio.timeout(5):
        while True:
            friend: dict[str, Any] = (await _friends(client, alice))["friends"][0]
            if friend["online"] is False:
                break
            await asyncio.sleep(0.02)
    assert friend["last_seen"] is not None
