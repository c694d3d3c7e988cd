"""Votes: one per user per item, undoable, downvotes gated by karma, exact score and karma under
concurrency, private voting history."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser, karma, submit, vote

pytestmark = pytest.mark.feature(SLUG, "voting")


async def score(client: httpx.AsyncClient, item_id: int) -> int:
    value: int = (await client.get(f"{API}/v0/item/{item_id}.json")).json()["score"]
    return value


async def test_upvote_counts_once_and_unvote_takes_it_back(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "A story", url="https://v.example/1")
    assert story["score"] == 1
    first = await vote(client, bob, story["id"], "up")
    assert first.json() == {"id": story["id"], "score": 2, "vote": "up"}
    again = await vote(client, bob, story["id"], "up")
    assert again.json()["score"] == 2
    assert await karma(client, alice.username) == 2
    undone = await vote(client, bob, story["id"], "un")
    assert undone.json() == {"id": story["id"], "score": 1, "vote": None}
    assert await karma(client, alice.username) == 1
    assert (await vote(client, bob, story["id"], "un")).json()["score"] == 1


async def test_no_votes_on_your_own_items_or_missing_ones(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    story = await submit(client, alice, "Mine", url="https://v.example/2")
    own = await vote(client, alice, story["id"], "up")
    assert own.status_code == 403
    assert own.json()["type"] == "/problems/hacker-news/own-item"
    missing = await vote(client, alice, 10**9, "up")
    assert missing.status_code == 404
    bad = await client.post(
        f"{API}/items/{story['id']}/vote", json={"how": "sideways"}, headers=alice.headers
    )
    assert bad.status_code == 422
    anonymous = await client.post(f"{API}/items/{story['id']}/vote", json={"how": "up"})
    assert anonymous.status_code == 401
    assert await score(client, story["id"]) == 1


async def test_downvotes_need_karma(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser, configure: object
) -> None:
    story = await submit(client, alice, "Contested", url="https://v.example/3")
    poor = await new_user()
    refused = await vote(client, poor, story["id"], "down")
    assert refused.status_code == 403
    assert refused.json()["type"] == "/problems/hacker-news/not-enough-karma"
    rich = await new_user(karma=600)
    assert (await vote(client, rich, story["id"], "down")).json() == {
        "id": story["id"],
        "score": 0,
        "vote": "down",
    }
    flipped = await vote(client, rich, story["id"], "up")
    assert flipped.json()["score"] == 2
    assert await karma(client, alice.username) == 2


async def test_concurrent_votes_are_counted_exactly(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Popular", url="https://v.example/4")
    voters = [await new_user() for _ in range(8)]
    # Every voter races itself too: each sends its upvote three times at once.
    responses = await asyncio.gather(
        *(vote(client, v, story["id"], "up") for v in voters for _ in range(3))
    )
    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    assert await score(client, story["id"]) == 9
    assert await karma(client, alice.username) == 9
    undone = await asyncio.gather(
        *(vote(client, v, story["id"], "un") for v in voters[:5] for _ in range(2))
    )
    assert all(r.status_code == 200 for r in undone)
    assert await score(client, story["id"]) == 4
    assert await karma(client, alice.username) == 4


@pytest.mark.feature(SLUG, "user-profiles")
async def test_voting_history_is_private_to_the_voter(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    first = await submit(client, alice, "One", url="https://v.example/5")
    second = await submit(client, alice, "Two", url="https://v.example/6")
    await vote(client, bob, first["id"], "up")
    await vote(client, bob, second["id"], "up")
    mine = (await client.get(f"{API}/me/votes", headers=bob.headers)).json()
    assert [v["item_id"] for v in mine["votes"]] == [second["id"], first["id"]]
    assert (await client.get(f"{API}/me/votes", headers=alice.headers)).json()["votes"] == []
    assert (await client.get(f"{API}/me/votes")).status_code == 401
    paged = (await client.get(f"{API}/me/votes?limit=1", headers=bob.headers)).json()
    rest = (
        await client.get(
            f"{API}/me/votes?limit=1&before={paged['next_before']}", headers=bob.headers
        )
    ).json()
    assert [v["item_id"] for v in paged["votes"] + rest["votes"]] == [second["id"], first["id"]]
