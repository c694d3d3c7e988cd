"""The year/month index behind the timeline's navigation: only months that hold an item the
viewer may see, life events at their own dates, pinned and deleted posts left out."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.facebook_timeline.conftest import API, Befriend, NewUser, Post, TimelineUser


async def months(
    client: httpx.AsyncClient, owner: TimelineUser, viewer: TimelineUser | None
) -> list[str]:
    headers = viewer.headers if viewer is not None else {}
    response = await client.get(f"{API}/users/{owner.id}/timeline/months", headers=headers)
    assert response.status_code == 200, response.text
    return [m["section"] for m in response.json()["months"]]


async def event(client: httpx.AsyncClient, user: TimelineUser, day: str, audience: str) -> str:
    response = await client.post(
        f"{API}/life-events",
        json={"type": "moved", "date": day, "audience": audience},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.feature("facebook-timeline", "timeline")
async def test_the_index_lists_only_months_with_items_the_viewer_may_see(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    carol: TimelineUser,
    post: Post,
    befriend: Befriend,
) -> None:
    await befriend(alice, bob)
    now = (await post(alice, "public today"))["created_at"][:7]
    await event(client, alice, "2019-06-15", "friends")
    await event(client, alice, "2015-02-01", "public")
    await event(client, alice, "2012-12-31", "only_me")
    assert await months(client, alice, alice) == [now, "2019-06", "2015-02", "2012-12"]
    assert await months(client, alice, bob) == [now, "2019-06", "2015-02"]
    assert await months(client, alice, carol) == [now, "2015-02"]
    assert await months(client, alice, None) == [now, "2015-02"]
    # Every month offered leads to a page holding an item of that month.
    for section in await months(client, alice, carol):
        page = await client.get(
            f"{API}/users/{alice.id}/timeline",
            params={"until": section, "limit": 1},
            headers=carol.headers,
        )
        assert page.json()["items"][0]["section"] == section


@pytest.mark.feature("facebook-timeline", "featured-posts")
async def test_pinned_and_deleted_items_leave_their_months(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post
) -> None:
    pinned = await event(client, alice, "2018-03-03", "public")
    gone = await event(client, alice, "2017-07-07", "public")
    await event(client, alice, "2016-01-01", "public")
    assert await months(client, alice, None) == ["2018-03", "2017-07", "2016-01"]
    assert (await client.put(f"{API}/pins/{pinned}", headers=alice.headers)).status_code == 200
    deleted = await client.delete(f"{API}/activity/post:{gone}", headers=alice.headers)
    assert deleted.status_code == 204
    assert await months(client, alice, None) == ["2016-01"]


async def test_the_index_of_a_blocked_or_unknown_user_is_404(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser
) -> None:
    blocked = await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)
    assert blocked.status_code in (200, 204), blocked.text
    refused = await client.get(f"{API}/users/{alice.id}/timeline/months", headers=bob.headers)
    assert refused.status_code == 404
    unknown = await client.get(f"{API}/users/{2**62}/timeline/months")
    assert unknown.status_code == 404


async def test_a_month_stays_while_one_item_moderation_did_not_hide_remains(
    client: httpx.AsyncClient, alice: TimelineUser, carol: TimelineUser, new_user: NewUser
) -> None:
    older = await event(client, alice, "2015-02-01", "public")
    newer = await event(client, alice, "2015-02-20", "public")
    alone = await event(client, alice, "2014-01-01", "public")
    reporters = [await new_user() for _ in range(5)]
    for target in (newer, alone):
        for reporter in reporters:
            reported = await client.post(
                f"{API}/reports",
                json={"target_kind": "post", "target_id": target, "reason": "spam"},
                headers=reporter.headers,
            )
            assert reported.status_code == 201, reported.text
    # The 2015-02 group's newest post (its representative) is hidden; the older one shows.
    assert await months(client, alice, carol) == ["2015-02"]
    page = await client.get(
        f"{API}/users/{alice.id}/timeline", params={"until": "2015-02"}, headers=carol.headers
    )
    assert [i["id"] for i in page.json()["items"]] == [older]
    assert await months(client, alice, alice) == ["2015-02", "2014-01"]
