"""The money-market fund: subscriptions, redemptions, and daily yield posted exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay import fund
from casebook.systems.alipay.models import FundAccrual
from casebook.systems.alipay.runtime import Alipay, accrue_yield_job
from tests.systems.alipay.conftest import API, NewUser, User, books_balance, top_up, wallet

pytestmark = pytest.mark.feature("alipay", "wealth-fund")


async def subscribe(client: httpx.AsyncClient, user: User, amount: int) -> httpx.Response:
    return await client.post(f"{API}/fund/subscribe", json={"amount": amount}, headers=user.headers)


async def test_subscribe_and_redeem_move_money_between_wallet_and_fund(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    await top_up(client, alice, 10_000)
    subscribed = await subscribe(client, alice, 6_000)
    assert subscribed.status_code == 200
    assert subscribed.json()["holding"] == subscribed.json()["value"] == 6_000
    redeemed = await client.post(
        f"{API}/fund/redeem", json={"amount": 2_000}, headers=alice.headers
    )
    assert redeemed.json()["holding"] == 4_000
    money = await wallet(client, alice)
    assert (money["balance"], money["fund_holding"]) == (6_000, 4_000)
    await books_balance(platform)


async def test_cannot_subscribe_or_redeem_more_than_you_have(
    client: httpx.AsyncClient, alice: User
) -> None:
    await top_up(client, alice, 1_000)
    assert (await subscribe(client, alice, 1_001)).status_code == 409
    await subscribe(client, alice, 500)
    too_much = await client.post(f"{API}/fund/redeem", json={"amount": 501}, headers=alice.headers)
    assert too_much.status_code == 409
    money = await wallet(client, alice)
    assert (money["balance"], money["fund_holding"]) == (500, 500)


async def test_concurrent_redemptions_never_exceed_the_holding(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    await top_up(client, alice, 3_000)
    await subscribe(client, alice, 3_000)
    results = await asyncio.gather(
        *(
            client.post(f"{API}/fund/redeem", json={"amount": 1_000}, headers=alice.headers)
            for _ in range(5)
        )
    )
    assert sorted(r.status_code for r in results) == [200] * 3 + [409] * 2
    money = await wallet(client, alice)
    assert (money["balance"], money["fund_holding"]) == (3_000, 0)
    await books_balance(platform)


async def test_daily_yield_is_posted_once_however_often_the_job_runs(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay, platform: Platform
) -> None:
    await top_up(client, alice, 10_000_000)
    await top_up(client, bob, 10_000)
    await subscribe(client, alice, 10_000_000)  # 100,000 yuan
    await subscribe(client, bob, 10_000)  # 100 yuan: under a fen a day at 1.8 %
    today = utcnow().date()
    tomorrow = utcnow() + timedelta(days=1)
    first = await fund.accrue_yield(platform.db, today, 180, now=tomorrow)
    expected = 10_000_000 * 180 // (10_000 * 365)
    assert (first.holders, first.posted, first.total) == (2, 1, expected)
    holding_after_first = (await wallet(client, alice))["fund_holding"]
    assert holding_after_first == 10_000_000 + expected
    again = await fund.accrue_yield(platform.db, today, 180, now=tomorrow)
    assert (again.posted, again.total) == (0, expected)
    concurrent = await asyncio.gather(
        *(fund.accrue_yield(platform.db, today, 180, now=tomorrow) for _ in range(3))
    )
    assert [run.posted for run in concurrent] == [0, 0, 0]
    assert (await wallet(client, alice))["fund_holding"] == holding_after_first
    summary = (await client.get(f"{API}/fund", headers=alice.headers)).json()
    assert (summary["total_yield"], summary["last_yield"]) == (expected, expected)
    assert summary["last_yield_day"] == today.isoformat()
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(FundAccrual)) == 1
    await books_balance(platform)


async def test_yield_uses_the_holding_at_the_end_of_the_day(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    await top_up(client, alice, 5_000_000)
    await subscribe(client, alice, 5_000_000)
    yesterday = utcnow().date() - timedelta(days=1)
    run = await fund.accrue_yield(platform.db, yesterday, 180)
    assert (run.holders, run.posted) == (0, 0)  # the money arrived today


async def test_an_unfinished_day_is_refused(platform: Platform) -> None:
    with pytest.raises(fund.DayNotOver):
        await fund.accrue_yield(platform.db, utcnow().date(), 180)


async def test_the_scheduled_job_accrues_the_given_day(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    user = await new_user()
    await top_up(client, user, 1_000_000)
    await subscribe(client, user, 1_000_000)
    yesterday = (utcnow() - timedelta(days=1)).date()
    await accrue_yield_job(platform, {"day": yesterday.isoformat()})
    assert (await client.get(f"{API}/fund", headers=user.headers)).json()["total_yield"] == 0


def test_daily_yield_rounds_down_to_the_fen() -> None:
    assert fund.daily_yield(10_000_000, 180) == 493  # 100,000 yuan at 1.80 %: ¥4.93
    assert fund.daily_yield(20_277, 180) == 0
    assert fund.daily_yield(0, 180) == 0
