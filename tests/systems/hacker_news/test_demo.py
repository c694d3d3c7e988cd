"""The demo data loads through the real services, once, and shows up in the HN API."""

from __future__ import annotations

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.hacker_news.demo import load_demo
from tests.systems.hacker_news.conftest import API, SLUG


@pytest.mark.feature(SLUG, "hn-api")
async def test_demo_loads_once_and_reads_like_hacker_news(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    top = (await client.get(f"{API}/v0/topstories.json")).json()
    await load_demo(platform)
    assert (await client.get(f"{API}/v0/topstories.json")).json() == top
    assert len(top) == 4
    ask = (await client.get(f"{API}/v0/askstories.json")).json()
    first = (await client.get(f"{API}/v0/item/{ask[0]}.json")).json()
    assert first["title"].startswith("Ask HN") and first["descendants"] == 1
    demo = (await client.get(f"{API}/v0/user/demo.json")).json()
    assert demo["id"] == "demo" and len(demo["submitted"]) == 2
    login = await client.post(
        f"{API}/login", json={"username": "demo", "password": "casebook-demo"}
    )
    assert login.status_code == 200
