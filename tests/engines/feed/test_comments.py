"""Threaded comments: depth-first order by materialized path, cursor pages stable under inserts,
edit/delete rules, tombstones, exact counters under concurrent comments, replies and deletes,
and the "comment" target following its post's audience."""

from __future__ import annotations

import asyncio
import random

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.feed import comments, counters, graph, posts, reactions, targets
from casebook.engines.feed.engagement_models import FeedComment
from casebook.engines.feed.models import FeedAffinity
from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    SYSTEM,
    Befriend,
    FeedUser,
    MakeUsers,
    Publish,
)

pytestmark = pytest.mark.feature("facebook-newsfeed", "engagement")


async def _post(platform: Platform, author: int, audience: str = "public") -> int:
    async with platform.db.session() as session:
        post = await posts.create_post(session, SYSTEM, author, body="post", audience=audience)
        return post.id


async def _comment(
    platform: Platform, user: int, post_id: int, body: str, parent: int | None = None
) -> int:
    async with platform.db.session() as session:
        comment = await comments.add_comment(
            session, SYSTEM, user, "post", post_id, body, parent_id=parent
        )
        return comment.id


async def _thread(platform: Platform, viewer: int | None, post_id: int) -> list[str | None]:
    async with platform.db.session() as session:
        page = await comments.list_comments(session, SYSTEM, viewer, "post", post_id, limit=100)
    return [c.body for c in page.items]


async def _comment_count(platform: Platform, post_id: int) -> int:
    async with platform.db.session() as session:
        return (await counters.read(session, SYSTEM, "post", post_id)).get(counters.COMMENTS, 0)


