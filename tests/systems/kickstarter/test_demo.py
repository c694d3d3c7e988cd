"""Demo data: accounts that can sign in, live projects with rewards and pledges, a settled
campaign; loading it twice adds nothing."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.platform.auth.models import User
from casebook.platform.context import Platform
from casebook.systems.kickstarter.demo import (
    BACKER_EMAILS,
    CREATOR_EMAIL,
    DEMO_PROJECTS,
    FINISHED_TITLE,
    PASSWORD,
    load_demo,
)
from casebook.systems.kickstarter.models import Pledge, Project, RewardTier, TopUp

API = "/api/kickstarter"


async def _counts(platform: Platform) -> dict[str, int | None]:
    async with platform.db.session() as session:
        return {
            name: await session.scalar(select(func.count()).select_from(table))
            for name, table in (
                ("users", User),
                ("projects", Project),
                ("tiers", RewardTier),
                ("pledges", Pledge),
                ("top_ups", TopUp),
            )
        }


async def test_demo_data_loads_once_with_a_settled_campaign(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    first = await _counts(platform)
    await load_demo(platform)
    assert await _counts(platform) == first
    assert first["projects"] == len(DEMO_PROJECTS)
    assert first["pledges"] == sum(len(p.pledges) for p in DEMO_PROJECTS)
    assert first["top_ups"] == len(BACKER_EMAILS)

    live = (await client.get(f"{API}/projects", params={"limit": 50})).json()["items"]
    by_title = {p["title"]: p for p in live}
    assert {p.title for p in DEMO_PROJECTS} == set(by_title)
    assert len({p["category"] for p in live}) == 4
    finished = by_title.pop(FINISHED_TITLE)
    assert finished["status"] == "successful"
    assert finished["collected"] == 24_000
    assert {p["status"] for p in by_title.values()} == {"live"}

    login = await client.post(
        "/api/auth/login", json={"email": CREATOR_EMAIL, "password": PASSWORD}
    )
    assert login.status_code == 200, login.text
    creator_wallet = await client.get(
        f"{API}/wallet", headers={"Authorization": f"Bearer {login.json()['access_token']}"}
    )
    # $240 collected, less the 5 % platform fee.
    assert creator_wallet.json()["balance"] == 22_800
    async with platform.db.session() as session:
        assert (await verify(session)).ok
