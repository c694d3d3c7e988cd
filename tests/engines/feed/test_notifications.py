"""Notifications: deduplicated, never to yourself or across a block, listed newest first with
an unread count, marked read only in your own inbox, dropped when their content is gone."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.feed import comments, graph, notifications, posts, reactions
from casebook.engines.feed.engagement_models import FeedNotification
from casebook.platform.context import Platform
from tests.engines.feed.conftest import API, SYSTEM, FeedUser, Follow, MakeUsers, Publish

pytestmark = pytest.mark.feature("facebook-newsfeed", "notifications")


async def handle_of(platform: Platform, user_id: int) -> str:
    async with platform.db.session() as session:
        return (await graph.ensure_profile(session, SYSTEM, user_id)).handle


async def _inbox(platform: Platform, user_id: int) -> notifications.NotificationPage:
    async with platform.db.session() as session:
        return await notifications.list_for(session, SYSTEM, user_id)


async def _rows(platform: Platform, user_id: int) -> int:
    async with platform.db.session() as session:
        n = await session.scalar(
            select(func.count())
            .select_from(FeedNotification)
            .where(FeedNotification.recipient_id == user_id)
        )
        return int(n or 0)


async def test_liking_unliking_and_liking_again_notifies_the_author_once(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, fan = await make_users(2)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="news")
    for _ in range(2):
        async with platform.db.session() as session:
            await reactions.react(session, SYSTEM, fan, "post", post.id, "like")
            await reactions.unreact(session, SYSTEM, fan, "post", post.id)
    page = await _inbox(platform, author)
    assert [(n.kind, n.actor_id, n.target_id) for n in page.items] == [("like", fan, post.id)]
    assert page.unread_count == 1


async def test_nobody_is_notified_of_their_own_actions(
    platform: Platform, make_users: MakeUsers
) -> None:
    (author,) = await make_users(1)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="mine")
        await reactions.react(session, SYSTEM, author, "post", post.id, "love")
        await comments.add_comment(session, SYSTEM, author, "post", post.id, "me again")
        stored = await notifications.notify(
            session, SYSTEM, author, "follow", author, "user", author
        )
    assert stored is False
    assert await _rows(platform, author) == 0


async def test_blocks_stop_notifications_both_ways_and_hide_old_ones(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, fan, blocker = await make_users(3)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="hi")
        await reactions.react(session, SYSTEM, fan, "post", post.id, "like")
    assert len((await _inbox(platform, author)).items) == 1
    async with platform.db.session() as session:
        await graph.block(session, SYSTEM, author, fan)  # the author blocks the fan afterwards
        await graph.block(session, SYSTEM, blocker, author)  # someone blocks the author
    assert (await _inbox(platform, author)).items == []
    async with platform.db.session() as session:
        assert not await notifications.notify(session, SYSTEM, author, "follow", fan, "user", fan)
        assert not await notifications.notify(
            session, SYSTEM, blocker, "follow", author, "user", author
        )
        assert not await notifications.notify(
            session, SYSTEM, author, "follow", blocker, "user", blocker
        )
    assert await _rows(platform, blocker) == 0


async def test_comments_replies_and_mentions_notify_the_right_people(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, commenter, replier, mentioned, private_friendless = await make_users(5)
    mention = await handle_of(platform, mentioned)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="post")
        top = await comments.add_comment(session, SYSTEM, commenter, "post", post.id, "first")
        reply = await comments.add_comment(
            session, SYSTEM, replier, "post", post.id, f"hey @{mention}", parent_id=top.id
        )
        hidden_post = await posts.create_post(
            session, SYSTEM, author, body="only me", audience="only_me"
        )
        await comments.add_comment(
            session, SYSTEM, author, "post", hidden_post.id, f"@{mention} cannot see this"
        )
    author_inbox = await _inbox(platform, author)
    assert {(n.kind, n.actor_id, n.target_id) for n in author_inbox.items} == {
        ("comment", commenter, top.id),
        ("comment", replier, reply.id),
    }
    commenter_inbox = await _inbox(platform, commenter)
    assert [(n.kind, n.actor_id, n.target_id) for n in commenter_inbox.items] == [
        ("reply", replier, reply.id)
    ]
    mentioned_inbox = await _inbox(platform, mentioned)
    # The mention on the only-me post is not sent: the mentioned user may not see it.
    assert [(n.kind, n.actor_id, n.target_id) for n in mentioned_inbox.items] == [
        ("mention", replier, reply.id)
    ]
    assert await _rows(platform, private_friendless) == 0


async def test_unread_count_pages_and_mark_read_touch_only_your_own_inbox(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    me, other, *followers = await make_users(7)
    async with platform.db.session() as session:
        for follower in followers:
            assert await notifications.notify(
                session, SYSTEM, me, "follow", follower, "user", follower
            )
            # The same event again is deduplicated.
            assert not await notifications.notify(
                session, SYSTEM, me, "follow", follower, "user", follower
            )
        assert await notifications.notify(session, SYSTEM, other, "follow", me, "user", me)
    async with platform.db.session() as session:
        first = await notifications.list_for(session, SYSTEM, me, limit=3)
        second = await notifications.list_for(
            session, SYSTEM, me, limit=3, cursor=first.next_cursor
        )
    assert first.unread_count == 5
    assert [n.actor_id for n in first.items + second.items] == list(reversed(followers))
    assert second.next_cursor is None
    others_id = (await _inbox(platform, other)).items[0].id
    async with platform.db.session() as session:
        # Another user's notification id matches nothing in my inbox.
        assert await notifications.mark_read(session, SYSTEM, me, [others_id]) == 0
        assert await notifications.mark_read(session, SYSTEM, me, [first.items[0].id]) == 1
        assert await notifications.mark_read(session, SYSTEM, me, [first.items[0].id]) == 0
    async with platform.db.session() as session:
        assert await notifications.unread_count(session, SYSTEM, me) == 4
        assert await notifications.unread_count(session, SYSTEM, other) == 1
        unread = await notifications.list_for(session, SYSTEM, me, unread_only=True)
        assert len(unread.items) == 4
        assert await notifications.mark_read(session, SYSTEM, me) == 4
        assert await notifications.unread_count(session, SYSTEM, me) == 0
        assert await notifications.unread_count(session, SYSTEM, other) == 1
        # Another system's inbox is separate.
        assert await notifications.unread_count(session, "instagram", other) == 0
        with pytest.raises(notifications.InvalidCursor):
            await notifications.list_for(session, SYSTEM, me, cursor="zz")


async def test_deleting_a_comment_removes_its_notifications(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, commenter = await make_users(2)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="p")
        comment = await comments.add_comment(session, SYSTEM, commenter, "post", post.id, "c")
    assert (await _inbox(platform, author)).unread_count == 1
    async with platform.db.session() as session:
        await comments.delete_comment(session, SYSTEM, commenter, comment.id)
    page = await _inbox(platform, author)
    assert page.items == [] and page.unread_count == 0


async def test_a_post_deleted_after_a_like_drops_out_of_the_inbox_list(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, fan = await make_users(2)
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="p")
        await reactions.react(session, SYSTEM, fan, "post", post.id, "like")
    async with platform.db.session() as session:
        await posts.delete_post(session, SYSTEM, author, post.id)
    # The author's own post is deleted: the like about it is no longer listed.
    assert (await _inbox(platform, author)).items == []


async def test_notification_endpoints_serve_only_the_callers_inbox(
    client: httpx.AsyncClient,
    publish: Publish,
    follow: Follow,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    await follow(bob, alice)  # the feed core notifies the followee
    post = await publish(alice, "hello")
    liked = await client.put(
        f"{API}/posts/{post['id']}/reactions", json={"kind": "like"}, headers=bob.headers
    )
    assert liked.status_code == 200
    await client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": "hi alice"}, headers=carol.headers
    )
    inbox = (await client.get(f"{API}/notifications", headers=alice.headers)).json()
    assert [(n["kind"], n["actor"]["id"]) for n in inbox["items"]] == [
        ("comment", carol.id),
        ("like", bob.id),
        ("follow", bob.id),
    ]
    assert inbox["unread_count"] == 3 and inbox["next_cursor"] is None
    assert inbox["items"][1]["target_id"] == post["id"]
    bobs = (await client.get(f"{API}/notifications", headers=bob.headers)).json()
    assert bobs["items"] == [] and bobs["unread_count"] == 0
    assert (await client.get(f"{API}/notifications")).status_code == 401
    # Bob cannot mark Alice's notifications read.
    alice_ids = [n["id"] for n in inbox["items"]]
    by_bob = await client.post(
        f"{API}/notifications/read", json={"ids": alice_ids}, headers=bob.headers
    )
    assert by_bob.json() == {"marked": 0, "unread_count": 0}
    one = await client.post(
        f"{API}/notifications/read", json={"ids": alice_ids[:1]}, headers=alice.headers
    )
    assert one.json() == {"marked": 1, "unread_count": 2}
    unread = await client.get(
        f"{API}/notifications", params={"unread_only": "true"}, headers=alice.headers
    )
    assert [n["id"] for n in unread.json()["items"]] == alice_ids[1:]
    bad = await client.post(
        f"{API}/notifications/read", json={"ids": ["not-a-number"]}, headers=alice.headers
    )
    assert bad.status_code == 422
    everything = await client.post(f"{API}/notifications/read", json={}, headers=alice.headers)
    assert everything.json() == {"marked": 2, "unread_count": 0}
    count = await client.get(f"{API}/notifications/unread-count", headers=alice.headers)
    assert count.json() == {"unread_count": 0}
