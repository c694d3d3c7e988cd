"""Demo data: loads once; the demo user signs in to a funded wallet, a bill and a payable code."""

from __future__ import annotations

import httpx
from sqlalchemy import func, select

from casebook.platform.context import Platform
from casebook.systems.alipay.demo import DEMO_PASSWORD, load_demo
from casebook.systems.alipay.models import Bill, QrCode
from tests.systems.alipay.conftest import API, books_balance


async def test_demo_data_loads_once_and_the_demo_user_can_pay(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    await load_demo(platform)
    await load_demo(platform)
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(Bill)) == 2
        code = await session.scalar(select(QrCode))
        assert code is not None
    login = await client.post(
        f"{API}/users/login", json={"username": "demo", "password": DEMO_PASSWORD}
    )
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    money = (await client.get(f"{API}/wallet", headers=headers)).json()
    assert (money["balance"], money["fund_holding"]) == (200_000 - 100_000 - 1_800, 100_000)
    paid = await client.post(f"{API}/qr/pay", json={"payload": code.payload}, headers=headers)
    assert paid.status_code == 201
    statuses = {b["status"] for b in (await client.get(f"{API}/bills", headers=headers)).json()}
    assert statuses == {"due", "overdue"}
    await books_balance(platform)
