"""The seed's group endpoints: `POST /groups/create`, `/groups/{id}/add_member` and
`/groups/{id}/remove_member`, with the engine's roles; outsiders see no group at all."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.systems.instant_messenger.conftest import API, ImUser, NewUser, Send, assert_problem

FEATURE = pytest.mark.feature("instant-messenger", "group-chats")


async def _members(client: httpx.AsyncClient, group: str, user: ImUser) -> list[str]:
    answer = await client.get(f"{API}/conversations/{group}/members", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return [m["user_id"] for m in answer.json()["items"]]


@FEATURE
async def test_create_add_and_remove_members(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, carol: ImUser, send: Send
) -> None:
    created = await client.post(
        f"{API}/groups/create",
        json={"group_name": "  Book club 📚 ", "members": [bob.id, alice.id]},
        headers=alice.headers,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    group = body["group_id"]
    assert body["group_name"] == "Book club 📚" and body["owner_id"] == alice.id
    assert body["members"] == [alice.id, bob.id]

    await send(alice, "before Carol", group=group)
    added = await client.post(
        f"{API}/groups/{group}/add_member", json={"user_id": carol.id}, headers=alice.headers
    )
    assert added.status_code == 200, added.text
    assert added.json() == {"group_id": group, "user_id": carol.id, "role": "member"}
    assert sorted(await _members(client, group, carol), key=int) == sorted(
        [alice.id, bob.id, carol.id], key=int
    )
    await send(bob, "after Carol", group=group)
    history = await client.get(f"{API}/conversations/{group}/messages", headers=carol.headers)
    assert [m["body"] for m in history.json()["items"]] == ["after Carol"]
    again = await client.post(
        f"{API}/groups/{group}/add_member", json={"user_id": carol.id}, headers=alice.headers
    )
    assert_problem(again, 409)

    removed = await client.post(
        f"{API}/groups/{group}/remove_member", json={"user_id": carol.id}, headers=alice.headers
    )
    assert removed.status_code == 200 and removed.json()["removed"] is True
    # Carol is out: the group no longer exists for her.
    assert_problem(
        await client.get(f"{API}/conversations/{group}/messages", headers=carol.headers), 404
    )
    gone = await client.post(
        f"{API}/messages/send",
        json={"group_id": group, "content": "still here?", "client_id": "c1"},
        headers=carol.headers,
    )
    assert_problem(gone, 404)

    left = await client.post(
        f"{API}/groups/{group}/remove_member", json={"user_id": bob.id}, headers=bob.headers
    )
    assert left.status_code == 200
    assert await _members(client, group, alice) == [alice.id]
    owner_leaves = await client.post(
        f"{API}/groups/{group}/remove_member", json={"user_id": alice.id}, headers=alice.headers
    )
    assert_problem(owner_leaves, 409)


@FEATURE
async def test_only_admins_change_members_and_outsiders_see_nothing(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser, carol: ImUser, new_user: NewUser
) -> None:
    created = await client.post(
        f"{API}/groups/create",
        json={"group_name": "Team", "members": [bob.id]},
        headers=alice.headers,
    )
    group = created.json()["group_id"]
    dave = await new_user()

    by_member = await client.post(
        f"{API}/groups/{group}/add_member", json={"user_id": carol.id}, headers=bob.headers
    )
    assert_problem(by_member, 403)
    kick_owner = await client.post(
        f"{API}/groups/{group}/remove_member", json={"user_id": alice.id}, headers=bob.headers
    )
    assert_problem(kick_owner, 403)
    by_outsider = await client.post(
        f"{API}/groups/{group}/add_member", json={"user_id": carol.id}, headers=dave.headers
    )
    kick_by_outsider = await client.post(
        f"{API}/groups/{group}/remove_member", json={"user_id": bob.id}, headers=dave.headers
    )
    missing = await client.post(
        f"{API}/groups/4242/add_member", json={"user_id": carol.id}, headers=alice.headers
    )
    assert (
        assert_problem(by_outsider, 404)["type"]
        == assert_problem(kick_by_outsider, 404)["type"]
        == assert_problem(missing, 404)["type"]
    )
    assert sorted(await _members(client, group, alice), key=int) == sorted(
        [alice.id, bob.id], key=int
    )

    # A direct chat's id is not a group.
    chat = await client.post(
        f"{API}/messages/send",
        json={"receiver_id": bob.id, "content": "hi", "client_id": "d"},
        headers=alice.headers,
    )
    direct = chat.json()["conversation_id"]
    for path in ("add_member", "remove_member"):
        assert_problem(
            await client.post(
                f"{API}/groups/{direct}/{path}", json={"user_id": carol.id}, headers=alice.headers
            ),
            404,
        )
    assert_problem(
        await client.post(
            f"{API}/messages/send",
            json={"group_id": direct, "content": "hi", "client_id": "x"},
            headers=alice.headers,
        ),
        404,
    )


@FEATURE
async def test_bad_group_requests_are_4xx_and_change_nothing(
    client: httpx.AsyncClient, alice: ImUser, bob: ImUser
) -> None:
    created = await client.post(
        f"{API}/groups/create",
        json={"group_name": "Team", "members": [bob.id]},
        headers=alice.headers,
    )
    group = created.json()["group_id"]
    for body in (
        {"group_name": ""},
        {"group_name": "   "},
        {"group_name": "x" * 129},
        {"group_name": "ok", "members": ["not-an-id"]},
        {"group_name": "ok", "members": [bob.id] * 1001},
        {"name": "seed's other spelling"},
    ):
        assert_problem(
            await client.post(f"{API}/groups/create", json=body, headers=alice.headers), 422
        )
    assert_problem(
        await client.post(
            f"{API}/groups/create",
            json={"group_name": "ok", "members": ["123456789"]},
            headers=alice.headers,
        ),
        404,
    )
    for body in ({}, {"user_id": "x"}, {"user_id": "0"}):
        assert_problem(
            await client.post(f"{API}/groups/{group}/add_member", json=body, headers=alice.headers),
            422,
        )
    assert_problem(
        await client.post(
            f"{API}/groups/{group}/add_member", json={"user_id": "123456789"}, headers=alice.headers
        ),
        404,
    )
    assert_problem(
        await client.post(
            f"{API}/groups/abc/add_member", json={"user_id": bob.id}, headers=alice.headers
        ),
        422,
    )
    assert_problem(await client.post(f"{API}/groups/create", json={"group_name": "x"}), 401)
    assert sorted(await _members(client, group, alice), key=int) == sorted(
        [alice.id, bob.id], key=int
    )


@FEATURE
async def test_members_added_concurrently_are_counted_exactly(
    client: httpx.AsyncClient, alice: ImUser, new_user: NewUser
) -> None:
    created = await client.post(
        f"{API}/groups/create", json={"group_name": "Crowd"}, headers=alice.headers
    )
    group = created.json()["group_id"]
    people = await asyncio.gather(*(new_user() for _ in range(8)))
    answers = await asyncio.gather(
        *(
            client.post(
                f"{API}/groups/{group}/add_member", json={"user_id": p.id}, headers=alice.headers
            )
            for p in people + people[:3]
        )
    )
    assert sorted(a.status_code for a in answers) == [200] * 8 + [409] * 3
    view = await client.get(f"{API}/conversations/{group}", headers=alice.headers)
    assert view.json()["member_count"] == 9
