"""Posts on the timeline: the seed's endpoints with author-only edit and delete ("not
authorized"), photo posts through the blob store, shares, likes and nested comments, and the
accounts that own timelines."""

from __future__ import annotations

import struct
import zlib

import httpx
import pytest

from tests.systems.facebook_timeline.conftest import (
    API,
    Post,
    Timeline,
    TimelineIds,
    TimelineUser,
)


def tiny_png() -> bytes:
    """A valid 1x1 PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


@pytest.mark.feature("facebook-timeline", "user-accounts")
async def test_a_registered_user_logs_in_and_owns_a_timeline(client: httpx.AsyncClient) -> None:
    registered = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": "correct horse 12", "display_name": "Ada"},
    )
    assert registered.status_code == 201
    duplicate = await client.post(
        "/api/auth/register",
        json={"email": "ada@example.com", "password": "another pass 12", "display_name": "A"},
    )
    assert duplicate.status_code == 409
    wrong = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "wrong password"}
    )
    assert wrong.status_code == 401
    login = await client.post(
        "/api/auth/login", json={"email": "ada@example.com", "password": "correct horse 12"}
    )
    token = login.json()["access_token"]
    user_id = registered.json()["id"]
    made = await client.post(
        f"{API}/users/{user_id}/posts",
        json={"content": "first!"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert made.status_code == 201, made.text
    page = (await client.get(f"{API}/users/{user_id}/timeline")).json()
    assert page["user"] == {"id": user_id, "display_name": "Ada"}
    assert [i["body"] for i in page["items"]] == ["first!"]


@pytest.mark.feature("facebook-timeline", "posts")
async def test_only_the_author_edits_or_deletes(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, timeline: Timeline
) -> None:
    made = await client.post(
        f"{API}/users/{alice.id}/posts", json={"content": "v1"}, headers=alice.headers
    )
    post_id = made.json()["id"]
    on_other = await client.post(
        f"{API}/users/{alice.id}/posts", json={"content": "hijack"}, headers=bob.headers
    )
    assert on_other.status_code == 403
    edit = await client.put(
        f"{API}/users/{alice.id}/posts/{post_id}", json={"content": "evil"}, headers=bob.headers
    )
    assert edit.status_code == 403
    assert edit.json()["detail"] == "You are not authorized to edit this post."
    delete = await client.delete(f"{API}/users/{alice.id}/posts/{post_id}", headers=bob.headers)
    assert delete.status_code == 403
    assert delete.json()["detail"] == "You are not authorized to delete this post."
    wrong_timeline = await client.put(
        f"{API}/users/{bob.id}/posts/{post_id}", json={"content": "x"}, headers=alice.headers
    )
    assert wrong_timeline.status_code == 404
    empty = await client.put(
        f"{API}/users/{alice.id}/posts/{post_id}", json={"content": ""}, headers=alice.headers
    )
    assert empty.status_code == 422
    assert [i["body"] for i in (await timeline(alice, None))["items"]] == ["v1"]
    edited = await client.put(
        f"{API}/users/{alice.id}/posts/{post_id}", json={"content": "v2"}, headers=alice.headers
    )
    assert edited.status_code == 200 and edited.json()["body"] == "v2"
    deleted = await client.delete(f"{API}/users/{alice.id}/posts/{post_id}", headers=alice.headers)
    assert deleted.json() == {"message": f"Post with ID {post_id} has been deleted."}
    assert (await timeline(alice, None))["items"] == []


@pytest.mark.feature("facebook-timeline", "posts")
async def test_photo_posts_store_the_image_and_serve_it_by_audience(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, timeline: Timeline
) -> None:
    image = tiny_png()
    made = await client.post(
        f"{API}/photos",
        params={"caption": "sunset", "audience": "only_me"},
        content=image,
        headers={**alice.headers, "Content-Type": "image/png"},
    )
    assert made.status_code == 201, made.text
    assert made.json()["kind"] == "photo" and made.json()["body"] == "sunset"
    photo_id = made.json()["id"]
    own = await client.get(f"{API}/posts/{photo_id}/photo", headers=alice.headers)
    assert own.status_code == 200 and own.content == image
    assert own.headers["content-type"] == "image/png"
    assert (
        await client.get(f"{API}/posts/{photo_id}/photo", headers=bob.headers)
    ).status_code == 404
    assert (await client.get(f"{API}/posts/{photo_id}/photo")).status_code == 404
    assert [i["kind"] for i in (await timeline(alice, alice))["items"]] == ["photo"]
    for content_type, body in (
        ("image/png", b"not a png at all"),
        ("text/html", image),
        ("image/png", b""),
    ):
        refused = await client.post(
            f"{API}/photos", content=body, headers={**alice.headers, "Content-Type": content_type}
        )
        assert refused.status_code == 422, content_type
    assert len((await timeline(alice, alice))["items"]) == 1


@pytest.mark.feature("facebook-timeline", "posts")
async def test_shared_posts_appear_on_the_sharers_timeline(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    post: Post,
    timeline_ids: TimelineIds,
    timeline: Timeline,
) -> None:
    original = await post(bob, "worth sharing")
    shared = await client.post(
        f"{API}/posts/{original['id']}/shares", json={"body": "look"}, headers=alice.headers
    )
    assert shared.status_code == 201, shared.text
    items = (await timeline(alice, None))["items"]
    assert [i["kind"] for i in items] == ["share"]
    assert items[0]["data"]["shared_post_id"] == original["id"]


@pytest.mark.feature("facebook-timeline", "likes-comments")
async def test_likes_and_nested_comments_on_timeline_posts(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    post: Post,
    timeline: Timeline,
) -> None:
    item = await post(alice, "hello")
    liked = await client.put(
        f"{API}/posts/{item['id']}/reactions", json={"kind": "like"}, headers=bob.headers
    )
    assert liked.status_code == 200
    top = await client.post(
        f"{API}/posts/{item['id']}/comments", json={"body": "hi"}, headers=bob.headers
    )
    reply = await client.post(
        f"{API}/comments/{top.json()['id']}/replies", json={"body": "hey"}, headers=alice.headers
    )
    assert reply.status_code == 201, reply.text
    counts = (await timeline(alice, None))["items"][0]["counts"]
    assert counts["reactions"] == 1 and counts["comments"] == 2
    unliked = await client.delete(f"{API}/posts/{item['id']}/reactions", headers=bob.headers)
    assert unliked.status_code == 200
    assert (await timeline(alice, None))["items"][0]["counts"]["reactions"] == 0
    thread = await client.get(f"{API}/posts/{item['id']}/comments")
    assert [c["body"] for c in thread.json()["items"]] == ["hi", "hey"]


@pytest.mark.feature("facebook-timeline", "life-events")
async def test_life_events_and_photos_share_the_posting_rate_limit(
    client: httpx.AsyncClient, alice: TimelineUser, timeline: Timeline
) -> None:
    statuses = []
    for day in range(1, 16):
        created = await client.post(
            f"{API}/life-events",
            json={"type": "travel", "date": f"2020-01-{day:02d}"},
            headers=alice.headers,
        )
        statuses.append(created.status_code)
    photo = await client.post(
        f"{API}/photos",
        content=tiny_png(),
        headers={**alice.headers, "Content-Type": "image/png"},
    )
    assert set(statuses) == {201, 429} and photo.status_code == 429
    assert len((await timeline(alice, alice))["items"]) == statuses.count(201)
