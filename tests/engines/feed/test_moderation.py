"""Moderation through the API: spam heuristics on comment creation (rate, duplicate content,
link reputation), reports that hide for the reporter and, past the threshold, for everyone,
and per-user hides."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from casebook.engines.feed import moderation
from casebook.engines.feed.engagement_api import EngagementConfig, configure
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from tests.engines.feed.conftest import API, SYSTEM, FeedUser, Publish

pytestmark = pytest.mark.feature("facebook-newsfeed", "moderation")


def _moderate(platform: Platform, **fields: object) -> None:
    configure(platform, SYSTEM, EngagementConfig(moderation=moderation.ModerationConfig(**fields)))  # type: ignore[arg-type]


async def _comment(
    client: httpx.AsyncClient, user: FeedUser, post_id: str, body: str
) -> httpx.Response:
    return await client.post(
        f"{API}/posts/{post_id}/comments", json={"body": body}, headers=user.headers
    )


async def _thread(client: httpx.AsyncClient, user: FeedUser | None, post_id: str) -> list[str]:
    headers = user.headers if user is not None else {}
    response = await client.get(f"{API}/posts/{post_id}/comments", headers=headers)
    assert response.status_code == 200, response.text
    return [c["body"] for c in response.json()["items"]]


async def test_links_to_blocked_domains_are_refused_and_unvetted_links_mark_spam(
    client: httpx.AsyncClient, platform: Platform, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    _moderate(
        platform,
        blocked_domains=frozenset({"scam.example"}),
        allowed_domains=frozenset({"wikipedia.org"}),
        max_unvetted_links=1,
    )
    post = await publish(alice, "hello")
    refused = await _comment(client, bob, post["id"], "win at https://promo.scam.example/x")
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"] == "/problems/feed/link-blocked"
    vetted = await _comment(
        client, bob, post["id"], "see https://en.wikipedia.org/a and www.wikipedia.org/b"
    )
    assert vetted.status_code == 201 and vetted.json()["spam"] is False
    spammy = await _comment(client, bob, post["id"], "http://a.example/1 http://b.example/2")
    assert spammy.status_code == 201 and spammy.json()["spam"] is True
    assert len(await _thread(client, bob, post["id"])) == 2  # the author sees their spam
    assert await _thread(client, alice, post["id"]) == [vetted.json()["body"]]
    engagement = await client.get(f"{API}/posts/{post['id']}/engagement", headers=alice.headers)
    assert engagement.json()["counts"]["comments"] == 1


async def test_the_same_text_twice_within_the_window_is_refused_even_when_racing(
    client: httpx.AsyncClient, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    post = await publish(alice, "hello")
    first = await _comment(client, bob, post["id"], "Great   post!")
    assert first.status_code == 201, first.text
    again = await _comment(client, bob, post["id"], "great post!")  # case and spacing ignored
    assert again.status_code == 409
    assert again.json()["type"] == "/problems/feed/duplicate-content"
    other_user = await _comment(client, alice, post["id"], "great post!")
    assert other_user.status_code == 201
    racing = await asyncio.gather(
        *(_comment(client, bob, post["id"], "same words at once") for _ in range(4))
    )
    assert sorted(r.status_code for r in racing) == [201, 409, 409, 409]
    assert len(await _thread(client, alice, post["id"])) == 3


async def test_duplicates_are_allowed_again_after_the_window(
    client: httpx.AsyncClient, platform: Platform, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    _moderate(platform, duplicate_window=timedelta(0))
    post = await publish(alice, "hello")
    for _ in range(2):
        assert (await _comment(client, bob, post["id"], "again")).status_code == 201


async def test_commenting_faster_than_the_rate_is_refused_with_retry_after(
    client: httpx.AsyncClient, platform: Platform, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    _moderate(platform, create_rate=RateLimit(rate=0.01, burst=3))
    post = await publish(alice, "hello")
    statuses = [(await _comment(client, bob, post["id"], f"c{i}")).status_code for i in range(6)]
    assert statuses[0] == 201 and statuses[-1] == 429
    accepted = statuses.count(201)
    limited = await _comment(client, bob, post["id"], "one more")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert len(await _thread(client, bob, post["id"])) == accepted
    # Another user has a rate of their own.
    assert (await _comment(client, alice, post["id"], "mine")).status_code == 201


async def test_reports_hide_for_the_reporter_then_for_everyone_past_the_threshold(
    client: httpx.AsyncClient,
    platform: Platform,
    publish: Publish,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
    dave: FeedUser,
) -> None:
    _moderate(platform, report_threshold=2)
    post = await publish(alice, "hello")
    bad = (await _comment(client, dave, post["id"], "rude words")).json()
    fine = (await _comment(client, dave, post["id"], "kind words")).json()

    async def report(
        user: FeedUser, kind: str, target: str, reason: str = "harassment"
    ) -> httpx.Response:
        return await client.post(
            f"{API}/reports",
            json={"target_kind": kind, "target_id": target, "reason": reason},
            headers=user.headers,
        )

    first = await report(bob, "comment", bad["id"])
    assert first.status_code == 201 and first.json() == {"created": True, "hidden": False}
    assert (await report(bob, "comment", bad["id"])).status_code == 200  # repeated: no change
    assert await _thread(client, bob, post["id"]) == ["kind words"]
    assert await _thread(client, carol, post["id"]) == ["rude words", "kind words"]
    second = await report(carol, "comment", bad["id"])
    assert second.json() == {"created": True, "hidden": True}
    for viewer in (alice, carol, dave, None):
        assert await _thread(client, viewer, post["id"]) == ["kind words"]
    gone = await client.get(f"{API}/comments/{bad['id']}", headers=dave.headers)
    assert gone.status_code == 404
    engagement = await client.get(f"{API}/posts/{post['id']}/engagement")
    assert engagement.json()["counts"]["comments"] == 1
    # Bad reports change nothing.
    assert (await report(dave, "comment", fine["id"])).status_code == 409  # one's own
    assert (await report(bob, "comment", fine["id"], reason="boring")).status_code == 422
    assert (await report(bob, "planet", fine["id"])).status_code == 422
    mine = await client.get(f"{API}/reports", headers=bob.headers)
    assert [r["target_id"] for r in mine.json()["items"]] == [bad["id"]]
    assert (await client.get(f"{API}/reports", headers=dave.headers)).json()["items"] == []


async def test_a_post_hidden_by_reports_is_gone_for_all_but_its_author(
    client: httpx.AsyncClient,
    platform: Platform,
    publish: Publish,
    alice: FeedUser,
    bob: FeedUser,
    carol: FeedUser,
) -> None:
    _moderate(platform, report_threshold=2)
    post = await publish(alice, "spam spam spam")
    for user in (bob, carol):
        response = await client.post(
            f"{API}/reports",
            json={"target_kind": "post", "target_id": post["id"], "reason": "spam"},
            headers=user.headers,
        )
        assert response.status_code == 201
    assert (await client.get(f"{API}/posts/{post['id']}/comments")).status_code == 404
    liked = await client.put(
        f"{API}/posts/{post['id']}/reactions", json={"kind": "like"}, headers=bob.headers
    )
    assert liked.status_code == 404
    own = await client.get(f"{API}/posts/{post['id']}/engagement", headers=alice.headers)
    assert own.status_code == 200
    async with platform.db.session() as session:
        hidden = await moderation.hidden_ids(session, SYSTEM, None, "post", [int(post["id"])])
    assert hidden == {int(post["id"])}


async def test_hiding_is_per_user_and_can_be_undone(
    client: httpx.AsyncClient, platform: Platform, publish: Publish, alice: FeedUser, bob: FeedUser
) -> None:
    post = await publish(alice, "hello")
    comment = (await _comment(client, alice, post["id"], "a comment")).json()
    hidden = await client.post(
        f"{API}/hidden",
        json={"target_kind": "comment", "target_id": comment["id"]},
        headers=bob.headers,
    )
    assert hidden.status_code == 204
    assert await _thread(client, bob, post["id"]) == []
    assert await _thread(client, alice, post["id"]) == ["a comment"]
    async with platform.db.session() as session:
        ids = [int(post["id"])]
        assert await moderation.hidden_ids(session, SYSTEM, int(bob.id), "post", ids) == set()
    undone = await client.delete(f"{API}/hidden/comment/{comment['id']}", headers=bob.headers)
    assert undone.status_code == 204
    assert await _thread(client, bob, post["id"]) == ["a comment"]
    missing = await client.post(
        f"{API}/hidden", json={"target_kind": "post", "target_id": "12345"}, headers=bob.headers
    )
    assert missing.status_code == 404