async def test_a_thread_lists_depth_first_with_siblings_oldest_first(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, a, b = await make_users(3)
    post_id = await _post(platform, author)
    one = await _comment(platform, a, post_id, "1")
    two = await _comment(platform, b, post_id, "2")
    one_one = await _comment(platform, b, post_id, "1.1", one)
    await _comment(platform, a, post_id, "2.1", two)
    await _comment(platform, a, post_id, "1.1.1", one_one)
    await _comment(platform, author, post_id, "1.2", one)
    assert await _thread(platform, author, post_id) == ["1", "1.1", "1.1.1", "1.2", "2", "2.1"]
    async with platform.db.session() as session:
        sub = await comments.list_replies(session, SYSTEM, None, one)
        depths = [(c.body, c.depth, c.parent_id) for c in sub.items]
    assert depths == [("1.1", 1, one), ("1.1.1", 2, one_one), ("1.2", 1, one)]
    assert await _comment_count(platform, post_id) == 6


async def test_cursor_pages_neither_repeat_nor_skip_while_comments_arrive(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, a = await make_users(2)
    post_id = await _post(platform, author)
    roots = [await _comment(platform, a, post_id, f"r{i}") for i in range(5)]
    async with platform.db.session() as session:
        first = await comments.list_comments(session, SYSTEM, a, "post", post_id, limit=2)
    # New comments land both before and after the cursor.
    await _comment(platform, a, post_id, "reply to r0", roots[0])
    await _comment(platform, a, post_id, "r5")
    seen = [c.body for c in first.items]
    cursor = first.next_cursor
    while cursor is not None:
        async with platform.db.session() as session:
            page = await comments.list_comments(
                session, SYSTEM, a, "post", post_id, limit=2, cursor=cursor
            )
        seen += [c.body for c in page.items]
        cursor = page.next_cursor
    assert seen == ["r0", "r1", "r2", "r3", "r4", "r5"]
    async with platform.db.session() as session:
        for bad in ("nope", "Yw", "YzEyMw"):  # not base64 / "c" alone / "c123" (not a path)
            with pytest.raises(comments.InvalidCursor):
                await comments.list_comments(session, SYSTEM, a, "post", post_id, cursor=bad)


async def test_only_the_author_edits_and_the_author_or_post_owner_deletes(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    owner, writer, other = await make_users(3)
    post_id = await _post(platform, owner)
    first = await _comment(platform, writer, post_id, "first")
    second = await _comment(platform, writer, post_id, "second")
    async with platform.db.session() as session:
        with pytest.raises(comments.NotCommentAuthor):
            await comments.edit_comment(session, SYSTEM, owner, first, "owner rewrites")
        with pytest.raises(comments.NotCommentAuthor):
            await comments.delete_comment(session, SYSTEM, other, first)
        with pytest.raises(comments.InvalidComment):
            await comments.edit_comment(session, SYSTEM, writer, first, "   ")
    async with platform.db.session() as session:
        edited = await comments.edit_comment(session, SYSTEM, writer, first, "first, edited")
        assert edited.edited_at is not None
    async with platform.db.session() as session:
        await comments.delete_comment(session, SYSTEM, owner, first)  # the post's owner
        await comments.delete_comment(session, SYSTEM, writer, second)  # the author
    assert await _thread(platform, other, post_id) == []
    assert await _comment_count(platform, post_id) == 0
    async with platform.db.session() as session:
        with pytest.raises(comments.CommentNotFound):
            await comments.delete_comment(session, SYSTEM, writer, second)
        with pytest.raises(comments.CommentNotFound):
            await comments.edit_comment(session, SYSTEM, writer, second, "back")


async def test_a_deleted_comment_with_replies_stays_as_a_tombstone_until_they_go(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, a, b = await make_users(3)
    post_id = await _post(platform, author)
    parent = await _comment(platform, a, post_id, "parent")
    child = await _comment(platform, b, post_id, "child", parent)
    grandchild = await _comment(platform, a, post_id, "grandchild", child)
    async with platform.db.session() as session:
        await comments.delete_comment(session, SYSTEM, a, parent)
        await comments.delete_comment(session, SYSTEM, b, child)
    assert await _thread(platform, author, post_id) == [None, None, "grandchild"]
    async with platform.db.session() as session:
        await comments.delete_comment(session, SYSTEM, a, grandchild)
    assert await _thread(platform, author, post_id) == []
    async with platform.db.session() as session:
        live = await session.scalar(
            select(func.sum(FeedComment.live_descendants)).where(FeedComment.target_id == post_id)
        )
    assert live == 0


async def test_replies_are_refused_past_the_depth_limit_and_on_deleted_parents(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, a = await make_users(2)
    post_id = await _post(platform, author)
    rules = comments.CommentRules(max_depth=2)
    parent = None
    async with platform.db.session() as session:
        for level in range(3):
            made = await comments.add_comment(
                session, SYSTEM, a, "post", post_id, f"level {level}", parent_id=parent, rules=rules
            )
            parent = made.id
        assert parent is not None
        with pytest.raises(comments.ThreadTooDeep):
            await comments.add_comment(
                session, SYSTEM, a, "post", post_id, "too deep", parent_id=parent, rules=rules
            )
        with pytest.raises(comments.InvalidComment):
            await comments.add_comment(
                session, SYSTEM, a, "post", post_id, "x" * 9, rules=comments.CommentRules(8)
            )
        with pytest.raises(comments.InvalidComment):
            await comments.add_comment(session, SYSTEM, a, "comment", parent, "as a target")
        other_post = await posts.create_post(session, SYSTEM, author, body="other")
        with pytest.raises(comments.CommentNotFound):  # the parent is on another post
            await comments.add_comment(
                session, SYSTEM, a, "post", other_post.id, "cross", parent_id=parent
            )
    async with platform.db.session() as session:
        await comments.delete_comment(session, SYSTEM, a, parent)
    with pytest.raises(comments.CommentNotFound):
        await _comment(platform, author, post_id, "reply to deleted", parent)
    assert await _comment_count(platform, post_id) == 2


async def test_comments_follow_the_posts_audience_and_blocks(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, friend, stranger, blocked = await make_users(4)
    async with platform.db.session() as session:
        await graph.request_friendship(session, SYSTEM, author, friend)
        await graph.answer_friend_request(session, SYSTEM, friend, author, accept=True)
    post_id = await _post(platform, author, audience="friends")
    comment_id = await _comment(platform, friend, post_id, "friends only")
    async with platform.db.session() as session:
        with pytest.raises(targets.TargetNotFound):
            await comments.list_comments(session, SYSTEM, stranger, "post", post_id)
        with pytest.raises(targets.TargetNotFound):
            await comments.add_comment(session, SYSTEM, stranger, "post", post_id, "let me in")
        with pytest.raises(comments.CommentNotFound):
            await comments.list_replies(session, SYSTEM, stranger, comment_id)
        with pytest.raises(targets.TargetNotFound):
            await reactions.react(session, SYSTEM, stranger, "comment", comment_id, "like")
        assert await targets.resolve(session, SYSTEM, "comment", friend, comment_id) == friend
        assert await targets.resolve(session, SYSTEM, "comment", None, comment_id) is None
    public_id = await _post(platform, author)
    await _comment(platform, blocked, public_id, "from blocked")
    await _comment(platform, friend, public_id, "from friend")
    async with platform.db.session() as session:
        await graph.block(session, SYSTEM, friend, blocked)
    assert await _thread(platform, friend, public_id) == ["from friend"]
    assert await _thread(platform, author, public_id) == ["from blocked", "from friend"]


async def test_concurrent_comments_replies_and_deletes_keep_every_counter_exact(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, *users = await make_users(6)
    post_id = await _post(platform, author)
    root = await _comment(platform, author, post_id, "root")
    doomed = [await _comment(platform, users[0], post_id, f"doomed {i}", root) for i in range(4)]

    async def delete(comment_id: int) -> None:
        async with platform.db.session() as session:
            await comments.delete_comment(session, SYSTEM, users[0], comment_id)

    replies = [_comment(platform, u, post_id, f"reply {u}", root) for u in users for _ in range(2)]
    deletes = [delete(c) for c in doomed]
    await asyncio.gather(*replies, *deletes)
    assert await _comment_count(platform, post_id) == 1 + 10
    async with platform.db.session() as session:
        row = await session.get(FeedComment, root)
        assert row is not None and row.live_descendants == 10
        listed = await comments.list_replies(session, SYSTEM, author, root, limit=100)
    assert len(listed.items) == 10


async def test_spam_comments_are_shown_only_to_their_author_and_not_counted(
    platform: Platform,
    make_users: MakeUsers,
) -> None:
    author, spammer = await make_users(2)
    post_id = await _post(platform, author)
    async with platform.db.session() as session:
        spam = await comments.add_comment(
            session, SYSTEM, spammer, "post", post_id, "buy now", spam=True
        )
    assert await _thread(platform, spammer, post_id) == ["buy now"]
    assert await _thread(platform, author, post_id) == []
    assert await _thread(platform, None, post_id) == []
    assert await _comment_count(platform, post_id) == 0
    async with platform.db.session() as session:
        assert await targets.resolve(session, SYSTEM, "comment", author, spam.id) is None


async def test_threads_over_http_with_replies_edits_and_deletes(
    client: httpx.AsyncClient, publish: Publish, alice: FeedUser, bob: FeedUser, carol: FeedUser
) -> None:
    post = await publish(alice, "discuss")
    url = f"{API}/posts/{post['id']}/comments"
    top = await client.post(url, json={"body": "top"}, headers=bob.headers)
    assert top.status_code == 201, top.text
    top_id = top.json()["id"]
    reply = await client.post(
        f"{API}/comments/{top_id}/replies", json={"body": "reply"}, headers=carol.headers
    )
    assert reply.status_code == 201
    assert reply.json()["parent_id"] == top_id and reply.json()["depth"] == 1
    second = await client.post(url, json={"body": "second"}, headers=carol.headers)
    thread = (await client.get(url)).json()["items"]
    assert [(c["body"], c["depth"]) for c in thread] == [("top", 0), ("reply", 1), ("second", 0)]
    assert thread[0]["replies"] == 1 and thread[0]["author"]["id"] == bob.id
    replies = (await client.get(f"{API}/comments/{top_id}/replies")).json()["items"]
    assert [c["body"] for c in replies] == ["reply"]
    # Only the author edits; the author or the post's owner deletes.
    patch = f"{API}/comments/{top_id}"
    assert (await client.patch(patch, json={"body": "x"}, headers=carol.headers)).status_code == 403
    edited = await client.patch(patch, json={"body": "top (edited)"}, headers=bob.headers)
    assert edited.status_code == 200 and edited.json()["edited_at"] is not None
    assert (await client.delete(patch, headers=carol.headers)).status_code == 403
    assert (await client.delete(patch, headers=alice.headers)).status_code == 204
    assert (await client.delete(patch, headers=alice.headers)).status_code == 404
    deleted_second = await client.delete(
        f"{API}/comments/{second.json()['id']}", headers=carol.headers
    )
    assert deleted_second.status_code == 204
    thread = (await client.get(url)).json()["items"]
    assert (thread[0]["body"], thread[0]["deleted"], thread[0]["author"]) == (None, True, None)
    assert [c["body"] for c in thread] == [None, "reply"]
    counts = (await client.get(f"{API}/posts/{post['id']}/engagement")).json()["counts"]
    assert counts["comments"] == 1
    # Bad input changes nothing.
    for bad in ({"body": ""}, {"body": "   "}, {"text": "hi"}, {"body": "x" * 20_001}):
        refused = await client.post(url, json=bad, headers=bob.headers)
        assert refused.status_code == 422, bad
    assert (await client.get(url, params={"cursor": "%%%"})).status_code == 422
    assert (await client.get(url, params={"limit": 0})).status_code == 422
    assert len((await client.get(url)).json()["items"]) == 2


async def test_comment_endpoints_hide_friends_only_threads_from_strangers(
    client: httpx.AsyncClient,
    publish: Publish,
    befriend: Befriend,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    await befriend(alice, bob)
    post = await publish(alice, "friends", audience="friends")
    made = await client.post(
        f"{API}/posts/{post['id']}/comments", json={"body": "hi"}, headers=bob.headers
    )
    comment_id = made.json()["id"]
    for method, url, body in (
        ("GET", f"{API}/posts/{post['id']}/comments", None),
        ("POST", f"{API}/posts/{post['id']}/comments", {"body": "me too"}),
        ("GET", f"{API}/comments/{comment_id}", None),
        ("GET", f"{API}/comments/{comment_id}/replies", None),
        ("POST", f"{API}/comments/{comment_id}/replies", {"body": "me too"}),
        ("PUT", f"{API}/comments/{comment_id}/reactions", {"kind": "like"}),
        ("PATCH", f"{API}/comments/{comment_id}", {"body": "mine now"}),
        ("DELETE", f"{API}/comments/{comment_id}", None),
    ):
        response = await client.request(method, url, json=body, headers=carol.headers)
        assert response.status_code == 404, (method, url)
    assert (await client.get(f"{API}/comments/{comment_id}", headers=bob.headers)).json()[
        "body"
    ] == "hi"


async def test_random_threads_list_in_depth_first_order_with_exact_reply_counts(
    platform: Platform, make_users: MakeUsers
) -> None:
    """A seeded random sequence of comments, replies and deletes, checked against a plain
    Python model of the tree: the listed order is the model's depth-first order (siblings by
    creation), pages of any size concatenate to it, and every live_descendants is exact."""
    author, *users = await make_users(4)
    post_id = await _post(platform, author)
    rng = random.Random(20261122)
    parent_of: dict[int, int | None] = {}
    order: list[int] = []  # creation order
    deleted: set[int] = set()
    for step in range(40):
        live = [c for c in order if c not in deleted]
        if live and rng.random() < 0.15:
            victim = rng.choice(live)
            async with platform.db.session() as session:
                await comments.delete_comment(session, SYSTEM, author, victim)
            deleted.add(victim)
            continue
        parent = rng.choice(live) if live and rng.random() < 0.7 else None
        made = await _comment(platform, rng.choice(users), post_id, f"c{step}", parent)
        parent_of[made] = parent
        order.append(made)

    def children(node: int | None) -> list[int]:
        return [c for c in order if parent_of[c] == node]

    def live_below(node: int) -> int:
        return sum((c not in deleted) + live_below(c) for c in children(node))

    def depth_first(node: int | None) -> list[int]:
        result = []
        for child in children(node):
            if child not in deleted or live_below(child) > 0:
                result.append(child)
            result += depth_first(child)
        return result

    expected = depth_first(None)
    for limit in (1, 3, 100):
        seen: list[int] = []
        cursor = None
        while True:
            async with platform.db.session() as session:
                page = await comments.list_comments(
                    session, SYSTEM, author, "post", post_id, cursor=cursor, limit=limit
                )
            seen += [c.id for c in page.items]
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == expected, limit
    async with platform.db.session() as session:
        rows = await session.scalars(select(FeedComment).where(FeedComment.target_id == post_id))
        for row in rows:
            assert row.live_descendants == live_below(row.id), row.id
    assert await _comment_count(platform, post_id) == len(order) - len(deleted)


async def test_reacting_and_commenting_grow_affinity_for_the_author(
    platform: Platform, make_users: MakeUsers
) -> None:
    author, fan, other = await make_users(3)
    post_id = await _post(platform, author)
    async with platform.db.session() as session:
        await reactions.react(session, SYSTEM, fan, "post", post_id, "like")
        await comments.add_comment(session, SYSTEM, fan, "post", post_id, "nice")
        await comments.add_comment(session, SYSTEM, author, "post", post_id, "thanks")
    async with platform.db.session() as session:
        scores = {
            (row.viewer_id, row.author_id): row.score
            for row in await session.scalars(select(FeedAffinity))
        }
    expected = reactions.AFFINITY_WEIGHT + comments.AFFINITY_WEIGHT
    assert scores.get((fan, author), 0.0) >= expected
    assert (author, author) not in scores and (other, author) not in scores
