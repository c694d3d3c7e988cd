"""The activity log: everything the user did, theirs alone, filterable, and undo by delete."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.facebook_timeline.conftest import (
    API,
    Befriend,
    Post,
    TimelineIds,
    TimelineUser,
    drain_jobs,
)


async def log(
    client: httpx.AsyncClient, user: TimelineUser, **params: Any
) -> list[dict[str, object]]:
    response = await client.get(f"{API}/activity", params=params, headers=user.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_the_log_holds_every_kind_of_action_newest_first(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    carol: TimelineUser,
    post: Post,
    befriend: Befriend,
) -> None:
    bobs = await post(bob, "bob's post")
    mine = await post(alice, "alice's post")
    liked = await client.put(
        f"{API}/posts/{bobs['id']}/reactions", json={"kind": "love"}, headers=alice.headers
    )
    assert liked.status_code == 200, liked.text
    commented = await client.post(
        f"{API}/posts/{bobs['id']}/comments", json={"body": "nice"}, headers=alice.headers
    )
    assert commented.status_code == 201, commented.text
    assert (await client.post(f"{API}/users/{carol.id}/follow", headers=alice.headers)).is_success
    await befriend(alice, bob)
    entries = await log(client, alice)
    kinds = [e["kind"] for e in entries]
    assert set(kinds) == {"post", "reaction", "comment", "follow", "friend"}
    times = [str(e["created_at"]) for e in entries]
    assert times == sorted(times, reverse=True)
    by_kind = {e["kind"]: e for e in entries}
    assert by_kind["post"]["post_id"] == mine["id"]
    assert by_kind["reaction"]["reaction"] == "love"
    assert by_kind["reaction"]["target_id"] == bobs["id"]
    assert by_kind["comment"]["summary"] == "nice"
    assert by_kind["friend"]["friend_id"] == bob.id
    # Filtering by kind, and paging one entry at a time without repeats or gaps.
    assert [e["kind"] for e in await log(client, alice, kind=["reaction", "comment"])] == [
        "comment",
        "reaction",
    ]
    paged: list[str] = []
    cursor = None
    for _ in range(20):
        params: dict[str, Any] = {"limit": 1}
        if cursor:
            params["cursor"] = cursor
        response = await client.get(f"{API}/activity", params=params, headers=alice.headers)
        body = response.json()
        paged += [str(e["id"]) for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert paged == [str(e["id"]) for e in entries]


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_the_log_filters_by_date_and_refuses_bad_filters(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post
) -> None:
    await post(alice, "today")
    today = datetime.now(UTC).date()
    assert len(await log(client, alice, since=today.isoformat(), until=today.isoformat())) == 1
    yesterday = (today - timedelta(days=1)).isoformat()
    assert await log(client, alice, until=yesterday) == []
    for params in (
        {"kind": "murder"},
        {"since": today.isoformat(), "until": yesterday},
        {"since": "yesterday"},
    ):
        response = await client.get(f"{API}/activity", params=params, headers=alice.headers)
        assert response.status_code == 422, params
    assert (await client.get(f"{API}/activity")).status_code == 401


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_nobody_reads_or_deletes_another_users_log(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    mine = await post(alice, "alice's only")
    assert await log(client, bob) == []
    attempt = await client.delete(f"{API}/activity/post:{mine['id']}", headers=bob.headers)
    assert attempt.status_code == 404
    assert [e["id"] for e in await log(client, alice)] == [f"post:{mine['id']}"]
    for junk in ("post:abc", "nothing:1", "post"):
        response = await client.delete(f"{API}/activity/{junk}", headers=alice.headers)
        assert response.status_code == 404, junk


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_deleting_entries_undoes_their_actions(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: TimelineUser,
    bob: TimelineUser,
    post: Post,
    befriend: Befriend,
    timeline_ids: TimelineIds,
) -> None:
    bobs = await post(bob, "bob's post")
    mine = await post(alice, "regrettable")
    await client.put(
        f"{API}/posts/{bobs['id']}/reactions", json={"kind": "like"}, headers=alice.headers
    )
    comment = await client.post(
        f"{API}/posts/{bobs['id']}/comments", json={"body": "hm"}, headers=alice.headers
    )
    await befriend(alice, bob)
    await drain_jobs(platform)
    entries = {e["kind"]: str(e["id"]) for e in await log(client, alice)}
    # Unfollowing a friend first (they stay friends), then ending the friendship.
    for kind in ("post", "reaction", "comment", "follow", "friend"):
        response = await client.delete(f"{API}/activity/{entries[kind]}", headers=alice.headers)
        assert response.status_code == 204, (kind, response.text)
    await drain_jobs(platform)
    assert await timeline_ids(alice, alice) == []
    engagement = await client.get(f"{API}/posts/{bobs['id']}/engagement", headers=bob.headers)
    counts = engagement.json()["counts"]
    assert counts.get("reactions", 0) == 0 and counts.get("comments", 0) == 0
    gone = await client.get(f"{API}/comments/{comment.json()['id']}", headers=bob.headers)
    assert gone.status_code == 404
    friends = await client.get(f"{API}/friends", headers=alice.headers)
    assert bob.id not in str(friends.json())
    assert (await client.get(f"{API}/posts/{mine['id']}", headers=alice.headers)).status_code == 404
    again = await client.delete(f"{API}/activity/{entries['post']}", headers=alice.headers)
    assert again.status_code == 404
    assert await log(client, alice) == []


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_undoing_one_reaction_twice_at_once_removes_it_exactly_once(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    bobs = await post(bob, "popular")
    await client.put(
        f"{API}/posts/{bobs['id']}/reactions", json={"kind": "like"}, headers=alice.headers
    )
    (entry,) = await log(client, alice, kind="reaction")
    answers = await asyncio.gather(
        *(client.delete(f"{API}/activity/{entry['id']}", headers=alice.headers) for _ in range(4))
    )
    assert sorted(a.status_code for a in answers).count(204) == 1
    engagement = await client.get(f"{API}/posts/{bobs['id']}/engagement", headers=bob.headers)
    assert engagement.json()["counts"].get("reactions", 0) == 0
