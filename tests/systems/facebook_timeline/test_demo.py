"""Demo data: accounts that can sign in, Ada's timeline with life events, a featured post, a
photo and posts of several audiences, friends' engagement and Ada's own activity; loading it
twice adds nothing, and each demo user sees what their relation to Ada allows."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.engines.feed.models import FeedPost
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.systems.facebook_timeline.demo import (
    DEMO_LIFE_EVENTS,
    DEMO_POSTS,
    FOLLOWER_EMAIL,
    FRIEND_EMAIL,
    OWNER_EMAIL,
    PASSWORD,
    load_demo,
)
from casebook.systems.facebook_timeline.models import SYSTEM, TimelineLifeEvent

API = f"/api/{SYSTEM}"


async def _counts(platform: Platform) -> tuple[int | None, ...]:
    async with platform.db.session() as session:
        return tuple(
            [
                await session.scalar(select(func.count()).select_from(table))
                for table in (User, TimelineLifeEvent)
            ]
            + [await session.scalar(select(func.count()).where(FeedPost.system == SYSTEM))]
        )


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_demo_data_loads_once_and_its_audiences_hold(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # Other systems may have made operator accounts at startup: count what the demo adds.
    base = await _counts(platform)
    await load_demo(platform)
    first = await _counts(platform)
    await load_demo(platform)
    assert await _counts(platform) == first
    added = tuple((after or 0) - (start or 0) for after, start in zip(first, base, strict=True))
    assert added == (3, len(DEMO_LIFE_EVENTS), len(DEMO_LIFE_EVENTS) + len(DEMO_POSTS) + 2)

    ada = await _login(client, OWNER_EMAIL)
    me = (await client.get("/api/auth/me", headers=ada)).json()
    path = f"{API}/users/{me['id']}/timeline"
    own = (await client.get(path, headers=ada)).json()
    assert [p["life_event"]["title"] for p in own["pinned"]] == ["Graduated in mathematics"]
    kinds = [i["kind"] for i in own["items"]]
    assert kinds.count("life_event") == len(DEMO_LIFE_EVENTS) - 1 and "photo" in kinds
    photo = next(i for i in own["items"] if i["kind"] == "photo")
    image = await client.get(f"{API}/posts/{photo['id']}/photo")
    assert image.status_code == 200 and image.content.startswith(b"\x89PNG")

    def bodies(page: dict[str, object]) -> set[str]:
        return {str(i["body"]) for i in page["items"]}  # type: ignore[attr-defined]

    friend = (await client.get(path, headers=await _login(client, FRIEND_EMAIL))).json()
    follower = (await client.get(path, headers=await _login(client, FOLLOWER_EMAIL))).json()
    friends_only = {p.body for p in DEMO_POSTS if p.audience == "friends"}
    private = {p.body for p in DEMO_POSTS if p.audience == "only_me"}
    assert friends_only <= bodies(friend) and not private & bodies(friend)
    assert not (friends_only | private) & bodies(follower)
    assert "Moved to London" in bodies(friend) and "Moved to London" not in bodies(follower)

    log = (await client.get(f"{API}/activity", headers=ada)).json()["items"]
    assert {e["kind"] for e in log} == {"post", "reaction", "comment", "follow", "friend"}
