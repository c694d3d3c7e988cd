"""Public Accounts at /api/viber/public-accounts: create, follow/unfollow with exact counts under
concurrency, posts broadcast (fan-out on read), per-follower threads answered by admins,
discovery by category and search, and who may do what."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from tests.systems.viber.conftest import API, NewUser, ViberUser

PA = f"{API}/public-accounts"


async def create_account(
    client: httpx.AsyncClient, owner: ViberUser, **fields: Any
) -> dict[str, Any]:
    body = {"handle": "pizza_place", "name": "Pizza Place", "category": "food", **fields}
    created = await client.post(PA, json=body, headers=owner.headers)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


@pytest.mark.feature("viber", "public-accounts")
async def test_follower_count_is_exact_under_concurrent_follows_and_unfollows(
    client: httpx.AsyncClient, alice: ViberUser, new_user: NewUser
) -> None:
    account = await create_account(client, alice)
    assert account["followers"] == 0
    fans = [await new_user(f"Fan {n}") for n in range(8)]

    async def follow(user: ViberUser) -> httpx.Response:
        return await client.put(f"{PA}/{account['id']}/follow", headers=user.headers)

    # Everyone follows twice at once: idempotent, each counted once.
    answers = await asyncio.gather(*(follow(u) for u in fans + fans))
    assert {a.status_code for a in answers} == {200}
    got = await client.get(f"{PA}/{account['id']}", headers=fans[0].headers)
    assert got.json()["followers"] == 8 and got.json()["following"] is True

    leaving = fans[:3]
    await asyncio.gather(
        *(
            client.delete(f"{PA}/{account['id']}/follow", headers=u.headers)
            for u in leaving + leaving
        )
    )
    after = await client.get(f"{PA}/{account['id']}", headers=alice.headers)
    assert after.json()["followers"] == 5 and after.json()["following"] is False
    # The owner runs the account and does not count as a follower.
    assert (await follow(alice)).status_code == 409


@pytest.mark.feature("viber", "public-accounts")
async def test_posts_reach_followers_and_threads_are_answered_by_admins(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser, carol: ViberUser, new_user: NewUser
) -> None:
    account = await create_account(
        client, alice, handle="city_news", name="City News", category="news"
    )
    await client.put(f"{PA}/{account['id']}/follow", headers=bob.headers)
    for n in range(3):
        posted = await client.post(
            f"{PA}/{account['id']}/posts", json={"body": f"headline {n}"}, headers=alice.headers
        )
        assert posted.status_code == 201, posted.text
    refused = await client.post(
        f"{PA}/{account['id']}/posts", json={"body": "spam"}, headers=bob.headers
    )
    assert refused.status_code == 403

    # One stored post per broadcast: followers read the channel, anyone reads the posts.
    channel = await client.get(
        f"{API}/conversations/{account['channel_id']}/messages", headers=bob.headers
    )
    assert [m["body"] for m in channel.json()["items"]] == [
        "headline 2",
        "headline 1",
        "headline 0",
    ]
    page = await client.get(
        f"{PA}/{account['id']}/posts", params={"limit": 2}, headers=carol.headers
    )
    assert [m["body"] for m in page.json()["items"]] == ["headline 2", "headline 1"]
    rest = await client.get(
        f"{PA}/{account['id']}/posts",
        params={"before": page.json()["next_before"]},
        headers=carol.headers,
    )
    assert [m["body"] for m in rest.json()["items"]] == ["headline 0"]

    # A follower writes; one thread even for concurrent first messages.
    writes = await asyncio.gather(
        *(
            client.post(
                f"{PA}/{account['id']}/messages",
                json={"body": f"question {n}"},
                headers=bob.headers,
            )
            for n in range(4)
        )
    )
    assert {w.status_code for w in writes} == {201}
    thread_ids = {w.json()["thread_id"] for w in writes}
    assert len(thread_ids) == 1
    thread_id = thread_ids.pop()

    # A second admin joins and answers; the follower sees both the questions and the answer.
    dave = await new_user("Dave")
    promoted = await client.post(
        f"{PA}/{account['id']}/admins", json={"user_id": dave.id}, headers=alice.headers
    )
    assert promoted.status_code == 201 and dave.id in promoted.json()["admins"]
    not_owner = await client.post(
        f"{PA}/{account['id']}/admins", json={"user_id": carol.id}, headers=dave.headers
    )
    assert not_owner.status_code == 403
    inbox = await client.get(f"{PA}/{account['id']}/threads", headers=dave.headers)
    assert [t["user_id"] for t in inbox.json()["items"]] == [bob.id]
    answer = await client.post(
        f"{PA}/{account['id']}/threads/{bob.id}/messages",
        json={"body": "Happy to help"},
        headers=dave.headers,
    )
    assert answer.status_code == 201 and answer.json()["thread_id"] == thread_id
    seen = await client.get(f"{API}/conversations/{thread_id}/messages", headers=bob.headers)
    bodies = [m["body"] for m in seen.json()["items"]]
    assert bodies[0] == "Happy to help" and sorted(bodies[1:]) == [
        f"question {n}" for n in range(4)
    ]
    # Dave posts to the channel now; the follower count is unchanged by the new admin.
    assert (
        await client.post(f"{PA}/{account['id']}/posts", json={"body": "hi"}, headers=dave.headers)
    ).status_code == 201
    assert (await client.get(f"{PA}/{account['id']}", headers=carol.headers)).json()[
        "followers"
    ] == 1

    # Another user cannot read Bob's thread or the inbox, nor answer.
    assert (
        await client.get(f"{API}/conversations/{thread_id}/messages", headers=carol.headers)
    ).status_code == 404
    assert (
        await client.get(f"{PA}/{account['id']}/threads", headers=carol.headers)
    ).status_code == 403
    assert (
        await client.post(
            f"{PA}/{account['id']}/threads/{bob.id}/messages",
            json={"body": "x"},
            headers=carol.headers,
        )
    ).status_code == 403


@pytest.mark.feature("viber", "public-accounts")
async def test_discovery_by_category_and_search(
    client: httpx.AsyncClient, alice: ViberUser, bob: ViberUser
) -> None:
    await create_account(client, alice, handle="pizza_place", name="Pizza Place", category="food")
    await create_account(client, alice, handle="sushi_bar", name="Sushi Bar", category="food")
    await create_account(client, bob, handle="daily_sport", name="Daily Sport", category="sports")
    food = await client.get(PA, params={"category": "food"}, headers=bob.headers)
    assert [a["handle"] for a in food.json()["items"]] == ["sushi_bar", "pizza_place"]
    found = await client.get(PA, params={"q": "SPORT"}, headers=alice.headers)
    assert [a["handle"] for a in found.json()["items"]] == ["daily_sport"]
    paged = await client.get(PA, params={"limit": 2}, headers=alice.headers)
    assert len(paged.json()["items"]) == 2
    rest = await client.get(
        PA, params={"before": paged.json()["next_before"]}, headers=alice.headers
    )
    assert [a["handle"] for a in rest.json()["items"]] == ["pizza_place"]

    taken = await client.post(
        PA, json={"handle": "Pizza_Place", "name": "Other", "category": "food"}, headers=bob.headers
    )
    assert taken.status_code == 409
    for bad in (
        {"handle": "pz", "name": "x", "category": "food"},
        {"handle": "valid_one", "name": "x", "category": "casino"},
    ):
        assert (await client.post(PA, json=bad, headers=bob.headers)).status_code == 422
    assert (await client.get(f"{PA}/12345", headers=bob.headers)).status_code == 404
