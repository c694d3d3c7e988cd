"""Instagram Direct through the real app: the messaging engine mounted at /api/instagram/direct
and /ws/instagram/direct, with Instagram's rules (follow-based inbox, message requests, blocks,
shared posts rendered by audience). Clients are the messaging client library (with the nested
prefix) and the engine's WebSocket client."""

from __future__ import annotations

import secrets
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.clients.messaging.client import ApiError, MessagingClient
from casebook.clients.messaging.ws import SocketError, connect
from tests.servers import serve_in_loop
from tests.systems.instagram.conftest import API, IgUser, NewUser, Upload, small_png

DIRECT = f"{API}/direct"
pytestmark = pytest.mark.feature("instagram", "direct-messages")


def dm(client: httpx.AsyncClient, user: IgUser) -> MessagingClient:
    return MessagingClient(client, "instagram", token=user.token, prefix=DIRECT)


async def listed(client: httpx.AsyncClient, user: IgUser, which: str) -> list[str]:
    page = await client.get(f"{DIRECT}/{which}", headers=user.headers)
    assert page.status_code == 200, page.text
    return [t["id"] for t in page.json()["items"]]


async def texts(client: httpx.AsyncClient, user: IgUser, conversation_id: str) -> list[str]:
    page = await client.get(
        f"{DIRECT}/conversations/{conversation_id}/messages",
        params={"order": "oldest"},
        headers=user.headers,
    )
    assert page.status_code == 200, page.text
    return [m["body"] for m in page.json()["items"]]


async def follow(client: httpx.AsyncClient, follower: IgUser, followee: IgUser) -> None:
    answer = await client.post(f"{API}/users/{followee.id}/follow", headers=follower.headers)
    assert answer.status_code == 200, answer.text


