"""The demo data loads through the real engine and system functions, once, and the demo user's
page shows friends' and followed posts, the page's post and a sponsored slot — never Ada's
"only me" draft."""

from __future__ import annotations

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.facebook_newsfeed import SYSTEM
from casebook.systems.facebook_newsfeed.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo
from tests.engines.feed.conftest import API, drain_jobs

SLUG = "facebook-newsfeed"


@pytest.mark.feature(SLUG, "news-feed")
async def test_demo_loads_once_and_fills_the_demo_users_feed(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    assert SYSTEM.demo is load_demo
    await load_demo(platform)
    await drain_jobs(platform)
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}

    first = await client.get(f"{API}/feed", params={"rank": "chronological"}, headers=headers)
    bodies = [post["body"] for post in first.json()["items"]]
    assert len(bodies) == 5
    assert any("Dinner on Friday" in b for b in bodies)  # a friend's friends-only post
    assert any("Can machines think" in b for b in bodies)  # a followed person
    assert any("We shipped the feed engine" in b for b in bodies)  # a followed page
    assert not any("Draft:" in b for b in bodies)  # Ada's "only me"

    await load_demo(platform)  # again: nothing new
    await drain_jobs(platform)
    again = await client.get(f"{API}/feed", params={"rank": "chronological"}, headers=headers)
    assert [p["id"] for p in again.json()["items"]] == [p["id"] for p in first.json()["items"]]

    page = await client.get("/facebook-newsfeed/", headers=headers)
    assert page.status_code == 200
    assert "Sponsored" in page.text and "Learn COBOL in 21 days" in page.text
    assert "Draft:" not in page.text
    assignment = await client.get(f"{API}/experiments/assignment", headers=headers)
    assert assignment.json()["experiment"]["variant"] in {"control", "comments-x2"}
