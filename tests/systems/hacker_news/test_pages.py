"""The /hacker-news/ pages: lists, item pages with the ranked comment tree, voting and commenting
through the forms, submit, edit/delete, profiles and login — signed in by the session cookie."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.hacker_news.models import Account
from tests.systems.hacker_news.conftest import (
    API,
    SLUG,
    HnUser,
    NewUser,
    karma,
    reply,
    submit,
    vote,
)

HOME = "/hacker-news/"
SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, user: HnUser | None) -> None:
    client.cookies.clear()
    if user is not None:
        client.cookies.set("casebook_access", user.token)


def story_ids(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<li class="hn-story" id="(\d+)"', html)]


def comment_rows(html: str) -> list[tuple[int, int]]:
    """(comment id, depth) of each comment on a page, in page order."""
    found = re.findall(
        r'data-testid="comment" data-id="(\d+)" data-parent="\d+" data-depth="(\d+)"', html
    )
    return [(int(i), int(d)) for i, d in found]


def block_of(html: str, item_id: int) -> str:
    """The markup of one story or comment (up to the next one)."""
    start = html.index(f'id="{item_id}"')
    rest = html[start + 1 :]
    ends = [m.start() for m in re.finditer(r'<li class="hn-story"|<div class="hn-comment"', rest)]
    return html[start : start + 1 + (ends[0] if ends else len(rest))]


async def form_vote(client: httpx.AsyncClient, item_id: int, how: str = "up") -> httpx.Response:
    return await client.post(
        f"{HOME}vote", data={"id": item_id, "how": how, "goto": HOME}, headers=SAME_ORIGIN
    )


@pytest.mark.feature(SLUG, "ranking")
async def test_the_front_page_ranks_pages_and_links_stories(
    client: httpx.AsyncClient,
    alice: HnUser,
    new_user: NewUser,
    configure: Callable[..., Any],
) -> None:
    configure(stories_per_hour=100)
    stories = [
        await submit(client, alice, f"Story {n}", url=f"https://p.example/{n}") for n in range(31)
    ]
    voter = await new_user()
    await vote(client, voter, stories[3]["id"], "up")
    await reply(client, voter, stories[3]["id"], "first")
    front = await client.get(HOME)
    assert front.status_code == 200 and front.headers["content-type"].startswith("text/html")
    ids = story_ids(front.text)
    assert len(ids) == 30 and ids[0] == stories[3]["id"]
    assert ids == (await client.get(f"{API}/v0/topstories.json")).json()[:30]
    row = block_of(front.text, stories[3]["id"])
    assert "2 points" in row and f"user?id={alice.username}" in row and "1 comment" in row
    assert "https://p.example/3" in row and "(p.example)" in row
    # Anonymous visitors' arrows lead to the login page, and the list pages on.
    assert f"{HOME}login?goto=" in row
    assert f'href="{HOME}news?p=2"' in front.text
    second = await client.get(f"{HOME}news", params={"p": 2})
    assert story_ids(second.text) == (await client.get(f"{API}/v0/topstories.json")).json()[30:]
    assert 'start="31"' in second.text
    newest = await client.get(f"{HOME}newest")
    assert story_ids(newest.text) == [s["id"] for s in reversed(stories)][:30]
    older = await client.get(f"{HOME}newest", params={"next": story_ids(newest.text)[-1]})
    assert story_ids(older.text) == [stories[0]["id"]]
    bad = await client.get(HOME, params={"p": 0})
    assert bad.status_code == 422


@pytest.mark.feature(SLUG, "submissions")
async def test_ask_and_show_pages_list_their_kind_only(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    asked = await submit(client, alice, "Ask HN: Tabs or spaces?", text="Well?")
    shown = await submit(client, alice, "Show HN: A thing", url="https://s.example/thing")
    link = await submit(client, alice, "A link", url="https://s.example/link")
    assert story_ids((await client.get(f"{HOME}ask")).text) == [asked["id"]]
    assert story_ids((await client.get(f"{HOME}show")).text) == [shown["id"]]
    assert link["id"] in story_ids((await client.get(f"{HOME}newest")).text)


@pytest.mark.feature(SLUG, "voting")
async def test_voting_through_the_form_counts_once_and_shows_only_my_own_votes(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Vote on me", url="https://v.example/1")
    sign_in(client, bob)
    for _ in range(2):
        voted = await form_vote(client, story["id"])
        assert voted.status_code == 303 and voted.headers["location"] == HOME
    assert (await client.get(f"{API}/v0/item/{story['id']}.json")).json()["score"] == 2
    mine = block_of((await client.get(HOME)).text, story["id"])
    assert 'data-testid="unvote"' in mine and "Upvote item" not in mine

    # Another user sees the arrow, not Bob's vote; the author sees neither.
    carol = await new_user()
    sign_in(client, carol)
    theirs = block_of((await client.get(HOME)).text, story["id"])
    assert f"Upvote item {story['id']}" in theirs and 'data-testid="unvote"' not in theirs
    sign_in(client, alice)
    own = block_of((await client.get(HOME)).text, story["id"])
    assert "Upvote item" not in own and 'data-testid="unvote"' not in own
    assert "only you can see this" in (await client.get(f"{HOME}user?id={alice.username}")).text
    assert "only you can see this" not in (await client.get(f"{HOME}user?id={bob.username}")).text
    sign_in(client, bob)
    upvoted = await client.get(f"{HOME}upvoted")
    assert upvoted.text.count('data-testid="my-vote"') == 1 and "Vote on me" in upvoted.text
    sign_in(client, carol)
    assert 'data-testid="my-vote"' not in (await client.get(f"{HOME}upvoted")).text

    # Unvoting through the form; a cross-site form and an anonymous one change nothing.
    sign_in(client, bob)
    assert (await form_vote(client, story["id"], "un")).status_code == 303
    assert await karma(client, alice.username) == 1
    refused = await client.post(f"{HOME}vote", data={"id": story["id"], "how": "up"})
    assert refused.status_code == 403
    evil = await client.post(
        f"{HOME}vote",
        data={"id": story["id"], "how": "up"},
        headers={"origin": "https://evil.example"},
    )
    assert evil.status_code == 403
    sign_in(client, None)
    anonymous = await form_vote(client, story["id"])
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith(
        f"{HOME}login?goto="
    )
    assert (await client.get(f"{API}/v0/item/{story['id']}.json")).json()["score"] == 1
    # Voting on your own story is explained on a page, not a 500.
    sign_in(client, alice)
    own_vote = await form_vote(client, story["id"])
    assert own_vote.status_code == 403 and "cannot vote" in own_vote.text


@pytest.mark.feature(SLUG, "comments")
async def test_the_item_page_shows_the_ranked_tree_and_takes_comments_and_replies(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser, new_user: NewUser
) -> None:
    story = await submit(client, alice, "Discuss", url="https://c.example/1")
    first = await reply(client, bob, story["id"], "first")
    second = await reply(client, alice, story["id"], "second <script>alert(1)</script>")
    nested = await reply(client, alice, first["id"], "nested")
    await vote(client, await new_user(), second["id"], "up")
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert comment_rows(page.text) == [(second["id"], 0), (first["id"], 0), (nested["id"], 1)]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "<script>alert(1)" not in page.text
    assert "Log in</a> to comment" in page.text and 'action="/hacker-news/comment"' not in page.text

    sign_in(client, bob)
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert 'action="/hacker-news/comment"' in page.text
    posted = await client.post(
        f"{HOME}comment",
        data={"parent": nested["id"], "text": "deeper\n\nsecond paragraph"},
        headers=SAME_ORIGIN,
    )
    assert posted.status_code == 303
    location = posted.headers["location"]
    assert location.startswith(f"{HOME}item?id={story['id']}#")
    new_id = int(location.rsplit("#", 1)[1])
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert comment_rows(page.text)[-1] == (new_id, 2)
    assert "<p>deeper</p>" in block_of(page.text, new_id)
    assert "<p>second paragraph</p>" in block_of(page.text, new_id)
    reply_page = await client.get(f"{HOME}reply", params={"id": first["id"]})
    assert reply_page.status_code == 200 and f'value="{first["id"]}"' in reply_page.text
    empty = await client.post(
        f"{HOME}comment", data={"parent": story["id"], "text": "  "}, headers=SAME_ORIGIN
    )
    assert empty.status_code == 422 and "must not be empty" in empty.text
    # A comment's own page shows its subtree only.
    sub = await client.get(f"{HOME}item", params={"id": first["id"]})
    assert [i for i, _ in comment_rows(sub.text)] == [first["id"], nested["id"], new_id]
    missing = await client.get(f"{HOME}item", params={"id": 99999999})
    assert missing.status_code == 404 and "There is no item" in missing.text


@pytest.mark.feature(SLUG, "moderation")
async def test_dead_items_are_hidden_on_every_page(
    client: httpx.AsyncClient,
    alice: HnUser,
    bob: HnUser,
    new_user: NewUser,
    configure: Callable[..., Any],
) -> None:
    configure(kill_flags=1)
    story = await submit(client, alice, "Spam title", url="https://d.example/1")
    keep = await submit(client, alice, "Fine story", url="https://d.example/2")
    bad = await reply(client, alice, keep["id"], "spammy comment")
    flagger = await new_user(karma=100)
    for target in (story["id"], bad["id"]):
        flagged = await client.post(f"{API}/items/{target}/flag", headers=flagger.headers)
        assert flagged.json()["dead"] is True
    for path in (HOME, f"{HOME}newest"):
        listed = (await client.get(path)).text
        assert "Spam title" not in listed and "Fine story" in listed
    item = await client.get(f"{HOME}item", params={"id": keep["id"]})
    assert "spammy comment" not in item.text and "[flagged]" in block_of(item.text, bad["id"])
    dead_page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert "Spam title" not in dead_page.text and "[flagged]" in dead_page.text
    # Others do not see a user's dead submissions; the user does.
    sign_in(client, bob)
    assert "Spam title" not in (await client.get(f"{HOME}submitted?id={alice.username}")).text
    assert "spammy" not in (await client.get(f"{HOME}threads?id={alice.username}")).text
    sign_in(client, alice)
    own = (await client.get(f"{HOME}submitted?id={alice.username}")).text
    assert f'id="{story["id"]}"' in own and "Spam title" not in own and "[flagged]" in own
    assert f'data-id="{bad["id"]}"' in (await client.get(f"{HOME}threads?id={alice.username}")).text


@pytest.mark.feature(SLUG, "submissions")
async def test_the_submit_form_submits_and_explains_duplicates(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    anonymous = await client.get(f"{HOME}submit")
    assert anonymous.status_code == 303
    assert anonymous.headers["location"] == f"{HOME}login?goto=/hacker-news/submit"
    sign_in(client, alice)
    assert (await client.get(f"{HOME}submit")).status_code == 200
    sent = await client.post(
        f"{HOME}submit",
        data={"title": "From the form", "url": "https://f.example/a", "text": ""},
        headers=SAME_ORIGIN,
    )
    assert sent.status_code == 303 and sent.headers["location"] == f"{HOME}newest"
    newest = (await client.get(f"{HOME}newest")).text
    assert "From the form" in newest
    existing = story_ids(newest)[0]
    sign_in(client, bob)
    again = await client.post(
        f"{HOME}submit",
        data={"title": "Same link", "url": "https://www.f.example/a/", "text": ""},
        headers=SAME_ORIGIN,
    )
    assert again.status_code == 409
    assert f"item?id={existing}" in again.text and 'value="Same link"' in again.text
    no_text = await client.post(
        f"{HOME}submit", data={"title": "Nothing", "url": "", "text": ""}, headers=SAME_ORIGIN
    )
    assert no_text.status_code == 422 and "Submit a URL" in no_text.text


@pytest.mark.feature(SLUG, "submissions")
async def test_authors_edit_and_delete_through_the_pages_and_others_cannot(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Edit me", text="typo")
    comment = await reply(client, alice, story["id"], "to delete")
    sign_in(client, bob)
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert f"edit?id={story['id']}" not in page.text
    assert (await client.get(f"{HOME}edit", params={"id": story["id"]})).status_code == 404
    forged = await client.post(
        f"{HOME}edit", data={"id": story["id"], "title": "Bob", "text": "x"}, headers=SAME_ORIGIN
    )
    assert forged.status_code == 403
    assert (
        await client.post(f"{HOME}delete", data={"id": comment["id"]}, headers=SAME_ORIGIN)
    ).status_code == 403

    sign_in(client, alice)
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert f"edit?id={story['id']}" in page.text and f"edit?id={comment['id']}" in page.text
    form = await client.get(f"{HOME}edit", params={"id": story["id"]})
    assert 'value="Edit me"' in form.text
    saved = await client.post(
        f"{HOME}edit",
        data={"id": story["id"], "title": "Edited", "text": "fixed"},
        headers=SAME_ORIGIN,
    )
    assert saved.status_code == 303
    removed = await client.post(f"{HOME}delete", data={"id": comment["id"]}, headers=SAME_ORIGIN)
    assert removed.status_code == 303
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    assert "Edited" in page.text and "<p>fixed</p>" in page.text
    assert "to delete" not in page.text and "[deleted]" in block_of(page.text, comment["id"])


@pytest.mark.feature(SLUG, "user-profiles")
async def test_the_user_page_shows_karma_and_lets_only_its_owner_edit_about(
    client: httpx.AsyncClient, platform: Platform, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Mine", url="https://u.example/1")
    await vote(client, bob, story["id"], "up")
    await reply(client, alice, story["id"], "my comment")
    profile = await client.get(f"{HOME}user", params={"id": alice.username})
    assert re.search(r'data-testid="karma">2<', profile.text)
    assert f"submitted?id={alice.username}" in profile.text
    assert "my comment" in (await client.get(f"{HOME}threads?id={alice.username}")).text
    assert "Mine" in (await client.get(f"{HOME}submitted?id={alice.username}")).text
    unknown = await client.get(f"{HOME}user", params={"id": "nobody-here"})
    assert unknown.status_code == 404

    sign_in(client, bob)
    assert 'name="about"' not in (await client.get(f"{HOME}user?id={alice.username}")).text
    # The form has no user field: whatever Bob sends, it changes his own "about".
    saved = await client.post(
        f"{HOME}user", data={"about": "Bob here", "id": alice.username}, headers=SAME_ORIGIN
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{HOME}user?id={bob.username}"
    async with platform.db.session() as session:
        assert (await session.get(Account, alice.user_id)).about == ""  # type: ignore[union-attr]
        assert (await session.get(Account, bob.user_id)).about == "Bob here"  # type: ignore[union-attr]
    too_long = await client.post(f"{HOME}user", data={"about": "x" * 5001}, headers=SAME_ORIGIN)
    assert too_long.status_code == 422


@pytest.mark.feature(SLUG, "user-accounts")
async def test_creating_an_account_and_logging_in_through_the_pages(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    page = await client.get(f"{HOME}login", params={"goto": f"{HOME}submit"})
    assert page.status_code == 200 and 'action="/hacker-news/register"' in page.text
    created = await client.post(
        f"{HOME}register",
        data={
            "username": "pagewriter",
            "email": "pagewriter@example.com",
            "password": "correct horse battery",
            "goto": f"{HOME}submit",
        },
        headers=SAME_ORIGIN,
    )
    assert created.status_code == 303 and created.headers["location"] == f"{HOME}submit"
    assert "casebook_access" in created.cookies
    assert "pagewriter" in (await client.get(HOME)).text
    client.cookies.clear()
    wrong = await client.post(
        f"{HOME}login",
        data={"username": "pagewriter", "password": "wrong password!"},
        headers=SAME_ORIGIN,
    )
    assert wrong.status_code == 401 and 'value="pagewriter"' in wrong.text
    ok = await client.post(
        f"{HOME}login",
        data={
            "username": "PageWriter",
            "password": "correct horse battery",
            "goto": "https://evil.example/",
        },
        headers=SAME_ORIGIN,
    )
    assert ok.status_code == 303 and ok.headers["location"] == HOME
    taken = await client.post(
        f"{HOME}register",
        data={"username": "PAGEWRITER", "email": "other@example.com", "password": "x" * 16},
        headers=SAME_ORIGIN,
    )
    assert taken.status_code == 409 and "taken" in taken.text


@pytest.mark.feature(SLUG, "user-accounts")
async def test_a_casebook_user_chooses_a_username_on_the_login_page(
    client: httpx.AsyncClient,
) -> None:
    password = "a long enough passphrase"
    await client.post(
        "/api/auth/register",
        json={"email": "plain@example.com", "password": password, "display_name": "Plain"},
    )
    login = await client.post(
        "/api/auth/login", json={"email": "plain@example.com", "password": password}
    )
    client.cookies.set("casebook_access", login.json()["access_token"])
    submit_page = await client.get(f"{HOME}submit")
    assert submit_page.headers["location"].startswith(f"{HOME}login")
    page = await client.get(submit_page.headers["location"])
    assert 'action="/hacker-news/account"' in page.text
    chosen = await client.post(
        f"{HOME}account",
        data={"username": "plainuser", "goto": f"{HOME}submit"},
        headers=SAME_ORIGIN,
    )
    assert chosen.status_code == 303 and chosen.headers["location"] == f"{HOME}submit"
    assert (await client.get(f"{HOME}submit")).status_code == 200
    bad = await client.post(f"{HOME}account", data={"username": "another"}, headers=SAME_ORIGIN)
    assert bad.status_code == 409  # they have one already


@pytest.mark.feature(SLUG, "real-time-updates")
async def test_the_item_page_loads_only_our_own_live_script(
    client: httpx.AsyncClient, alice: HnUser
) -> None:
    story = await submit(client, alice, "Scripted", url="https://j.example/1")
    page = await client.get(f"{HOME}item", params={"id": story["id"]})
    config = re.search(r'<script type="application/json" id="hn-live">(.*?)</script>', page.text)
    assert config is not None
    assert json.loads(config.group(1)) == {
        "item": story["id"],
        "ws": "/ws/hacker-news",
        "home": HOME,
        "me": None,
    }
    sources = re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', page.text)
    assert sources and all(s.startswith("/") and not s.startswith("//") for s in sources)
    script = await client.get(f"{HOME}static/hn.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith(
        "text/javascript"
    )
    assert "new WebSocket(" in script.text and "innerHTML" not in script.text
    for name in ("pages.py", "hacker_news_item.html", "..%2Fpages.py"):
        refused = await client.get(f"{HOME}static/{name}")
        assert refused.status_code == 404
