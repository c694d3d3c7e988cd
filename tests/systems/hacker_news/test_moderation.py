"""Moderation: flags need karma, enough flags kill an item everywhere, new accounts are limited."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.systems.hacker_news.conftest import API, SLUG, HnUser, NewUser, reply, submit, vote

pytestmark = pytest.mark.feature(SLUG, "moderation")


async def test_enough_flags_kill_a_story_everywhere(
    client: httpx.AsyncClient, alice: HnUser, new_user: NewUser, configure: Callable[..., Any]
) -> None:
    configure(kill_flags=3)
    story = await submit(client, alice, "Spammy", url="https://m.example/1")
    keep = await submit(client, alice, "Fine", url="https://m.example/2")
    flaggers = [await new_user(karma=100) for _ in range(3)]
    first = await client.post(f"{API}/items/{story['id']}/flag", headers=flaggers[0].headers)
    assert first.json() == {"id": story["id"], "flagged": True, "dead": False}
    unflag = await client.delete(f"{API}/items/{story['id']}/flag", headers=flaggers[0].headers)
    assert unflag.json()["flagged"] is False
    # Three flaggers at once, each twice: three flags count, and the third kills.
    results = await asyncio.gather(
        *(
            client.post(f"{API}/items/{story['id']}/flag", headers=f.headers)
            for f in flaggers
            for _ in range(2)
        )
    )
    assert all(r.status_code in (200, 409) for r in results), [r.text for r in results]
    item = (await client.get(f"{API}/v0/item/{story['id']}.json")).json()
    assert item["dead"] is True
    for listing in ("topstories", "newstories"):
        assert (await client.get(f"{API}/v0/{listing}.json")).json() == [keep["id"]]
    assert (await vote(client, flaggers[0], story["id"], "up")).status_code == 409
    dead_reply = await client.post(
        f"{API}/items/{story['id']}/comments", json={"text": "x"}, headers=flaggers[0].headers
    )
    assert dead_reply.status_code == 409


async def test_flagging_needs_karma_and_not_your_own(
    client: httpx.AsyncClient, alice: HnUser, bob: HnUser
) -> None:
    story = await submit(client, alice, "Whatever", url="https://m.example/3")
    poor = await client.post(f"{API}/items/{story['id']}/flag", headers=bob.headers)
    assert poor.status_code == 403
    assert poor.json()["type"] == "/problems/hacker-news/not-enough-karma"
    own = await client.post(f"{API}/items/{story['id']}/flag", headers=alice.headers)
    assert own.status_code == 403
    assert "dead" not in (await client.get(f"{API}/v0/item/{story['id']}.json")).json()


async def test_a_killed_comment_stays_in_the_thread_marked_dead(
    client: httpx.AsyncClient,
    alice: HnUser,
    bob: HnUser,
    new_user: NewUser,
    configure: Callable[..., Any],
) -> None:
    configure(kill_flags=1)
    story = await submit(client, alice, "Thread", url="https://m.example/4")
    rude = await reply(client, bob, story["id"], "rude")
    moderator = await new_user(karma=100)
    killed = await client.post(f"{API}/items/{rude['id']}/flag", headers=moderator.headers)
    assert killed.json()["dead"] is True
    thread = (await client.get(f"{API}/items/{story['id']}/thread")).json()
    assert thread["comments"][0]["item"]["dead"] is True


async def test_new_accounts_get_stricter_submission_limits(
    client: httpx.AsyncClient, new_user: NewUser, configure: Callable[..., Any]
) -> None:
    configure(new_stories_per_hour=2, new_account_days=14)
    newcomer = await new_user()
    for n in range(2):
        await submit(client, newcomer, f"Story {n}", url=f"https://m.example/new/{n}")
    limited = await client.post(
        f"{API}/stories",
        json={"title": "Third", "url": "https://m.example/new/3"},
        headers=newcomer.headers,
    )
    assert limited.status_code == 429
    assert int(limited.headers["Retry-After"]) >= 1
    configure(new_account_days=0)
    veteran = await new_user()
    for n in range(4):
        await submit(client, veteran, f"Old hand {n}", url=f"https://m.example/old/{n}")
