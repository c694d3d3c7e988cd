"""Explore (trending hashtags and posts) and search (users, hashtags, locations)."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.instagram.conftest import API, IgUser, NewUser, Upload, small_png


async def _post(
    client: httpx.AsyncClient, upload: Upload, user: IgUser, caption: str, **extra: object
) -> str:
    item = await upload(user, small_png(), "image/png")
    made = await client.post(
        f"{API}/photos",
        json={"media_ids": [item["id"]], "caption": caption, **extra},
        headers=user.headers,
    )
    assert made.status_code == 201, made.text
    post_id: str = made.json()["id"]
    return post_id


@pytest.mark.feature("instagram", "explore")
async def test_trending_follows_engagement_and_never_counts_private_posts(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    hidden = await ig_user(private=True)
    liked = await _post(client, upload, alice, "#coffee morning")
    await _post(client, upload, bob, "#tea time")
    await _post(client, upload, hidden, "#secretclub #secretclub")
    for fan in [await ig_user() for _ in range(3)]:
        await client.put(
            f"{API}/posts/{liked}/reactions", json={"kind": "like"}, headers=fan.headers
        )
    tags = (await client.get(f"{API}/explore/hashtags")).json()["items"]
    assert [t["tag"] for t in tags] == ["coffee", "tea"]
    assert tags[0]["score"] > tags[1]["score"]
    posts = (await client.get(f"{API}/explore/posts", headers=bob.headers)).json()["items"]
    assert posts[0]["id"] == liked and len(posts) == 2
    # A block hides the blocker's posts from the blocked user's explore.
    await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    posts = (await client.get(f"{API}/explore/posts", headers=bob.headers)).json()["items"]
    assert liked not in [p["id"] for p in posts]


@pytest.mark.feature("instagram", "search")
async def test_search_finds_users_hashtags_and_locations(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user("zebra_photos")
    bob = await ig_user("zebu_fan")
    post = await _post(client, upload, alice, "#zoo day", location={"name": "Zürich Zoo"})
    found = (await client.get(f"{API}/search", params={"q": "ZE"}, headers=bob.headers)).json()
    assert [u["handle"] for u in found["users"]] == ["zebra_photos", "zebu_fan"]
    assert (await client.get(f"{API}/search", params={"q": "#zo"})).json()["hashtags"] == [
        {"tag": "zoo", "posts": 1}
    ]
    places = (await client.get(f"{API}/search", params={"q": "zürich"})).json()["locations"]
    assert [p["name"] for p in places] == ["Zürich Zoo"]
    at = (await client.get(f"{API}/locations/{places[0]['id']}/posts")).json()["items"]
    assert [p["id"] for p in at] == [post]
    await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    found = (await client.get(f"{API}/search", params={"q": "ze"}, headers=bob.headers)).json()
    assert [u["handle"] for u in found["users"]] == ["zebu_fan"]
    bad = await client.get(f"{API}/search", params={"q": "%%%"})
    assert bad.status_code == 422
