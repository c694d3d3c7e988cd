"""Stories: 24-hour expiry on every read path, the author's archive, viewers for the author."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.instagram.models import InstagramStory
from tests.systems.instagram.conftest import API, NewUser, Upload, small_png

pytestmark = pytest.mark.feature("instagram", "stories")


async def test_a_story_expires_from_every_read_path_but_the_archive(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload, platform: Platform
) -> None:
    alice, bob = await ig_user(), await ig_user()
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)
    item = await upload(alice, small_png(), "image/png")
    made = await client.post(f"{API}/stories", json={"media_id": item["id"]}, headers=alice.headers)
    assert made.status_code == 201, made.text
    story = made.json()
    tray = (await client.get(f"{API}/stories", headers=bob.headers)).json()["items"]
    assert [s["id"] for g in tray for s in g["stories"]] == [story["id"]]
    assert (
        await client.get(f"{API}/stories/{story['id']}", headers=bob.headers)
    ).status_code == 200
    assert (await client.get(item["variants"]["320"], headers=bob.headers)).status_code == 200
    async with platform.db.session() as session:  # 24 hours pass
        await session.execute(
            update(InstagramStory)
            .where(InstagramStory.id == int(story["id"]))
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    assert (await client.get(f"{API}/stories", headers=bob.headers)).json()["items"] == []
    assert (
        await client.get(f"{API}/stories/{story['id']}", headers=bob.headers)
    ).status_code == 404
    assert (await client.get(item["variants"]["320"], headers=bob.headers)).status_code == 404
    archive = (await client.get(f"{API}/stories/archive", headers=alice.headers)).json()
    assert [s["id"] for s in archive["items"]] == [story["id"]]
    assert (await client.get(f"{API}/stories/archive", headers=bob.headers)).json()["items"] == []
    assert (await client.get(item["variants"]["320"], headers=alice.headers)).status_code == 200


async def test_viewers_are_counted_once_each_and_shown_to_the_author_only(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user()
    watchers = [await ig_user() for _ in range(4)]
    item = await upload(alice, small_png(), "image/png")
    story = (
        await client.post(f"{API}/stories", json={"media_id": item["id"]}, headers=alice.headers)
    ).json()
    views = [
        client.get(f"{API}/stories/{story['id']}", headers=w.headers)
        for w in watchers
        for _ in range(3)
    ]
    assert all(v.status_code == 200 for v in await asyncio.gather(*views))
    seen = await client.get(f"{API}/stories/{story['id']}/viewers", headers=alice.headers)
    assert sorted(v["user_id"] for v in seen.json()["items"]) == sorted(w.id for w in watchers)
    own = await client.get(f"{API}/stories/{story['id']}", headers=alice.headers)
    assert own.json()["view_count"] == 4
    denied = await client.get(f"{API}/stories/{story['id']}/viewers", headers=watchers[0].headers)
    assert denied.status_code == 403
    assert (
        "view_count"
        not in (
            await client.get(f"{API}/stories/{story['id']}", headers=watchers[0].headers)
        ).json()
    )


async def test_a_private_accounts_stories_are_for_approved_followers(
    client: httpx.AsyncClient, ig_user: NewUser, upload: Upload
) -> None:
    alice = await ig_user(private=True)
    bob = await ig_user()
    item = await upload(alice, small_png(), "image/png")
    story = (
        await client.post(f"{API}/stories", json={"media_id": item["id"]}, headers=alice.headers)
    ).json()
    await client.post(f"{API}/users/{alice.id}/follow", headers=bob.headers)  # pending
    assert (
        await client.get(f"{API}/stories/{story['id']}", headers=bob.headers)
    ).status_code == 404
    assert (await client.get(f"{API}/stories/{story['id']}")).status_code == 404
    assert (await client.get(f"{API}/stories", headers=bob.headers)).json()["items"] == []
    await client.post(f"{API}/follow-requests/{bob.id}/approve", headers=alice.headers)
    assert (
        await client.get(f"{API}/stories/{story['id']}", headers=bob.headers)
    ).status_code == 200
    # A media item in a story cannot also be posted.
    reused = await client.post(
        f"{API}/photos", json={"media_ids": [item["id"]]}, headers=alice.headers
    )
    assert reused.status_code == 409
