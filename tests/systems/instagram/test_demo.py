"""The demo data loads through the real pipeline and services, once: the demo user's feed has
the followed accounts' photos (a processed carousel with blurhash), Marco's private grid is
shown to the demo user only, and the tray has Lena's story."""

from __future__ import annotations

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.instagram import SYSTEM
from casebook.systems.instagram.demo import DEMO_EMAIL, DEMO_PASSWORD, demo_picture, load_demo
from tests.systems.instagram.conftest import API, drain_jobs


@pytest.mark.feature("instagram", "feed")
async def test_demo_loads_once_with_real_processed_photos(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    assert SYSTEM.demo is load_demo
    assert demo_picture("sea") != demo_picture("dusk")
    await load_demo(platform)
    await drain_jobs(platform)
    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    first = (await client.get(f"{API}/feed?limit=50", headers=headers)).json()["items"]
    captions = [p["body"] for p in first]
    assert any("Golden hour" in c for c in captions)
    assert any("family only" in c for c in captions)  # Marco approved the demo user
    carousel = next(p for p in first if "Golden hour" in p["body"])
    assert carousel["data"]["kind"] == "carousel" and len(carousel["data"]["media"]) == 3
    item = carousel["data"]["media"][0]
    assert item["status"] == "ready" and item["blurhash"]
    assert sorted(item["variants"], key=int) == ["320", "640", "1080"]
    picture = await client.get(item["variants"]["320"], headers=headers)
    assert picture.status_code == 200 and picture.content[:3] == b"\xff\xd8\xff"
    tray = (await client.get(f"{API}/stories", headers=headers)).json()["items"]
    assert [group["handle"] for group in tray] == ["lena"]
    inbox = (await client.get(f"{API}/notifications", headers=headers)).json()["items"]
    assert "mention" in {n["kind"] for n in inbox}

    marco = (await client.get(f"{API}/search?q=marco")).json()["users"][0]
    anonymous = (await client.get(f"{API}/profiles/{marco['id']}")).json()
    assert anonymous["private"] and anonymous["grid"] == []
    mine = (await client.get(f"{API}/profiles/{marco['id']}", headers=headers)).json()
    assert len(mine["grid"]) == 1

    await load_demo(platform)  # again: nothing new
    await drain_jobs(platform)
    again = (await client.get(f"{API}/feed?limit=50", headers=headers)).json()["items"]
    assert [p["id"] for p in again] == [p["id"] for p in first]
    page = await client.get("/instagram/", headers=headers)
    assert page.status_code == 200 and "Golden hour" in page.text
