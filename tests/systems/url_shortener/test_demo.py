"""Demo data: a demo account that can log in, with links and clicks, loaded idempotently."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.platform.context import Platform
from casebook.systems.url_shortener.demo import DEMO_EMAIL, DEMO_LINKS, DEMO_PASSWORD, load_demo
from casebook.systems.url_shortener.models import ClickCount, Link


async def test_demo_data_loads_once_and_the_demo_user_can_sign_in(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    await load_demo(platform)
    async with platform.db.session() as session:
        links = await session.scalar(select(func.count()).select_from(Link))
        clicks = await session.scalar(select(func.sum(ClickCount.clicks)))
    assert links == len(DEMO_LINKS)
    assert clicks == sum(n for *_, n in DEMO_LINKS)
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200
    token = login.json()["access_token"]
    mine = await client.get(
        "/api/url-shortener/links", headers={"Authorization": f"Bearer {token}"}
    )
    assert {item["code"] for item in mine.json()["items"]} == {a for a, *_ in DEMO_LINKS}
    redirect = await client.get("/s/rfc9457")
    assert redirect.headers["location"] == "https://www.rfc-editor.org/rfc/rfc9457"
