"""The /facebook-newsfeed/ page: signed-in only; the composer with its audience picker, the feed
with reactions and comments, sponsored slots with tracked clicks, the live script — and privacy:
the HTML shows a reader exactly what they may see, and forms on posts they may not see change
nothing."""

from __future__ import annotations

import re

import httpx
import pytest

from casebook.platform.context import Platform
from tests.engines.feed.conftest import (
    API,
    Befriend,
    FeedUser,
    Follow,
    Publish,
    befriend,  # noqa: F401 - fixture
    drain_jobs,
)
from tests.systems.facebook_newsfeed.conftest import CreateAd, Tune

SLUG = "facebook-newsfeed"
PAGE = f"/{SLUG}/"
SAME_ORIGIN = {"origin": "http://testserver"}


def as_user(user: FeedUser, *, form: bool = False) -> dict[str, str]:
    return {**user.headers, **SAME_ORIGIN} if form else user.headers


async def page_of(client: httpx.AsyncClient, user: FeedUser, **params: str) -> str:
    response = await client.get(PAGE, params=params, headers=as_user(user))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


async def engagement(client: httpx.AsyncClient, user: FeedUser, post_id: str) -> dict[str, object]:
    response = await client.get(f"{API}/posts/{post_id}/engagement", headers=user.headers)
    assert response.status_code == 200, response.text
    counts: dict[str, object] = response.json()["counts"]
    return counts