async def test_followers_reach_the_inbox_and_strangers_send_message_requests(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    await follow(client, bob, alice)  # bob follows alice: they are connected, both ways
    with_bob = await dm(client, bob).create_direct(alice.id)
    await dm(client, bob).send_text(with_bob["id"], "hi alice")
    stranger = await dm(client, carol).create_direct(alice.id)
    await dm(client, carol).send_text(stranger["id"], "buy followers?")

    assert await listed(client, alice, "inbox") == [with_bob["id"]]
    requests = (await client.get(f"{DIRECT}/requests", headers=alice.headers)).json()["items"]
    assert [(r["id"], r["peer_id"]) for r in requests] == [(stranger["id"], carol.id)]
    assert requests[0]["request"]["status"] == "pending"
    assert await listed(client, carol, "inbox") == [stranger["id"]]  # the sender sees it sent
    assert await texts(client, alice, stranger["id"]) == ["buy followers?"]  # a preview

    # The followee replies to the follower at once; a request is answered only once accepted.
    await dm(client, alice).send_text(with_bob["id"], "hey bob")
    with pytest.raises(ApiError) as refused:
        await dm(client, alice).send_text(stranger["id"], "who are you?")
    assert refused.value.status == 409
    assert refused.value.problem["type"] == "/problems/instagram/message-request-pending"
    assert await texts(client, carol, stranger["id"]) == ["buy followers?"]

    accepted = await client.post(
        f"{DIRECT}/requests/{stranger['id']}/accept", headers=alice.headers
    )
    assert accepted.status_code == 200, accepted.text
    await dm(client, alice).send_text(stranger["id"], "ok, hello")
    assert await texts(client, carol, stranger["id"]) == ["buy followers?", "ok, hello"]
    assert set(await listed(client, alice, "inbox")) == {with_bob["id"], stranger["id"]}
    assert await listed(client, alice, "requests") == []
    # Only the recipient answers a request, and only once.
    again = await client.post(f"{DIRECT}/requests/{stranger['id']}/accept", headers=carol.headers)
    assert again.status_code == 404


async def test_a_declined_request_leaves_the_recipient_and_a_new_message_reopens_it(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, carol, eve = await ig_user(), await ig_user(), await ig_user()
    chat = await dm(client, carol).create_direct(alice.id)
    await dm(client, carol).send_text(chat["id"], "first")
    # Someone else cannot decide alice's request (not a member: like a missing thread).
    assert (
        await client.post(f"{DIRECT}/requests/{chat['id']}/decline", headers=eve.headers)
    ).status_code == 404
    declined = await client.post(f"{DIRECT}/requests/{chat['id']}/decline", headers=alice.headers)
    assert declined.status_code == 200, declined.text
    assert await listed(client, alice, "requests") == []
    assert await listed(client, alice, "inbox") == []
    assert await texts(client, alice, chat["id"]) == []  # her copy is cleared
    assert await texts(client, carol, chat["id"]) == ["first"]  # the sender is not told
    assert (
        await client.post(f"{DIRECT}/requests/{chat['id']}/decline", headers=alice.headers)
    ).status_code == 404

    await dm(client, carol).send_text(chat["id"], "second")
    assert await listed(client, alice, "requests") == [chat["id"]]
    assert await texts(client, alice, chat["id"]) == ["second"]


async def test_blocked_users_cannot_message_each_other_on_any_path(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, bob = await ig_user(), await ig_user()
    await follow(client, bob, alice)
    chat = await dm(client, bob).create_direct(alice.id)
    await dm(client, bob).send_text(chat["id"], "before")
    blocked = await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code == 204, blocked.text

    for sender in (bob, alice):  # whoever blocked, neither side gets through
        with pytest.raises(ApiError) as refused:
            await dm(client, sender).send_text(chat["id"], "after")
        assert refused.value.status == 403
        assert refused.value.problem["type"] == "/problems/instagram/direct-blocked"
    with pytest.raises(ApiError) as reopen:
        await dm(client, bob).create_direct(alice.id)
    assert reopen.value.status == 403
    assert await texts(client, alice, chat["id"]) == ["before"]

    unblocked = await client.delete(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert unblocked.status_code == 204
    await dm(client, alice).send_text(chat["id"], "sorry")
    assert await texts(client, bob, chat["id"]) == ["before", "sorry"]


async def test_a_shared_post_renders_only_for_recipients_who_may_see_it(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user(private=True)
    bob, carol = await ig_user(), await ig_user()
    await follow(client, bob, alice)  # a request: alice is private
    approved = await client.post(f"{API}/follow-requests/{bob.id}/approve", headers=alice.headers)
    assert approved.status_code in (200, 204), approved.text
    item = await upload(alice, small_png(), "image/png")
    post = (
        await client.post(
            f"{API}/photos",
            json={"media_ids": [item["id"]], "caption": "mine"},
            headers=alice.headers,
        )
    ).json()
    await follow(client, carol, alice)  # still pending: carol may not see alice's posts

    shared = await client.post(
        f"{DIRECT}/share",
        json={"post_id": post["id"], "user_ids": [bob.id, carol.id], "client_id": "s1"},
        headers=alice.headers,
    )
    assert shared.status_code == 201, shared.text
    items = shared.json()["items"]
    assert [i["user_id"] for i in items] == [bob.id, carol.id]
    assert all(i["message"]["kind"] == "share" for i in items)
    assert items[0]["message"]["data"] == {"post_id": post["id"]}
    retried = await client.post(
        f"{DIRECT}/share",
        json={"post_id": post["id"], "user_ids": [bob.id, carol.id], "client_id": "s1"},
        headers=alice.headers,
    )
    assert [i["message"]["seq"] for i in retried.json()["items"]] == [1, 1]  # nothing twice

    async def rendered(user: IgUser, conversation_id: str) -> Any:
        page = await client.get(
            f"{DIRECT}/conversations/{conversation_id}/messages", headers=user.headers
        )
        assert page.status_code == 200, page.text
        (message,) = page.json()["items"]
        return message["post"]

    bob_chat, carol_chat = (i["message"]["conversation_id"] for i in items)
    seen = await rendered(bob, bob_chat)
    assert seen["id"] == post["id"] and seen["body"] == "mine"
    assert await rendered(carol, carol_chat) is None
    assert (await rendered(alice, carol_chat))["id"] == post["id"]

    # Someone who cannot see the post cannot share it: not by the share route, not by a
    # hand-made "share" message through the engine's send route.
    refused = await client.post(
        f"{DIRECT}/share",
        json={"post_id": post["id"], "user_ids": [bob.id], "client_id": "s2"},
        headers=carol.headers,
    )
    assert refused.status_code == 404
    with_bob = await dm(client, carol).create_direct(bob.id)
    forged = await client.post(
        f"{DIRECT}/conversations/{with_bob['id']}/messages",
        json={"client_id": "f1", "kind": "share", "data": {"post_id": post["id"]}},
        headers=carol.headers,
    )
    assert forged.status_code == 404, forged.text
    assert forged.json()["type"] == "/problems/instagram/shared-post-not-found"

    # Visibility is decided at read time: once alice removes bob, the post stops rendering.
    removed = await client.delete(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert removed.status_code == 204
    assert await rendered(bob, bob_chat) is None


async def test_direct_threads_are_one_to_one_and_belong_to_instagram(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, bob = await ig_user(), await ig_user()
    group = await client.post(
        f"{DIRECT}/conversations",
        json={"kind": "group", "title": "g", "members": [bob.id]},
        headers=alice.headers,
    )
    assert group.status_code == 422
    assert group.json()["type"] == "/problems/instagram/direct-only"
    chat = await dm(client, alice).create_direct(bob.id)
    assert (await dm(client, alice).create_direct(bob.id))["id"] == chat["id"]
    # The engine's tables hold it under system "instagram": other systems do not see it.
    other = await client.get(
        f"/api/instant-messenger/conversations/{chat['id']}", headers=alice.headers
    )
    assert other.status_code == 404


async def test_the_direct_socket_delivers_and_enforces_the_same_rules(
    app: FastAPI, client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, bob = await ig_user(), await ig_user()
    await follow(client, alice, bob)
    devices = []
    for user in (alice, bob):
        device = await client.post(
            f"{DIRECT}/devices", json={"name": "phone"}, headers=user.headers
        )
        assert device.status_code == 201, device.text
        devices.append(device.json()["id"])
    chat = await dm(client, alice).create_direct(bob.id)
    async with serve_in_loop(app) as base:
        url = base.replace("http://", "ws://", 1) + "/ws/instagram/direct"
        async with (
            connect(url, token=alice.token, device_id=devices[0]) as alice_socket,
            connect(url, token=bob.token, device_id=devices[1]) as bob_socket,
        ):
            sent = await alice_socket.send_message(chat["id"], "over the socket")
            event = await bob_socket.next_event("message")
            assert event["message"]["body"] == "over the socket"
            assert event["seq"] == sent["seq"]
            blocked = await client.post(f"{API}/users/{alice.id}/block", headers=bob.headers)
            assert blocked.status_code == 204
            with pytest.raises(SocketError) as refused:
                await alice_socket.send_message(
                    chat["id"], "still there?", client_id=secrets.token_hex(4)
                )
            assert refused.value.status == 403
    assert await texts(client, bob, chat["id"]) == ["over the socket"]
