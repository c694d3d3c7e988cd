"""Threaded comments: replies, ranked order within the thread, exact descendant counts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.systems.hacker_news.ranking import ThreadComment, thread_order
from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser, reply, submit, vote

pytestmark = pytest.mark.feature(SLUG, "comments")


async def test_replies_nest_and_the_thread_is_ranked_depth_first(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Discuss", url="https://c.example/1")
    older = await reply(client, bob, story["id"], "first")
    newer = await reply(client, alice, story["id"], "second")
    nested = await reply(client, alice, older["id"], "reply to first")
    assert set(nested) == {"id", "type", "by", "time", "parent", "text"}
    assert nested["parent"] == older["id"]
    # Two upvotes lift the newer top-level comment above the older one.
    for voter in [await new_user(), await new_user()]:
        assert (await vote(client, voter, newer["id"], "up")).status_code == 200
    item = (await client.get(f"{API}/v0/item/{story['id']}.json")).json()
    assert item["kids"] == [newer["id"], older["id"]]
    assert item["descendants"] == 3
    thread = (await client.get(f"{API}/items/{story['id']}/thread")).json()
    assert [(c["item"]["id"], c["depth"]) for c in thread["comments"]] == [
        (newer["id"], 0),
        (older["id"], 0),
        (nested["id"], 1),
    ]
    subtree = (await client.get(f"{API}/items/{older['id']}/thread")).json()
    assert [c["item"]["id"] for c in subtree["comments"]] == [nested["id"]]
    assert subtree["item"]["kids"] == [nested["id"]]


async def test_concurrent_comments_count_exactly(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Busy thread", url="https://c.example/2")
    users = [await new_user() for _ in range(5)]
    made = await asyncio.gather(
        *(reply(client, u, story["id"], f"c{n}") for n, u in enumerate(users * 2))
    )
    assert len({c["id"] for c in made}) == 10
    item = (await client.get(f"{API}/v0/item/{story['id']}.json")).json()
    assert item["descendants"] == 10
    assert sorted(item["kids"]) == sorted(c["id"] for c in made)


async def test_replies_to_missing_items_and_bad_text_are_refused(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    story = await submit(client, alice, "Quiet", url="https://c.example/3")
    missing = await client.post(
        f"{API}/items/999999999/comments", json={"text": "hi"}, headers=alice.headers
    )
    assert missing.status_code == 404
    empty = await client.post(
        f"{API}/items/{story['id']}/comments", json={"text": "   "}, headers=alice.headers
    )
    assert empty.status_code == 422
    anonymous = await client.post(f"{API}/items/{story['id']}/comments", json={"text": "hi"})
    assert anonymous.status_code == 401
    item = (await client.get(f"{API}/v0/item/{story['id']}.json")).json()
    assert item["descendants"] == 0 and "kids" not in item


async def test_threads_have_a_depth_limit(
    client: httpx.AsyncClient, alice: HnUser, configure: object
) -> None:
    configure(max_comment_depth=2)  # type: ignore[operator]
    story = await submit(client, alice, "Deep", url="https://c.example/4")
    first = await reply(client, alice, story["id"])
    second = await reply(client, alice, first["id"])
    too_deep = await client.post(
        f"{API}/items/{second['id']}/comments", json={"text": "x"}, headers=alice.headers
    )
    assert too_deep.status_code == 422
    assert too_deep.json()["type"] == "/problems/hacker-news/thread-too-deep"


def test_sibling_order_favours_votes_then_age() -> None:
    now = 10_000.0
    comments = [
        ThreadComment(id=2, parent_id=1, score=1, created=now - 60),
        ThreadComment(id=3, parent_id=1, score=1, created=now - 30),
        ThreadComment(id=4, parent_id=1, score=5, created=now - 10),
        ThreadComment(id=5, parent_id=2, score=1, created=now - 5),
        ThreadComment(id=6, parent_id=99, score=9, created=now),
    ]
    assert thread_order(1, comments, now, 1.8) == [(4, 0), (2, 0), (5, 1), (3, 0)]