@pytest.mark.feature(SLUG, "user-accounts")
async def test_visitors_are_sent_to_log_in(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/facebook-newsfeed/"


@pytest.mark.feature(SLUG, "privacy")
async def test_the_html_shows_friends_only_posts_to_friends_and_nobody_else(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    befriend: Befriend,  # noqa: F811
    follow: Follow,
    publish: Publish,
) -> None:
    await befriend(alice, bob)
    await follow(carol, alice)  # a follower, not a friend
    secret = await publish(alice, "Friends only: the party is at my place", audience="friends")
    await publish(alice, "Public: hello world", audience="public")

    friend = await page_of(client, bob)
    assert "Friends only: the party is at my place" in friend
    assert "Public: hello world" in friend
    assert f'id="post-{secret["id"]}"' in friend

    stranger = await page_of(client, carol)
    assert "Public: hello world" in stranger
    assert "the party is at my place" not in stranger
    assert secret["id"] not in stranger

    # Forms aimed at the hidden post are the engine's 404 and change nothing.
    reacted = await client.post(
        f"{PAGE}posts/{secret['id']}/react",
        data={"kind": "like"},
        headers=as_user(carol, form=True),
    )
    assert reacted.status_code == 404
    assert "party" not in reacted.text
    commented = await client.post(
        f"{PAGE}posts/{secret['id']}/comments",
        data={"body": "let me in"},
        headers=as_user(carol, form=True),
    )
    assert commented.status_code == 404
    counts = await engagement(client, alice, secret["id"])
    assert counts["reactions"] == 0 and counts["comments"] == 0


@pytest.mark.feature(SLUG, "publish-posts")
async def test_the_composer_publishes_with_the_chosen_audience(
    client: httpx.AsyncClient,
    platform: Platform,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    befriend: Befriend,  # noqa: F811
    follow: Follow,
) -> None:
    await befriend(alice, bob)
    await follow(carol, alice)
    composer = await page_of(client, alice)
    assert 'name="audience"' in composer and 'value="only_me"' in composer

    posted = await client.post(
        f"{PAGE}posts",
        data={"body": "Composed on the page", "audience": "friends"},
        headers=as_user(alice, form=True),
    )
    assert posted.status_code == 303
    assert posted.headers["location"] == PAGE
    await drain_jobs(platform)

    mine = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    (post,) = mine.json()["items"]
    assert post["body"] == "Composed on the page" and post["audience"] == "friends"
    assert "Composed on the page" in await page_of(client, bob)
    assert "Composed on the page" not in await page_of(client, carol)


@pytest.mark.feature(SLUG, "publish-posts")
async def test_bad_or_cross_site_composer_input_changes_nothing(
    client: httpx.AsyncClient, alice: FeedUser
) -> None:
    empty = await client.post(
        f"{PAGE}posts",
        data={"body": "   ", "audience": "public"},
        headers=as_user(alice, form=True),
    )
    assert empty.status_code == 422
    assert 'role="alert"' in empty.text
    bad_audience = await client.post(
        f"{PAGE}posts",
        data={"body": "Hello", "audience": "everyone"},
        headers=as_user(alice, form=True),
    )
    assert bad_audience.status_code == 422
    assert "Hello</textarea>" in bad_audience.text  # the draft is kept
    cross_site = await client.post(
        f"{PAGE}posts",
        data={"body": "Forged", "audience": "public"},
        headers={**alice.headers, "origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    mine = await client.get(f"{API}/users/{alice.id}/posts", headers=alice.headers)
    assert mine.json()["items"] == []


@pytest.mark.feature(SLUG, "engagement")
async def test_reactions_and_comments_from_the_page(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    befriend: Befriend,  # noqa: F811
    publish: Publish,
) -> None:
    await befriend(alice, bob)
    post = await publish(alice, "React to me", audience="friends")
    react_url = f"{PAGE}posts/{post['id']}/react"

    loved = await client.post(react_url, data={"kind": "love"}, headers=as_user(bob, form=True))
    assert loved.status_code == 303
    assert loved.headers["location"] == f"{PAGE}#post-{post['id']}"
    unknown = await client.post(react_url, data={"kind": "meh"}, headers=as_user(bob, form=True))
    assert unknown.status_code == 422
    commented = await client.post(
        f"{PAGE}posts/{post['id']}/comments",
        data={"body": "Nice one, Alice"},
        headers=as_user(bob, form=True),
    )
    assert commented.status_code == 303
    empty = await client.post(
        f"{PAGE}posts/{post['id']}/comments", data={"body": ""}, headers=as_user(bob, form=True)
    )
    assert empty.status_code == 422

    counts = await engagement(client, alice, post["id"])
    assert counts["reactions"] == 1 and counts["reactions_by_kind"] == {"love": 1}
    assert counts["comments"] == 1
    html = await page_of(client, bob)
    assert "You reacted love" in html
    assert "Nice one, Alice" in html
    assert "1 reactions · 1 comments" in html
    # Alice sees the comment too, but not Bob's reaction as her own.
    alices = await page_of(client, alice)
    assert "Nice one, Alice" in alices and "You reacted" not in alices

    removed = await client.post(react_url, data={"kind": "remove"}, headers=as_user(bob, form=True))
    assert removed.status_code == 303
    assert (await engagement(client, alice, post["id"]))["reactions"] == 0
    assert "You reacted" not in await page_of(client, bob)


@pytest.mark.feature(SLUG, "ads")
async def test_sponsored_slots_link_to_a_tracked_click(
    client: httpx.AsyncClient,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    follow: Follow,
    publish: Publish,
    create_ad: CreateAd,
    tune: Tune,
) -> None:
    tune(ad_cadence=1)
    await follow(bob, alice)
    await publish(alice, "A post before the ad")
    ad = await create_ad(carol, title="Trail shoes", url="https://shop.example/shoes")
    html = await page_of(client, bob)
    assert "Sponsored" in html and "Trail shoes" in html
    assert "https://shop.example/shoes" not in html  # only the tracked link is on the page
    found = re.search(r'class="nf-ad-link" href="([^"]+)"', html)
    assert found is not None
    link = found.group(1).replace("&amp;", "&")
    assert link.startswith(f"{API}/ads/click/")
    clicked = await client.get(link)
    assert clicked.status_code == 303
    assert clicked.headers["location"] == "https://shop.example/shoes"
    stats = await client.get(f"{API}/ads/{ad['id']}", headers=carol.headers)
    assert stats.json()["clicks"] == 1


async def test_the_live_script_is_our_own_file(client: httpx.AsyncClient, alice: FeedUser) -> None:
    html = await page_of(client, alice)
    assert f'src="{PAGE}static/newsfeed.js?v=' in html
    assert '"ws": "/ws/facebook-newsfeed"' in html or '"ws":"/ws/facebook-newsfeed"' in html
    script = await client.get(f"{PAGE}static/newsfeed.js")
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "new WebSocket" in script.text
    missing = await client.get(f"{PAGE}static/secrets.txt")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
