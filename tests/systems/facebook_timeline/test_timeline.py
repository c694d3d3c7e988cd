"""The timeline read: newest first by each item's own date, life events placed at their dates,
featured posts on top, year/month sections, cursor paging, and per-item audiences."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.engines.feed import posts
from casebook.platform.context import Platform
from tests.systems.facebook_timeline.conftest import (
    API,
    SYSTEM,
    Befriend,
    Post,
    Timeline,
    TimelineIds,
    TimelineUser,
)


async def life_event(
    client: httpx.AsyncClient, user: TimelineUser, kind: str, day: str, **fields: str
) -> dict[str, object]:
    response = await client.post(
        f"{API}/life-events", json={"type": kind, "date": day, **fields}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    body: dict[str, object] = response.json()
    return body


@pytest.mark.feature("facebook-timeline", "timeline")
async def test_timeline_is_newest_first_and_pages_without_repeats(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post, timeline_ids: TimelineIds
) -> None:
    written = [(await post(alice, f"post {n}"))["id"] for n in range(7)]
    assert await timeline_ids(alice, None, limit=3) == written[::-1]


@pytest.mark.feature("facebook-timeline", "timeline")
async def test_posts_written_while_paging_do_not_shift_pages(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post
) -> None:
    old = [(await post(alice, f"old {n}"))["id"] for n in range(4)]
    first = await client.get(f"{API}/users/{alice.id}/timeline", params={"limit": 2})
    await post(alice, "newer")
    second = await client.get(
        f"{API}/users/{alice.id}/timeline",
        params={"limit": 2, "cursor": first.json()["next_cursor"]},
    )
    assert [i["id"] for i in first.json()["items"]] == old[:1:-1]
    assert [i["id"] for i in second.json()["items"]] == old[1::-1]


@pytest.mark.feature("facebook-timeline", "life-events")
async def test_life_events_sit_at_their_own_dates_in_year_month_sections(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post, timeline: Timeline
) -> None:
    today = await post(alice, "today's post")
    grad = await life_event(client, alice, "graduation", "2019-06-15", title="Graduated from MIT")
    born = await life_event(client, alice, "birthday", "1995-03-02")
    job = await life_event(client, alice, "new_job", "2019-09-01")
    page = await timeline(alice, None)
    assert [i["id"] for i in page["items"]] == [today["id"], job["id"], grad["id"], born["id"]]
    kinds = {i["id"]: i["kind"] for i in page["items"]}
    assert kinds[grad["id"]] == "life_event" and kinds[today["id"]] == "post"
    graduation = next(i for i in page["items"] if i["id"] == grad["id"])
    assert graduation["life_event"] == {
        "type": "graduation",
        "date": "2019-06-15",
        "title": "Graduated from MIT",
    }
    assert graduation["occurred_at"].startswith("2019-06-15")
    assert next(i for i in page["items"] if i["id"] == born["id"])["body"] == "Born"
    sections = [(s["section"], s["items"]) for s in page["sections"]]
    assert sections[1:] == [
        ("2019-09", [job["id"]]),
        ("2019-06", [grad["id"]]),
        ("1995-03", [born["id"]]),
    ]


@pytest.mark.feature("facebook-timeline", "life-events")
async def test_until_jumps_to_the_end_of_a_month(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post, timeline: Timeline
) -> None:
    await post(alice, "recent")
    grad = await life_event(client, alice, "graduation", "2019-06-30")
    born = await life_event(client, alice, "birthday", "1995-03-02")
    page = await timeline(alice, alice, until="2019-06")
    assert [i["id"] for i in page["items"]] == [grad["id"], born["id"]]
    assert [i["id"] for i in (await timeline(alice, alice, until="2019-05"))["items"]] == [
        born["id"]
    ]
    bad = await client.get(f"{API}/users/{alice.id}/timeline", params={"until": "2019-13"})
    assert bad.status_code == 422


@pytest.mark.feature("facebook-timeline", "life-events")
async def test_life_event_dates_and_types_are_checked(
    client: httpx.AsyncClient, alice: TimelineUser, timeline_ids: TimelineIds
) -> None:
    for payload in (
        {"type": "graduation", "date": "2999-01-01"},
        {"type": "graduation", "date": "1850-01-01"},
        {"type": "wedding-cake", "date": "2019-01-01"},
        {"type": "graduation", "date": "not a date"},
    ):
        response = await client.post(f"{API}/life-events", json=payload, headers=alice.headers)
        assert response.status_code == 422, payload
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await timeline_ids(alice, alice) == []


@pytest.mark.feature("facebook-timeline", "life-events")
async def test_moving_a_life_event_moves_it_on_the_timeline_author_only(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    event = await life_event(client, alice, "new_job", "2020-01-10")
    mid = await post(alice, "in between")
    older = await life_event(client, alice, "moved", "2021-05-05")
    foreign = await client.patch(
        f"{API}/life-events/{event['id']}", json={"date": "2024-01-01"}, headers=bob.headers
    )
    assert foreign.status_code == 403
    moved = await client.patch(
        f"{API}/life-events/{event['id']}",
        json={"date": "2022-02-02", "title": "Joined Acme"},
        headers=alice.headers,
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["life_event"]["title"] == "Joined Acme"
    items = (await client.get(f"{API}/users/{alice.id}/timeline")).json()["items"]
    assert [i["id"] for i in items] == [mid["id"], event["id"], older["id"]]
    not_event = await client.patch(
        f"{API}/life-events/{mid['id']}", json={"title": "x"}, headers=alice.headers
    )
    assert not_event.status_code == 422


@pytest.mark.feature("facebook-timeline", "featured-posts")
async def test_pinned_posts_stay_on_top_and_leave_the_chronology(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post, timeline: Timeline
) -> None:
    first = await post(alice, "first")
    event = await life_event(client, alice, "graduation", "2010-06-01")
    last = await post(alice, "last")
    for pinned in (first, event):
        response = await client.put(f"{API}/pins/{pinned['id']}", headers=alice.headers)
        assert response.status_code == 200, response.text
    page = await timeline(alice, None)
    assert [i["id"] for i in page["pinned"]] == [event["id"], first["id"]]
    assert all(i["pinned"] for i in page["pinned"])
    assert [i["id"] for i in page["items"]] == [last["id"]]
    gone = await client.delete(f"{API}/pins/{first['id']}", headers=alice.headers)
    assert gone.status_code == 204
    page = await timeline(alice, None)
    assert [i["id"] for i in page["pinned"]] == [event["id"]]
    assert [i["id"] for i in page["items"]] == [last["id"], first["id"]]


@pytest.mark.feature("facebook-timeline", "featured-posts")
async def test_only_ones_own_posts_are_pinned(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    mine = await post(alice, "alice's")
    secret = await post(alice, "only me", audience="only_me")
    seen = await client.put(f"{API}/pins/{mine['id']}", headers=bob.headers)
    assert seen.status_code == 403
    assert seen.json()["detail"] == "You are not authorized to pin this post."
    hidden = await client.put(f"{API}/pins/{secret['id']}", headers=bob.headers)
    assert hidden.status_code == 404
    assert (await client.delete(f"{API}/pins/{mine['id']}", headers=bob.headers)).status_code == 404
    page = (await client.get(f"{API}/users/{alice.id}/timeline")).json()
    assert page["pinned"] == []


@pytest.mark.feature("facebook-timeline", "featured-posts")
async def test_concurrent_pins_never_exceed_the_slots(
    client: httpx.AsyncClient, alice: TimelineUser, post: Post
) -> None:
    ids = [(await post(alice, f"p{n}"))["id"] for n in range(6)]
    answers = await asyncio.gather(
        *(client.put(f"{API}/pins/{i}", headers=alice.headers) for i in ids + ids[:2])
    )
    statuses = sorted(a.status_code for a in answers)
    assert statuses.count(409) >= 3 and set(statuses) <= {200, 409}
    page = (await client.get(f"{API}/users/{alice.id}/timeline")).json()
    assert len(page["pinned"]) == 3
    assert len({i["id"] for i in page["pinned"]}) == 3
    again = await client.put(f"{API}/pins/{page['pinned'][0]['id']}", headers=alice.headers)
    assert again.status_code == 200 and again.json()["created"] is False


@pytest.mark.feature("facebook-timeline", "privacy-controls")
async def test_each_item_is_shown_by_its_own_audience(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    carol: TimelineUser,
    post: Post,
    befriend: Befriend,
    timeline_ids: TimelineIds,
) -> None:
    await befriend(alice, bob)
    public = await post(alice, "hello world")
    friends = await post(alice, "friends only", audience="friends")
    private = await post(alice, "diary", audience="only_me")
    event = await life_event(client, alice, "relationship", "2018-02-14", audience="friends")
    assert await timeline_ids(alice, alice) == [
        private["id"],
        friends["id"],
        public["id"],
        event["id"],
    ]
    assert await timeline_ids(alice, bob, limit=1) == [friends["id"], public["id"], event["id"]]
    assert await timeline_ids(alice, carol, limit=1) == [public["id"]]
    assert await timeline_ids(alice, None) == [public["id"]]
    # Pinned items obey their audiences too.
    for item in (private, event):
        assert (await client.put(f"{API}/pins/{item['id']}", headers=alice.headers)).is_success
    anonymous = (await client.get(f"{API}/users/{alice.id}/timeline")).json()
    assert anonymous["pinned"] == []
    as_bob = (await client.get(f"{API}/users/{alice.id}/timeline", headers=bob.headers)).json()
    assert [i["id"] for i in as_bob["pinned"]] == [event["id"]]


@pytest.mark.feature("facebook-timeline", "privacy-controls")
async def test_narrowing_an_audience_hides_the_item_at_once(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    post: Post,
    timeline_ids: TimelineIds,
) -> None:
    item = await post(alice, "was public")
    assert await timeline_ids(alice, bob) == [item["id"]]
    narrowed = await client.put(
        f"{API}/users/{alice.id}/posts/{item['id']}",
        json={"audience": "only_me"},
        headers=alice.headers,
    )
    assert narrowed.status_code == 200, narrowed.text
    assert await timeline_ids(alice, bob) == []
    assert await timeline_ids(alice, alice) == [item["id"]]


@pytest.mark.feature("facebook-timeline", "privacy-controls")
async def test_blocked_users_and_unknown_users_get_no_timeline(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    await post(alice, "public")
    assert (await client.post(f"{API}/users/{bob.id}/block", headers=alice.headers)).is_success
    blocked = await client.get(f"{API}/users/{alice.id}/timeline", headers=bob.headers)
    assert blocked.status_code == 404
    unknown = await client.get(f"{API}/users/12345/timeline")
    assert unknown.status_code == 404
    bad_cursor = await client.get(
        f"{API}/users/{alice.id}/timeline", params={"cursor": "!!not-a-cursor"}
    )
    assert bad_cursor.status_code == 422


@pytest.mark.feature("facebook-timeline", "follow")
async def test_friendship_and_following_define_who_sees_what(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    carol: TimelineUser,
    post: Post,
    befriend: Befriend,
    timeline_ids: TimelineIds,
) -> None:
    followers = await post(alice, "followers", audience="followers")
    friends = await post(alice, "friends", audience="friends")
    assert await timeline_ids(alice, bob) == []
    assert (await client.post(f"{API}/users/{alice.id}/follow", headers=carol.headers)).is_success
    await befriend(bob, alice)
    assert await timeline_ids(alice, carol) == [followers["id"]]
    assert await timeline_ids(alice, bob) == [friends["id"], followers["id"]]
    assert (await client.delete(f"{API}/users/{alice.id}/friend", headers=bob.headers)).is_success
    assert await timeline_ids(alice, bob) == []


@pytest.mark.feature("facebook-timeline", "timeline")
async def test_a_mostly_hidden_timeline_still_pages_to_the_end(
    platform: Platform, alice: TimelineUser, bob: TimelineUser, timeline_ids: TimelineIds
) -> None:
    # Written through the engine's service function: 60 posts through the API would trip the
    # per-user posting rate limit, which is not what this test is about.
    visible = []
    async with platform.db.session() as session:
        for n in range(60):
            audience = "public" if n % 20 == 0 else "only_me"
            made = await posts.create_post(
                session, SYSTEM, alice.user_id, body=f"n{n}", audience=audience
            )
            if audience == "public":
                visible.append(str(made.id))
    assert await timeline_ids(alice, bob, limit=2) == visible[::-1]
    assert len(await timeline_ids(alice, alice, limit=7)) == 60
