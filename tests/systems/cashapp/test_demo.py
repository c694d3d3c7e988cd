"""Demo data loads once and leaves consistent books."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.cashapp.demo import DEMO_PASSWORD, load_demo
from tests.systems.cashapp.conftest import API

pytestmark = pytest.mark.feature("cashapp", "balance")


async def test_demo_loads_idempotently(client: httpx.AsyncClient, platform: Platform) -> None:
    await load_demo(platform)
    await load_demo(platform)
    login = await client.post(
        "/api/auth/login", json={"email": "demo@example.com", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    account = await client.get(f"{API}/balance", headers=headers)
    assert account.json()["balance"] == 25_000 - 475 + 1_800
    waiting = await client.get(f"{API}/payments", params={"pending": "true"}, headers=headers)
    assert [(p["amount"], p["direction"]) for p in waiting.json()["items"]] == [(2_250, "out")]
    async with platform.db.session() as session:
        assert (await verify(session)).ok
