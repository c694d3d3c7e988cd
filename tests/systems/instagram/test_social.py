"""Follows (with requests for private accounts), the home feed, notifications, reports and
blocks — the feed engine's routes as mounted for Instagram, over Instagram's photo posts."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.instagram.conftest import API, IgUser, NewUser, Upload, settle, small_png


async def _photo(
    client: httpx.AsyncClient,
    upload: Upload,
    platform: Platform,
    user: IgUser,
    caption: str = "",
    **extra: object,
) -> str:
    item = await upload(user, small_png(), "image/png")
    made = await client.post(
        f"{API}/photos",
        json={"media_ids": [item["id"]], "caption": caption, **extra},
        headers=user.headers,
    )
    assert made.status_code == 201, made.text
    post_id: str = made.json()["id"]
    await settle(platform, post_id)
    return post_id


async def _feed(client: httpx.AsyncClient, user: IgUser, query: str = "") -> list[str]:
    response = await client.get(f"{API}/feed{query}", headers=user.headers)
    assert response.status_code == 200, response.text
    return [p["id"] for p in response.json()["items"]]


@pytest.mark.feature("instagram", "follow")
async def test_follow_unfollow_and_the_follower_and_following_lists(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    for user in (bob, carol):
        followed = await client.post(f"{API}/users/{alice.id}/follow", headers=user.headers)
        assert followed.status_code == 200 and followed.json()["status"] == "active"
    again = await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert again.json()["status"] == "active"  # idempotent: still one edge
    followers = (await client.get(f"{API}/users/{alice.id}/followers")).json()["user_ids"]
    assert sorted(followers) == sorted([bob.id, carol.id])
    following = (await client.get(f"{API}/users/{bob.id}/following")).json()["user_ids"]
    assert following == [alice.id]
    profile = (await client.get(f"{API}/profiles/{alice.id}")).json()
    assert profile["counts"]["followers"] == 2
    assert (
        await client.delete(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    ).status_code == 204
    assert (await client.get(f"{API}/users/{alice.id}/followers")).json()["user_ids"] == [carol.id]
    assert (await client.get(f"{API}/profiles/{alice.id}")).json()["counts"]["followers"] == 1
    me = await client.post(f"{API}/users/{alice.id}/follow", headers=alice.headers)
    assert me.status_code == 422
    nobody = await client.post(f"{API}/users/{2**62}/follow", headers=alice.headers)
    assert nobody.status_code == 404
    assert (await client.post(f"{API}/users/{alice.id}/follow")).status_code == 401


@pytest.mark.feature("instagram", "follow")
async def test_concurrent_follows_count_every_follower_exactly_once(
    client: httpx.AsyncClient, ig_user: NewUser
) -> None:
    star = await ig_user()
    fans = [await ig_user() for _ in range(6)]
    # Each fan follows twice at once: six distinct edges, whatever the interleaving.
    results = await asyncio.gather(
        *(client.post(f"{API}/users/{star.id}/follow", headers=fan.headers) for fan in fans + fans)
    )
    assert all(r.status_code == 200 for r in results), [r.text for r in results]
    profile = (await client.get(f"{API}/profiles/{star.id}")).json()
    assert profile["counts"]["followers"] == 6
    listed = (await client.get(f"{API}/users/{star.id}/followers?limit=100")).json()["user_ids"]
    assert sorted(listed) == sorted(f.id for f in fans)


@pytest.mark.feature("instagram", "follow")
@pytest.mark.feature("instagram", "private-accounts")
async def test_follow_requests_to_a_private_account_are_approved_or_declined(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    owner = await ig_user(private=True)
    asker, other = await ig_user(), await ig_user()
    post = await _photo(client, upload, platform, owner, "for followers")
    for user in (asker, other):
        asked = await client.post(f"{API}/users/{owner.id}/follow", headers=user.headers)
        assert asked.json()["status"] == "pending"
    pending = (await client.get(f"{API}/follow-requests", headers=owner.headers)).json()
    assert pending["user_ids"] == [asker.id, other.id]
    # Only the owner answers their own requests; a stranger's "approval" changes nothing.
    meddling = await client.post(f"{API}/follow-requests/{asker.id}/approve", headers=other.headers)
    assert meddling.status_code == 404
    assert await _feed(client, asker) == []
    hidden = await client.get(f"{API}/users/{owner.id}/followers", headers=asker.headers)
    assert hidden.status_code == 403
    assert (
        await client.post(f"{API}/follow-requests/{asker.id}/approve", headers=owner.headers)
    ).status_code == 204
    assert (
        await client.post(f"{API}/follow-requests/{other.id}/decline", headers=owner.headers)
    ).status_code == 204
    assert await _feed(client, asker) == [post]
    assert await _feed(client, other) == []
    assert (await client.get(f"{API}/posts/{post}", headers=other.headers)).status_code == 404
    followers = await client.get(f"{API}/users/{owner.id}/followers", headers=asker.headers)
    assert followers.json()["user_ids"] == [asker.id]
    assert (await client.get(f"{API}/follow-requests", headers=owner.headers)).json()[
        "user_ids"
    ] == []


@pytest.mark.feature("instagram", "feed")
async def test_the_feed_pages_newest_first_and_is_stable_while_posts_arrive(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob, viewer, stranger = (
        await ig_user(),
        await ig_user(),
        await ig_user(),
        await ig_user(),
    )
    for user in (alice, bob):
        await client.post(f"{API}/users/{user.id}/follow", headers=viewer.headers)
    made = []
    for i in range(4):
        made.append(await _photo(client, upload, platform, (alice, bob)[i % 2], f"post {i}"))
    unrelated = await _photo(client, upload, platform, stranger, "not followed")
    first = await client.get(f"{API}/feed?limit=2", headers=viewer.headers)
    assert [p["id"] for p in first.json()["items"]] == [made[3], made[2]]
    newer = await _photo(client, upload, platform, alice, "arrives between pages")
    second = await client.get(
        f"{API}/feed?limit=2&cursor={first.json()['next_cursor']}", headers=viewer.headers
    )
    assert [p["id"] for p in second.json()["items"]] == [made[1], made[0]]
    everything = await _feed(client, viewer, "?limit=50")
    assert everything == [newer, *reversed(made)]
    assert unrelated not in everything
    assert len(set(everything)) == len(everything)
    bad = await client.get(f"{API}/feed?cursor=not-a-cursor", headers=viewer.headers)
    assert bad.status_code == 422
    assert (await client.get(f"{API}/feed")).status_code == 401


@pytest.mark.feature("instagram", "feed")
async def test_the_ranked_feed_puts_the_engaging_post_first(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, viewer = await ig_user(), await ig_user()
    fans = [await ig_user() for _ in range(3)]
    await client.post(f"{API}/users/{alice.id}/follow", headers=viewer.headers)
    popular = await _photo(client, upload, platform, alice, "popular")
    quiet = await _photo(client, upload, platform, alice, "quiet")
    for fan in fans:
        liked = await client.put(
            f"{API}/posts/{popular}/reactions", json={"kind": "like"}, headers=fan.headers
        )
        assert liked.status_code == 200
    assert await _feed(client, viewer) == [quiet, popular]
    assert await _feed(client, viewer, "?rank=engagement") == [popular, quiet]


@pytest.mark.feature("instagram", "notifications")
async def test_likes_comments_follows_and_tags_notify_the_owner_only(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    post = await _photo(client, upload, platform, alice, "hello")
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    await client.put(f"{API}/posts/{post}/reactions", json={"kind": "like"}, headers=bob.headers)
    await client.put(f"{API}/posts/{post}/reactions", json={"kind": "like"}, headers=bob.headers)
    commented = await client.post(
        f"{API}/posts/{post}/comments", json={"body": "lovely"}, headers=bob.headers
    )
    assert commented.status_code == 201
    await _photo(
        client, upload, platform, bob, "with @" + alice.handle, user_tags=[{"handle": alice.handle}]
    )
    # Alice's own like of her post notifies nobody.
    await client.put(f"{API}/posts/{post}/reactions", json={"kind": "like"}, headers=alice.headers)
    inbox = (await client.get(f"{API}/notifications", headers=alice.headers)).json()
    kinds = sorted(n["kind"] for n in inbox["items"])
    assert kinds == ["comment", "follow", "like", "mention"]
    assert {n["actor"]["id"] for n in inbox["items"]} == {bob.id}
    assert inbox["unread_count"] == 4
    # Nobody else sees them, and nobody else can mark them read.
    assert (await client.get(f"{API}/notifications", headers=carol.headers)).json()["items"] == []
    ids = [n["id"] for n in inbox["items"]]
    await client.post(f"{API}/notifications/read", json={"ids": ids}, headers=carol.headers)
    count = await client.get(f"{API}/notifications/unread-count", headers=alice.headers)
    assert count.json()["unread_count"] == 4
    await client.post(f"{API}/notifications/read", json={"ids": ids[:1]}, headers=alice.headers)
    count = await client.get(f"{API}/notifications/unread-count", headers=alice.headers)
    assert count.json()["unread_count"] == 3
    assert (await client.get(f"{API}/notifications")).status_code == 401


@pytest.mark.feature("instagram", "notifications")
@pytest.mark.feature("instagram", "private-accounts")
async def test_a_follow_request_notifies_and_a_blocked_user_cannot_notify(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    owner = await ig_user(private=True)
    asker, pest = await ig_user(), await ig_user()
    await client.post(f"{API}/users/{owner.id}/follow", headers=asker.headers)
    inbox = (await client.get(f"{API}/notifications", headers=owner.headers)).json()
    assert [(n["kind"], n["actor"]["id"]) for n in inbox["items"]] == [("follow_request", asker.id)]
    public = await ig_user()
    post = await _photo(client, upload, platform, public, "open to all")
    await client.post(f"{API}/users/{pest.id}/block", headers=public.headers)
    refused = await client.put(
        f"{API}/posts/{post}/reactions", json={"kind": "like"}, headers=pest.headers
    )
    assert refused.status_code == 404
    assert (await client.get(f"{API}/notifications", headers=public.headers)).json()["items"] == []


@pytest.mark.feature("instagram", "report-block")
async def test_a_report_hides_the_post_for_the_reporter_and_bad_reports_are_refused(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, reporter, other = await ig_user(), await ig_user(), await ig_user()
    for user in (reporter, other):
        await client.post(f"{API}/users/{alice.id}/follow", headers=user.headers)
    post = await _photo(client, upload, platform, alice, "#spammy")
    for body, status in (
        ({"target_kind": "post", "target_id": post, "reason": "boring"}, 422),
        ({"target_kind": "post", "target_id": str(2**62), "reason": "spam"}, 404),
        ({"target_kind": "planet", "target_id": post, "reason": "spam"}, 422),
    ):
        response = await client.post(f"{API}/reports", json=body, headers=reporter.headers)
        assert response.status_code == status, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _feed(client, reporter) == [post]
    made = await client.post(
        f"{API}/reports",
        json={"target_kind": "post", "target_id": post, "reason": "spam"},
        headers=reporter.headers,
    )
    assert made.status_code == 201, made.text
    assert await _feed(client, reporter) == []
    assert await _feed(client, other) == [post]
    mine = (await client.get(f"{API}/reports", headers=reporter.headers)).json()
    assert len(mine["items"]) == 1
    assert (await client.get(f"{API}/reports", headers=other.headers)).json()["items"] == []


@pytest.mark.feature("instagram", "report-block")
async def test_a_block_ends_follows_and_hides_posts_stories_and_search_both_ways(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob = await ig_user(), await ig_user()
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    await client.post(f"{API}/users/{bob.id}/follow", headers=alice.headers)
    post = await _photo(client, upload, platform, alice, "before the block")
    story_media = await upload(alice, small_png(), "image/png")
    story = await client.post(
        f"{API}/stories", json={"media_id": story_media["id"]}, headers=alice.headers
    )
    assert story.status_code == 201
    assert await _feed(client, bob) == [post]
    assert (
        await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    ).status_code == 204
    assert await _feed(client, bob) == []
    assert (await client.get(f"{API}/posts/{post}", headers=bob.headers)).status_code == 404
    viewed = await client.get(f"{API}/stories/{story.json()['id']}", headers=bob.headers)
    assert viewed.status_code == 404
    assert (await client.get(f"{API}/stories", headers=bob.headers)).json()["items"] == []
    found = (await client.get(f"{API}/search?q={alice.handle}", headers=bob.headers)).json()
    assert found["users"] == []
    refollow = await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert refollow.status_code == 404
    for user, other in ((alice, bob), (bob, alice)):
        following = (await client.get(f"{API}/users/{user.id}/following")).json()["user_ids"]
        assert other.id not in following
    assert (await client.get(f"{API}/blocks", headers=alice.headers)).json()["user_ids"] == [bob.id]
    assert (await client.get(f"{API}/blocks", headers=bob.headers)).json()["user_ids"] == []
    # Unblocking does not restore the follow; a fresh follow does, and the post is back.
    assert (
        await client.delete(f"{API}/users/{bob.id}/block", headers=alice.headers)
    ).status_code == 204
    assert await _feed(client, bob) == []
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    assert await _feed(client, bob) == [post]
