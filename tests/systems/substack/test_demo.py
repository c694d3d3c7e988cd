"""Demo data: accounts that can sign in, a publication with free, paid, draft and scheduled
posts, free and paying readers; loading it twice adds nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.systems.substack.demo import (
    DEMO_POSTS,
    PASSWORD,
    READER_EMAILS,
    SLUG,
    WRITER_EMAIL,
    load_demo,
)
from casebook.systems.substack.models import PaidSubscription, Post, Subscriber

API = "/api/substack"


async def _counts(platform: Platform) -> dict[str, int | None]:
    async with platform.db.session() as session:
        return {
            name: await session.scalar(select(func.count()).select_from(table))
            for name, table in (
                ("users", User),
                ("posts", Post),
                ("subscribers", Subscriber),
                ("paid", PaidSubscription),
            )
        }


async def _login(client: httpx.AsyncClient, email: str) -> dict[str, str]:
    login = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
    assert login.status_code == 200, login.text
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def test_demo_data_loads_once_and_its_paywall_holds(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    first = await _counts(platform)
    await load_demo(platform)
    assert await _counts(platform) == first
    assert first["posts"] == len(DEMO_POSTS)
    assert first["subscribers"] == len(READER_EMAILS) and first["paid"] == 1

    publication = (await client.get(f"{API}/publications/{SLUG}")).json()
    assert publication["subscriber_count"] == len(READER_EMAILS)
    listed = await client.get(f"{API}/publications/{publication['id']}/posts")
    published = {p["title"]: p for p in listed.json()["items"]}
    assert set(published) == {p.title for p in DEMO_POSTS if p.status == "published"}
    paid_post = published["The ledger never lies"]
    assert paid_post["paywalled"] is True and "audit is a sum" not in paid_post["html"]
    assert {p["email_status"] for p in published.values()} == {"none"}

    page = f"/substack/{SLUG}/p/{paid_post['id']}"
    free = await client.get(page, headers=await _login(client, READER_EMAILS[0]))
    assert free.status_code == 200 and "audit is a sum" not in free.text
    paying = await client.get(page, headers=await _login(client, READER_EMAILS[2]))
    assert "audit is a sum" in paying.text
    writer = await _login(client, WRITER_EMAIL)
    drafts = await client.get(
        f"{API}/publications/{publication['id']}/posts?status=scheduled", headers=writer
    )
    assert [p["title"] for p in drafts.json()["items"]] == ["Next week: caches"]
    analytics = await client.get(
        f"{API}/publications/{publication['id']}/analytics", headers=writer
    )
    assert analytics.json()["paid_subscribers"] == 1 and analytics.json()["earnings"] == 450
    async with platform.db.session() as session:
        assert (await verify(session)).ok
