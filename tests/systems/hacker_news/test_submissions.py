"""Submissions: links, Ask HN, Show HN, text stories; duplicate URLs; validation."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.systems.hacker_news.urls import normalized
from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser, submit

pytestmark = pytest.mark.feature(SLUG, "submissions")


@pytest.mark.feature(SLUG, "hn-api")
async def test_a_link_story_reads_back_in_the_hn_api_shape(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    story = await submit(
        client, alice, "My YC app: Dropbox", url="http://www.getdropbox.com/u/2/screencast.html"
    )
    assert set(story) == {"id", "type", "by", "time", "title", "url", "score", "descendants"}
    assert story["type"] == "story" and story["by"] == alice.username
    assert story["score"] == 1 and story["descendants"] == 0
    maxitem = (await client.get(f"{API}/v0/maxitem.json")).json()
    assert maxitem == story["id"]
    missing = await client.get(f"{API}/v0/item/{maxitem + 1000}.json")
    assert missing.status_code == 200 and missing.json() is None
    assert (await client.get(f"{API}/v0/item/abc.json")).status_code == 422


async def test_ask_and_show_go_to_their_lists(client: httpx.AsyncClient, alice: HnUser) -> None:
    ask = await submit(client, alice, "Ask HN: How do you test?", text="Curious.")
    show = await submit(client, alice, "Show HN: A thing I made", url="https://show.example/")
    link = await submit(client, alice, "Plain link", url="https://plain.example/")
    assert "url" not in ask and ask["text"] == "Curious."
    asks = (await client.get(f"{API}/v0/askstories.json")).json()
    shows = (await client.get(f"{API}/v0/showstories.json")).json()
    top = (await client.get(f"{API}/v0/topstories.json")).json()
    new = (await client.get(f"{API}/v0/newstories.json")).json()
    assert asks == [ask["id"]] and shows == [show["id"]]
    assert set(top) == {ask["id"], show["id"], link["id"]}
    assert new == [link["id"], show["id"], ask["id"]]


async def test_the_same_link_is_refused_as_a_duplicate(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    first = await submit(
        client, alice, "Original", url="https://Example.com/post/?utm_source=x&b=2&a=1"
    )
    for variant in (
        "http://www.example.com/post?a=1&b=2",
        "https://example.com/post/?b=2&a=1#comments",
    ):
        dupe = await client.post(
            f"{API}/stories", json={"title": "Again", "url": variant}, headers=bob.headers
        )
        assert dupe.status_code == 409, variant
        assert dupe.json()["existing_id"] == first["id"]
    other = await client.post(
        f"{API}/stories",
        json={"title": "Other", "url": "https://example.com/post?a=2&b=2"},
        headers=bob.headers,
    )
    assert other.status_code == 201


async def test_concurrent_submissions_of_one_link_make_one_story(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    users = [await new_user() for _ in range(6)]
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/stories",
                json={"title": "Race", "url": "https://race.example/a"},
                headers=u.headers,
            )
            for u in users
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201, 409, 409, 409, 409, 409]
    winner = next(r.json()["id"] for r in responses if r.status_code == 201)
    assert all(r.json()["existing_id"] == winner for r in responses if r.status_code == 409)


async def test_bad_submissions_change_nothing(client: httpx.AsyncClient, alice: HnUser) -> None:
    before = (await client.get(f"{API}/v0/maxitem.json")).json()
    cases = [
        {"title": "", "url": "https://x.example/"},
        {"title": "   ", "url": "https://x.example/"},
        {"title": "x" * 81, "url": "https://x.example/"},
        {"title": "No url, no text"},
        {"title": "Bad scheme", "url": "javascript:alert(1)"},
        {"title": "Relative", "url": "/just/a/path"},
        {"title": "Extra", "url": "https://x.example/", "sneaky": 1},
    ]
    for body in cases:
        response = await client.post(f"{API}/stories", json=body, headers=alice.headers)
        assert response.status_code == 422, body
        assert response.headers["content-type"].startswith("application/problem+json")
    assert (
        await client.post(f"{API}/stories", json={"title": "t", "url": "https://x.example/"})
    ).status_code == 401
    assert (await client.get(f"{API}/v0/maxitem.json")).json() == before


def test_normalized_urls_fold_what_does_not_change_the_page() -> None:
    assert (
        normalized("HTTP://WWW.Example.com:80/a/?utm_medium=x&z=1&y=2#frag")
        == "https://example.com/a?y=2&z=1"
    )
    assert normalized("https://example.com:8443/a") == "https://example.com:8443/a"
