"""Authors edit and delete their own items within the 2-hour edit window; nobody else can."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.hacker_news.models import Item
from tests.systems.hacker_news.conftest import API, SLUG, HnUser, reply, submit

pytestmark = pytest.mark.feature(SLUG, "submissions")


async def age(platform: Platform, item_id: int, hours: float) -> None:
    """Pretend the item was posted `hours` ago."""
    async with platform.db.session() as session:
        await session.execute(
            update(Item)
            .where(Item.id == item_id)
            .values(created_at=utcnow() - timedelta(hours=hours))
        )


async def item(client: httpx.AsyncClient, item_id: int) -> dict[str, object]:
    body: dict[str, object] = (await client.get(f"{API}/v0/item/{item_id}.json")).json()
    return body


async def test_an_author_edits_their_story_and_a_new_title_moves_it_to_ask(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    story = await submit(client, alice, "First compilers", text="Which was yours?")
    edited = await client.patch(
        f"{API}/items/{story['id']}",
        json={"title": "Ask HN: First compilers?", "text": "Mine was A-0."},
        headers=alice.headers,
    )
    assert edited.status_code == 200, edited.text
    assert edited.json()["title"] == "Ask HN: First compilers?"
    assert edited.json()["text"] == "Mine was A-0."
    assert (await client.get(f"{API}/v0/askstories.json")).json() == [story["id"]]
    # A text story cannot be left with neither a URL nor text.
    emptied = await client.patch(
        f"{API}/items/{story['id']}", json={"title": "No text", "text": ""}, headers=alice.headers
    )
    assert emptied.status_code == 422
    assert (await item(client, story["id"]))["title"] == "Ask HN: First compilers?"


async def test_an_author_edits_a_comment_but_not_with_a_title_or_nothing(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Thread", url="https://e.example/1")
    comment = await reply(client, bob, story["id"], "teh typo")
    fixed = await client.patch(
        f"{API}/items/{comment['id']}", json={"text": "the typo"}, headers=bob.headers
    )
    assert fixed.status_code == 200 and fixed.json()["text"] == "the typo"
    for body in ({"title": "x", "text": "y"}, {}, {"text": "   "}):
        refused = await client.patch(f"{API}/items/{comment['id']}", json=body, headers=bob.headers)
        assert refused.status_code == 422, body
    assert (await item(client, comment["id"]))["text"] == "the typo"


async def test_nobody_else_edits_or_deletes_an_item(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Mine", url="https://e.example/2")
    edit = await client.patch(
        f"{API}/items/{story['id']}", json={"title": "Bob's now"}, headers=bob.headers
    )
    assert edit.status_code == 403
    assert edit.json()["type"].endswith("hacker-news/not-your-item")
    removed = await client.delete(f"{API}/items/{story['id']}", headers=bob.headers)
    assert removed.status_code == 403
    anonymous = await client.delete(f"{API}/items/{story['id']}")
    assert anonymous.status_code == 401
    after = await item(client, story["id"])
    assert after["title"] == "Mine" and "deleted" not in after
    assert (await client.delete(f"{API}/items/999999", headers=alice.headers)).status_code == 404


async def test_the_edit_window_closes_after_two_hours(
    client: httpx.AsyncClient, platform: Platform, alice: HnUser
) -> None:
    story = await submit(client, alice, "Old news", url="https://e.example/3")
    await age(platform, story["id"], 1.9)
    ok = await client.patch(
        f"{API}/items/{story['id']}", json={"title": "Still fresh"}, headers=alice.headers
    )
    assert ok.status_code == 200
    await age(platform, story["id"], 2.1)
    late = await client.patch(
        f"{API}/items/{story['id']}", json={"title": "Too late"}, headers=alice.headers
    )
    assert late.status_code == 403
    assert late.json()["type"].endswith("hacker-news/edit-window-closed")
    assert (
        await client.delete(f"{API}/items/{story['id']}", headers=alice.headers)
    ).status_code == 403
    assert (await item(client, story["id"]))["title"] == "Still fresh"


async def test_a_deleted_comment_shows_deleted_without_its_text_and_keeps_its_replies(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Deletions", url="https://e.example/4")
    comment = await reply(client, bob, story["id"], "regrettable")
    answer = await reply(client, alice, comment["id"], "an answer")
    response = await client.delete(f"{API}/items/{comment['id']}", headers=bob.headers)
    assert response.status_code == 204
    shown = await item(client, comment["id"])
    assert shown == {
        "id": comment["id"],
        "type": "comment",
        "time": comment["time"],
        "deleted": True,
        "parent": story["id"],
        "kids": [answer["id"]],
    }
    assert (await item(client, story["id"]))["descendants"] == 1
    again = await client.delete(f"{API}/items/{comment['id']}", headers=bob.headers)
    assert again.status_code == 404
    edit = await client.patch(
        f"{API}/items/{comment['id']}", json={"text": "back"}, headers=bob.headers
    )
    assert edit.status_code == 404
    # No one replies to or votes on what is gone.
    late_reply = await client.post(
        f"{API}/items/{comment['id']}/comments", json={"text": "hm"}, headers=alice.headers
    )
    assert late_reply.status_code == 404


async def test_a_deleted_story_leaves_the_lists_and_frees_its_url(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Show HN: Gone soon", url="https://e.example/5")
    await client.post(f"{API}/items/{story['id']}/vote", json={"how": "up"}, headers=bob.headers)
    assert story["id"] in (await client.get(f"{API}/v0/topstories.json")).json()
    assert (
        await client.delete(f"{API}/items/{story['id']}", headers=alice.headers)
    ).status_code == 204
    shown = await item(client, story["id"])
    assert shown["deleted"] is True
    assert {"title", "url", "by", "text"}.isdisjoint(shown)
    for listing in ("topstories", "newstories", "showstories"):
        assert story["id"] not in (await client.get(f"{API}/v0/{listing}.json")).json()
    again = await submit(client, bob, "The same link", url="https://e.example/5")
    assert again["id"] != story["id"]


async def test_concurrent_deletes_of_one_comment_count_once(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Race", url="https://e.example/6")
    comments = [await reply(client, bob, story["id"], f"c{n}") for n in range(3)]
    answers = await asyncio.gather(
        *(client.delete(f"{API}/items/{comments[0]['id']}", headers=bob.headers) for _ in range(6))
    )
    assert sorted(a.status_code for a in answers) == [204] + [404] * 5
    assert (await item(client, story["id"]))["descendants"] == 2
