"""The /instagram/ pages: feed with the stories tray, profile grid (hidden for a private
account's non-followers), post page with carousel, blurhash placeholder, likes and comments,
the story viewer, explore, hashtags, search and the upload form — signed in by the cookie."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.instagram.conftest import (
    API,
    IgUser,
    NewUser,
    Upload,
    settle,
    small_png,
    wait_processed,
)

HOME = "/instagram/"
SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, user: IgUser | None) -> None:
    client.cookies.clear()
    if user is not None:
        client.cookies.set("casebook_access", user.token)


def tiles(html: str) -> list[str]:
    return re.findall(r'<a class="ig-tile" href="/instagram/p/(\d+)"', html)


async def _photo(
    client: httpx.AsyncClient, upload: Upload, platform: Platform, user: IgUser, caption: str
) -> str:
    item = await upload(user, small_png(), "image/png")
    made = await client.post(
        f"{API}/photos", json={"media_ids": [item["id"]], "caption": caption}, headers=user.headers
    )
    assert made.status_code == 201, made.text
    post_id: str = made.json()["id"]
    await settle(platform, post_id)
    return post_id


@pytest.mark.feature("instagram", "profiles")
@pytest.mark.feature("instagram", "private-accounts")
async def test_a_private_profile_page_hides_the_grid_from_non_followers(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    owner = await ig_user(private=True)
    fan, stranger = await ig_user(), await ig_user()
    post = await _photo(client, upload, platform, owner, "secret garden")
    await client.post(f"{API}/users/{owner.id}/follow", headers=fan.headers)
    await client.post(f"{API}/follow-requests/{fan.id}/approve", headers=owner.headers)
    for user in (None, stranger):
        sign_in(client, user)
        page = await client.get(f"{HOME}u/{owner.handle}")
        assert page.status_code == 200
        assert tiles(page.text) == []
        assert "This account is private" in page.text
        assert post not in page.text and "secret garden" not in page.text
        assert (await client.get(f"{HOME}p/{post}")).status_code == 404
    for user in (fan, owner):
        sign_in(client, user)
        page = await client.get(f"{HOME}u/{owner.handle}")
        assert tiles(page.text) == [post]
        assert "This account is private" not in page.text
    sign_in(client, None)
    assert (await client.get(f"{HOME}u/nobody_at_all")).status_code == 404


@pytest.mark.feature("instagram", "posts")
async def test_upload_form_publishes_a_carousel_with_placeholders(
    client: httpx.AsyncClient, ig_user: NewUser, platform: Platform
) -> None:
    alice = await ig_user()
    sign_in(client, alice)
    form = await client.get(f"{HOME}new")
    assert form.status_code == 200 and 'enctype="multipart/form-data"' in form.text
    files = [
        ("files", ("a.png", small_png((200, 10, 10)), "image/png")),
        ("files", ("b.png", small_png((10, 10, 200)), "image/png")),
    ]
    forged = await client.post(
        f"{HOME}new", files=files, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    assert (await client.get(f"{API}/media", headers=alice.headers)).json()["items"] == []
    uploaded = await client.post(f"{HOME}new", files=files, headers=SAME_ORIGIN)
    assert uploaded.status_code == 303, uploaded.text
    ids = parse_qs(urlsplit(uploaded.headers["location"]).query)["media"][0].split(",")
    assert len(ids) == 2
    for media_id in ids:
        await wait_processed(platform, media_id)
    ready = await client.get(uploaded.headers["location"])
    assert 'data-testid="publish"' in ready.text
    published = await client.post(
        f"{HOME}publish",
        data={"media": ",".join(ids), "caption": "Two colours #duo", "location": "Lyon"},
        headers=SAME_ORIGIN,
    )
    assert published.status_code == 303, published.text
    post_page = await client.get(published.headers["location"])
    assert post_page.status_code == 200
    assert post_page.text.count("<figure") == 2
    assert "background-image: url('data:image/png;base64," in post_page.text
    assert "Two colours #duo" in post_page.text and 'href="/instagram/tags/duo"' in post_page.text
    assert "Lyon" in post_page.text
    # The same media cannot be published twice; the refusal is a page, not a crash.
    again = await client.post(f"{HOME}publish", data={"media": ",".join(ids)}, headers=SAME_ORIGIN)
    assert again.status_code == 409
    # One more upload, shared as a story: the author lands on its viewer page.
    single = await client.post(
        f"{HOME}new", files=[("files", ("c.png", small_png(), "image/png"))], headers=SAME_ORIGIN
    )
    story_media = parse_qs(urlsplit(single.headers["location"]).query)["media"][0]
    await wait_processed(platform, story_media)
    shared = await client.post(
        f"{HOME}publish",
        data={"media": story_media, "caption": "Quick one", "share_as": "story"},
        headers=SAME_ORIGIN,
    )
    assert shared.status_code == 303 and "/instagram/stories/" in shared.headers["location"]
    story_page = await client.get(shared.headers["location"])
    assert "Quick one" in story_page.text and "Seen by 0" in story_page.text
    archive = (await client.get(f"{API}/stories/archive", headers=alice.headers)).json()
    assert [s["caption"] for s in archive["items"]] == ["Quick one"]
    sign_in(client, None)
    anonymous = await client.post(f"{HOME}publish", data={"media": ids[0]}, headers=SAME_ORIGIN)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


@pytest.mark.feature("instagram", "likes-comments")
async def test_like_and_comment_through_the_post_page(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob = await ig_user(), await ig_user()
    post = await _photo(client, upload, platform, alice, "sunrise")
    sign_in(client, bob)
    liked = await client.post(f"{HOME}p/{post}/like", headers=SAME_ORIGIN)
    assert liked.status_code == 303
    page = await client.get(f"{HOME}p/{post}")
    assert "1 likes" in page.text and "Unlike" in page.text
    said = await client.post(
        f"{HOME}p/{post}/comments", data={"body": "Gorgeous light"}, headers=SAME_ORIGIN
    )
    assert said.status_code == 303
    thread = (await client.get(f"{API}/posts/{post}/comments")).json()["items"]
    assert [c["body"] for c in thread] == ["Gorgeous light"]
    await client.post(
        f"{HOME}p/{post}/comments",
        data={"body": "Thanks!", "parent_id": thread[0]["id"]},
        headers=SAME_ORIGIN,
    )
    page = await client.get(f"{HOME}p/{post}")
    assert page.text.index("Gorgeous light") < page.text.index("Thanks!")
    assert "margin-left: 1.5rem" in page.text  # the reply is nested
    blank = await client.post(f"{HOME}p/{post}/comments", data={"body": "  "}, headers=SAME_ORIGIN)
    assert blank.status_code == 422
    await client.post(f"{HOME}p/{post}/like", headers=SAME_ORIGIN)
    counts = (await client.get(f"{API}/posts/{post}/engagement")).json()
    assert counts["counts"].get("reactions", 0) == 0


@pytest.mark.feature("instagram", "feed")
@pytest.mark.feature("instagram", "stories")
async def test_feed_page_shows_followed_posts_and_the_story_tray(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob, carol = await ig_user(), await ig_user(), await ig_user()
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    followed = await _photo(client, upload, platform, alice, "followed post")
    other = await _photo(client, upload, platform, carol, "unfollowed post")
    story_media = await upload(alice, small_png(), "image/png")
    story = (
        await client.post(
            f"{API}/stories", json={"media_id": story_media["id"]}, headers=alice.headers
        )
    ).json()
    sign_in(client, bob)
    feed = await client.get(HOME)
    assert feed.status_code == 200
    assert "followed post" in feed.text and "unfollowed post" not in feed.text
    assert other not in feed.text and followed in feed.text
    assert f"/instagram/stories/{story['id']}" in feed.text and alice.handle in feed.text
    viewer = await client.get(f"{HOME}stories/{story['id']}")
    assert viewer.status_code == 200 and 'data-testid="viewers"' not in viewer.text
    sign_in(client, alice)
    own = await client.get(f"{HOME}stories/{story['id']}")
    assert "Seen by 1" in own.text and f'href="/instagram/u/{bob.handle}"' in own.text
    sign_in(client, None)
    assert (await client.get(HOME)).headers["location"] == "/instagram/explore"


@pytest.mark.feature("instagram", "explore")
@pytest.mark.feature("instagram", "search")
async def test_explore_hashtag_and_search_pages(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice = await ig_user()
    hidden = await ig_user(private=True)
    post = await _photo(client, upload, platform, alice, "#pagetest bright")
    secret = await _photo(client, upload, platform, hidden, "#pagetest private")
    sign_in(client, None)
    explore = await client.get(f"{HOME}explore")
    assert explore.status_code == 200
    assert post in tiles(explore.text) and secret not in tiles(explore.text)
    assert 'href="/instagram/tags/pagetest"' in explore.text
    tag = await client.get(f"{HOME}tags/pagetest")
    assert tiles(tag.text) == [post]
    found = await client.get(f"{HOME}search", params={"q": alice.handle})
    assert f'href="/instagram/u/{alice.handle}"' in found.text
    bad = await client.get(f"{HOME}search", params={"q": "%"})
    assert bad.status_code == 422 and 'role="alert"' in bad.text


@pytest.mark.feature("instagram", "profiles")
@pytest.mark.feature("instagram", "follow")
async def test_profile_page_forms_edit_the_bio_and_request_a_follow(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    owner = await ig_user(private=True)
    fan = await ig_user()
    sign_in(client, owner)
    forged = await client.post(
        f"{HOME}profile", data={"bio": "pwned"}, headers={"origin": "https://evil.example"}
    )
    assert forged.status_code == 403
    bad = await client.post(
        f"{HOME}profile", data={"website": "javascript:alert(1)"}, headers=SAME_ORIGIN
    )
    assert bad.status_code == 422
    saved = await client.post(
        f"{HOME}profile",
        data={"bio": "Night trains & <b>maps</b>", "website": "https://owner.example"},
        headers=SAME_ORIGIN,
    )
    assert saved.status_code == 303
    page = await client.get(f"{HOME}u/{owner.handle}")
    assert "Night trains &amp; &lt;b&gt;maps&lt;/b&gt;" in page.text  # escaped, not markup
    assert 'href="https://owner.example"' in page.text
    # Someone else's upload is not shown on one's upload page.
    theirs = await upload(fan, small_png(), "image/png")
    assert (await client.get(f"{HOME}new?media={theirs['id']}")).status_code == 404
    sign_in(client, fan)
    asked = await client.post(
        f"{HOME}u/{owner.handle}/follow", data={"action": "follow"}, headers=SAME_ORIGIN
    )
    assert asked.status_code == 303
    page = await client.get(f"{HOME}u/{owner.handle}")
    assert "Requested" in page.text and "This account is private" in page.text
    pending = (await client.get(f"{API}/follow-requests", headers=owner.headers)).json()
    assert pending["user_ids"] == [fan.id]
    await client.post(
        f"{HOME}u/{owner.handle}/follow", data={"action": "unfollow"}, headers=SAME_ORIGIN
    )
    pending = (await client.get(f"{API}/follow-requests", headers=owner.headers)).json()
    assert pending["user_ids"] == []
