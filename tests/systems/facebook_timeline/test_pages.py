"""The /facebook-timeline/ pages: the profile timeline (composer, year/month navigation, life
events, photos, featured posts) and the activity log with undo buttons, signed in by the
session cookie; privacy holds on every page and no form acts for another user."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.systems.facebook_timeline.conftest import (
    API,
    Befriend,
    Post,
    Timeline,
    TimelineUser,
)

HOME = "/facebook-timeline/"
SAME_ORIGIN = {"origin": "http://testserver"}
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(32))


def as_user(client: httpx.AsyncClient, user: TimelineUser | None) -> None:
    """Sign the client in with `user`'s session cookie (None: anonymous)."""
    client.cookies.clear()
    if user is not None:
        client.cookies.set("casebook_access", user.token)


async def page(client: httpx.AsyncClient, user: TimelineUser | None, path: str) -> str:
    as_user(client, user)
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return response.text


async def submit(
    client: httpx.AsyncClient, user: TimelineUser, path: str, data: dict[str, str], **kw: object
) -> httpx.Response:
    as_user(client, user)
    return await client.post(path, data=data, headers=SAME_ORIGIN, **kw)  # type: ignore[arg-type]


async def test_anonymous_visitors_are_asked_to_log_in_for_home_and_activity(
    client: httpx.AsyncClient,
) -> None:
    for path in (HOME, f"{HOME}activity"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


@pytest.mark.feature("facebook-timeline", "posts")
@pytest.mark.feature("facebook-timeline", "privacy-controls")
async def test_the_composer_posts_with_the_chosen_audience(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    carol: TimelineUser,
    befriend: Befriend,
    timeline: Timeline,
) -> None:
    await befriend(alice, bob)
    own = await page(client, alice, f"{HOME}users/{alice.id}")
    assert 'data-testid="post-form"' in own and 'data-testid="life-event-form"' in own
    for text, audience in (("hello world", "public"), ("friends only news", "friends")):
        done = await submit(client, alice, f"{HOME}posts", {"content": text, "audience": audience})
        assert done.status_code == 303 and done.headers["location"] == f"{HOME}users/{alice.id}"
    assert [i["audience"] for i in (await timeline(alice, alice))["items"]] == [
        "friends",
        "public",
    ]
    friend = await page(client, bob, f"{HOME}users/{alice.id}")
    assert "friends only news" in friend and "hello world" in friend
    assert 'data-testid="post-form"' not in friend
    for viewer in (carol, None):
        stranger = await page(client, viewer, f"{HOME}users/{alice.id}")
        assert "hello world" in stranger and "friends only news" not in stranger
        assert 'data-testid="post-form"' not in stranger


async def test_a_refused_post_shows_why_and_changes_nothing(
    client: httpx.AsyncClient, alice: TimelineUser, timeline: Timeline
) -> None:
    refused = await submit(
        client, alice, f"{HOME}posts", {"content": "hi", "audience": "everyone-ish"}
    )
    assert refused.status_code == 422 and 'role="alert"' in refused.text
    cross_site = await client.post(
        f"{HOME}posts",
        data={"content": "forged", "audience": "public"},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert (await timeline(alice, alice))["items"] == []


@pytest.mark.feature("facebook-timeline", "life-events")
@pytest.mark.feature("facebook-timeline", "timeline")
async def test_life_events_render_in_their_month_with_a_navigation_of_real_months(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    carol: TimelineUser,
    befriend: Befriend,
    post: Post,
) -> None:
    await post(alice, "today's news")
    for kind, day, title, audience in (
        ("graduation", "2019-06-15", "Graduated from MIT", "public"),
        ("new_job", "2016-09-01", "Joined Initech", "friends"),
    ):
        form = {"event_type": kind, "event_date": day, "title": title, "audience": audience}
        done = await submit(client, alice, f"{HOME}life-events", form)
        assert done.status_code == 303, done.text
    html = await page(client, carol, f"{HOME}users/{alice.id}")
    nav = html.split('data-testid="months"', 1)[1].split("</nav>", 1)[0]
    # Carol may not see the friends-only 2016 event, so 2016 is no year of her navigation.
    # (Match the rendered year and link, not "2016" alone: it can be a digit run in a user id.)
    assert "?until=2019-06" in nav and "June" in nav
    assert "<strong>2016</strong>" not in nav and "until=2016" not in nav
    assert re.search(r'data-section="2019-06".*June 2019.*Graduated from MIT', html, re.S)
    assert 'data-kind="life_event"' in html and "Joined Initech" not in html
    jumped = await page(client, carol, f"{HOME}users/{alice.id}?until=2019-06")
    assert "Graduated from MIT" in jumped and "today&#39;s news" not in jumped
    own = await page(client, alice, f"{HOME}users/{alice.id}")
    assert "?until=2016-09" in own and "Joined Initech" in own


async def test_a_life_event_in_the_future_is_refused_on_the_page(
    client: httpx.AsyncClient, alice: TimelineUser, timeline: Timeline
) -> None:
    form = {"event_type": "moved", "event_date": "2999-01-01", "audience": "public"}
    refused = await submit(client, alice, f"{HOME}life-events", form)
    assert refused.status_code == 422 and "future" in refused.text
    bad = await submit(client, alice, f"{HOME}life-events", {**form, "event_date": "soon"})
    assert bad.status_code == 422
    assert (await timeline(alice, alice))["items"] == []


@pytest.mark.feature("facebook-timeline", "posts")
async def test_a_photo_uploaded_from_the_page_shows_inline_to_its_audience_only(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser
) -> None:
    done = await submit(
        client,
        alice,
        f"{HOME}photos",
        {"caption": "at the beach", "audience": "only_me"},
        files={"photo": ("beach.png", PNG, "image/png")},
    )
    assert done.status_code == 303, done.text
    own = await page(client, alice, f"{HOME}users/{alice.id}")
    src = re.search(rf'src="({API}/posts/\d+/photo)"', own)
    assert src is not None and "at the beach" in own
    image = await client.get(src.group(1))
    assert image.status_code == 200 and image.content == PNG
    assert "at the beach" not in await page(client, bob, f"{HOME}users/{alice.id}")
    assert (await client.get(src.group(1))).status_code == 404
    wrong = await submit(
        client, alice, f"{HOME}photos", {}, files={"photo": ("x.png", b"not a png", "image/png")}
    )
    assert wrong.status_code == 422


@pytest.mark.feature("facebook-timeline", "featured-posts")
async def test_the_pin_button_features_a_post_on_top(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    old = await post(alice, "my best post")
    await post(alice, "a newer post")
    pinned = await submit(client, alice, f"{HOME}pins", {"post_id": old["id"], "action": "pin"})
    assert pinned.status_code == 303
    html = await page(client, bob, f"{HOME}users/{alice.id}")
    featured = html.split('data-testid="pinned"', 1)[1].split("</section>", 1)[0]
    assert "my best post" in featured and "a newer post" not in featured
    assert "Pin to top" not in html
    stolen = await submit(client, bob, f"{HOME}pins", {"post_id": old["id"], "action": "pin"})
    assert stolen.status_code == 403
    assert "my best post" not in await page(client, bob, f"{HOME}users/{bob.id}")


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_the_activity_log_shows_only_my_entries_filtered_by_kind_and_date(
    client: httpx.AsyncClient, alice: TimelineUser, bob: TimelineUser, post: Post
) -> None:
    mine = await post(alice, "alice wrote this")
    await post(bob, "bob wrote this")
    liked = await client.put(
        f"{API}/posts/{mine['id']}/reactions", json={"kind": "love"}, headers=alice.headers
    )
    assert liked.status_code in (200, 201), liked.text
    html = await page(client, alice, f"{HOME}activity")
    assert "alice wrote this" in html and "bob wrote this" not in html
    assert f'value="post:{mine["id"]}"' in html and "love on post" in html
    posts_only = await page(client, alice, f"{HOME}activity?kind=post")
    assert "alice wrote this" in posts_only and "love on post" not in posts_only
    long_ago = await page(client, alice, f"{HOME}activity?since=2001-01-01&until=2001-12-31")
    assert "alice wrote this" not in long_ago and "No activity matches" in long_ago
    as_user(client, alice)
    reversed_range = await client.get(f"{HOME}activity?since=2001-02-01&until=2001-01-01")
    assert reversed_range.status_code == 422 and 'role="alert"' in reversed_range.text
    assert "bob wrote this" in await page(client, bob, f"{HOME}activity")
    assert "alice wrote this" not in await page(client, bob, f"{HOME}activity")


@pytest.mark.feature("facebook-timeline", "activity-log")
async def test_the_undo_button_undoes_mine_and_refuses_anyone_elses(
    client: httpx.AsyncClient,
    alice: TimelineUser,
    bob: TimelineUser,
    timeline: Timeline,
    post: Post,
) -> None:
    keep = await post(alice, "keep me")
    drop = await post(alice, "drop me")
    stolen = await submit(client, bob, f"{HOME}activity/undo", {"entry_id": f"post:{keep['id']}"})
    assert stolen.status_code == 404 and 'role="alert"' in stolen.text
    forged = await client.post(
        f"{HOME}activity/undo",
        data={"entry_id": f"post:{keep['id']}"},
        headers={"origin": "https://evil.example"},
    )
    assert forged.status_code == 403
    undone = await submit(client, alice, f"{HOME}activity/undo", {"entry_id": f"post:{drop['id']}"})
    assert undone.status_code == 303 and undone.headers["location"] == f"{HOME}activity"
    assert [i["id"] for i in (await timeline(alice, None))["items"]] == [keep["id"]]
    log = await page(client, alice, f"{HOME}activity")
    assert "keep me" in log and "drop me" not in log
    again = await submit(client, alice, f"{HOME}activity/undo", {"entry_id": f"post:{drop['id']}"})
    assert again.status_code == 404


async def test_the_timeline_page_of_an_unknown_user_is_404(client: httpx.AsyncClient) -> None:
    response = await client.get(f"{HOME}users/{2**62}")
    assert response.status_code == 404 and "No user" in response.text
