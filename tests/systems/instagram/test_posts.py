"""Photo, video and carousel posts on the feed engine: captions, user tags, locations,
audiences, the home feed, likes and comments."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.instagram.conftest import API, NewUser, Upload, settle, small_png


@pytest.mark.feature("instagram", "posts")
async def test_a_carousel_with_caption_tags_and_location_reaches_followers(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    items = [await upload(alice, small_png((i * 60, 10, 10)), "image/png") for i in range(3)]
    assert (
        await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    ).status_code == 200
    posted = await client.post(
        f"{API}/photos",
        json={
            "caption": "Sunset at the #Seine with @" + carol.handle + " #paris #Paris",
            "media_ids": [m["id"] for m in items],
            "location": {"name": "Pont  Neuf", "latitude": 48.857, "longitude": 2.341},
            "user_tags": [{"handle": carol.handle, "media_index": 2, "x": 0.3, "y": 0.7}],
        },
        headers=alice.headers,
    )
    assert posted.status_code == 201, posted.text
    post = posted.json()
    data = post["data"]
    assert data["kind"] == "carousel"
    assert [m["id"] for m in data["media"]] == [m["id"] for m in items]
    assert data["hashtags"] == ["seine", "paris"]
    assert data["location"]["name"] == "Pont Neuf"
    assert data["user_tags"][0]["user_id"] == carol.id
    await settle(platform, post["id"])
    feed = await client.get(f"{API}/feed", headers=bob.headers)
    assert [p["id"] for p in feed.json()["items"]] == [post["id"]]
    # The tagged user is notified; the media is now readable by followers and anyone (public).
    notes = await client.get(f"{API}/notifications", headers=carol.headers)
    assert [n["kind"] for n in notes.json()["items"]] == ["mention"]
    rendition = await client.get(data["media"][0]["variants"]["320"])
    assert rendition.status_code == 200


@pytest.mark.feature("instagram", "posts")
async def test_bad_posts_are_refused_and_change_nothing(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    mine = await upload(alice, small_png(), "image/png")
    theirs = await upload(bob, small_png(), "image/png")
    cases = [
        ({"media_ids": []}, 422),
        ({"media_ids": [mine["id"]] * 2}, 422),
        ({"media_ids": [str(i) for i in range(1, 12)]}, 422),
        ({"media_ids": [theirs["id"]]}, 404),
        ({"media_ids": [mine["id"]], "audience": "friends"}, 422),
        ({"media_ids": [mine["id"]], "user_tags": [{"handle": "nobody_here"}]}, 422),
        ({"media_ids": [mine["id"]], "user_tags": [{"handle": bob.handle, "media_index": 3}]}, 422),
        ({"media_ids": [mine["id"]], "caption": " ".join(f"#t{i}" for i in range(31))}, 422),
    ]
    for body, status in cases:
        response = await client.post(f"{API}/photos", json=body, headers=alice.headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    wall = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    assert wall.json()["items"] == []
    ok = await client.post(f"{API}/photos", json={"media_ids": [mine["id"]]}, headers=alice.headers)
    assert ok.status_code == 201  # the media was not consumed by the refused attempts


@pytest.mark.feature("instagram", "posts")
async def test_two_concurrent_posts_cannot_share_a_media_item(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    item = await upload(alice, small_png(), "image/png")
    answers = await asyncio.gather(
        *(
            client.post(f"{API}/photos", json={"media_ids": [item["id"]]}, headers=alice.headers)
            for _ in range(4)
        )
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses == [201, 409, 409, 409], [a.text for a in answers]
    wall = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    assert len(wall.json()["items"]) == 1


@pytest.mark.feature("instagram", "private-accounts")
async def test_a_private_accounts_photos_are_for_approved_followers_only(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice = await ig_user(private=True)
    bob, eve = await ig_user(), await ig_user()
    item = await upload(alice, small_png(), "image/png")
    post = (
        await client.post(
            f"{API}/photos",
            json={"media_ids": [item["id"]], "caption": "#secret"},
            headers=alice.headers,
        )
    ).json()
    requested = await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert requested.json()["status"] == "pending"
    rendition = item["variants"]["320"]
    for user in (bob, eve):
        assert (
            await client.get(f"{API}/posts/{post['id']}", headers=user.headers)
        ).status_code == 404
        assert (await client.get(rendition, headers=user.headers)).status_code == 404
        tagged = await client.get(f"{API}/hashtags/secret/posts", headers=user.headers)
        assert tagged.json()["items"] == []
    approved = await client.post(f"{API}/follow-requests/{bob.id}/approve", headers=alice.headers)
    assert approved.status_code in (200, 204), approved.text
    assert (await client.get(f"{API}/posts/{post['id']}", headers=bob.headers)).status_code == 200
    assert (await client.get(rendition, headers=bob.headers)).status_code == 200
    assert (await client.get(rendition, headers=eve.headers)).status_code == 404
    tagged = await client.get(f"{API}/hashtags/secret/posts", headers=bob.headers)
    assert [p["id"] for p in tagged.json()["items"]] == [post["id"]]


@pytest.mark.feature("instagram", "likes-comments")
async def test_likes_are_once_per_user_and_exact_under_concurrency(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    fans = [await ig_user() for _ in range(5)]
    item = await upload(alice, small_png(), "image/png")
    post = (
        await client.post(f"{API}/photos", json={"media_ids": [item["id"]]}, headers=alice.headers)
    ).json()
    likes = [
        client.put(f"{API}/posts/{post['id']}/reactions", json={"kind": "like"}, headers=f.headers)
        for f in fans
        for _ in range(2)
    ]
    assert all(r.status_code == 200 for r in await asyncio.gather(*likes))
    comment = await client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": "lovely"}, headers=fans[0].headers
    )
    assert comment.status_code == 201, comment.text
    reply = await client.post(
        f"{API}/comments/{comment.json()['id']}/replies",
        json={"body": "thanks"},
        headers=alice.headers,
    )
    assert reply.status_code == 201, reply.text
    got = (await client.get(f"{API}/posts/{post['id']}", headers=alice.headers)).json()
    assert got["counts"]["reactions"] == 5
    assert got["counts"]["comments"] == 2


@pytest.mark.feature("instagram", "posts")
async def test_only_the_author_edits_a_caption_and_hashtags_follow_it(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice, bob = await ig_user(), await ig_user()
    item = await upload(alice, small_png(), "image/png")
    post = (
        await client.post(
            f"{API}/photos",
            json={"media_ids": [item["id"]], "caption": "#old"},
            headers=alice.headers,
        )
    ).json()
    denied = await client.patch(
        f"{API}/photos/{post['id']}", json={"caption": "#hacked"}, headers=bob.headers
    )
    assert denied.status_code == 403
    edited = await client.patch(
        f"{API}/photos/{post['id']}", json={"caption": "now #new"}, headers=alice.headers
    )
    assert edited.status_code == 200 and edited.json()["data"]["hashtags"] == ["new"]
    assert (await client.get(f"{API}/hashtags/old/posts")).json()["items"] == []
    assert [p["id"] for p in (await client.get(f"{API}/hashtags/new/posts")).json()["items"]] == [
        post["id"]
    ]
    assert (await client.get(f"{API}/hashtags/hacked/posts")).json()["items"] == []
