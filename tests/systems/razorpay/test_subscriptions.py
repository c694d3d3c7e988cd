"""Plans and subscriptions: trials, billing cycles charged exactly once by the job (also when
runs overlap), retries with backoff then `halted`, pause/resume and cancel."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay import billing, merchants
from casebook.systems.razorpay.models import SubscriptionCharge
from casebook.systems.razorpay.publicids import decode
from tests.systems.razorpay.conftest import V1, Merchant

PRICE = 29_900
FEE = 706  # 2 % of 29,900 (598) plus 18 % GST on it (108)


async def balance(platform: Platform, merchant: Merchant) -> int:
    merchant_id = decode("acc", merchant.account_id)
    assert merchant_id is not None
    async with platform.db.session() as session:
        return (await merchants.balance_account(Ledger(session), merchant_id, "INR")).posted


async def create_plan(
    client: httpx.AsyncClient, merchant: Merchant, period: str = "monthly", interval: int = 1
) -> dict[str, Any]:
    response = await client.post(
        f"{V1}/plans",
        json={
            "period": period,
            "interval": interval,
            "item": {"name": "Pro", "amount": PRICE, "currency": "INR"},
        },
        headers=merchant.basic,
    )
    assert response.status_code == 200, response.text
    plan: dict[str, Any] = response.json()
    return plan


async def subscribe(
    client: httpx.AsyncClient,
    merchant: Merchant,
    *,
    total_count: int = 3,
    trial_days: int | None = None,
    vpa: str = "asha@okbank",
) -> dict[str, Any]:
    plan = await create_plan(client, merchant)
    body: dict[str, Any] = {"plan_id": plan["id"], "total_count": total_count}
    if trial_days is not None:
        body["start_at"] = int(time.time()) + trial_days * 86_400
    created = await client.post(f"{V1}/subscriptions", json=body, headers=merchant.basic)
    assert created.status_code == 200, created.text
    subscription: dict[str, Any] = created.json()
    assert subscription["status"] == "created"
    path = httpx.URL(subscription["short_url"]).path
    authenticated = await client.post(path, json={"method": "upi", "vpa": vpa})
    assert authenticated.status_code == 200, authenticated.text
    return subscription


async def fetch(client: httpx.AsyncClient, merchant: Merchant, sub: dict[str, Any]) -> Any:
    response = await client.get(f"{V1}/subscriptions/{sub['id']}", headers=merchant.basic)
    assert response.status_code == 200, response.text
    return response.json()


def at(unix_seconds: int, later: timedelta = timedelta(seconds=1)) -> datetime:
    return datetime.fromtimestamp(unix_seconds, UTC) + later


@pytest.mark.feature("razorpay", "subscriptions")
async def test_trial_then_each_cycle_is_charged_exactly_once(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    sub = await subscribe(client, merchant, total_count=3, trial_days=7)
    trial = await fetch(client, merchant, sub)
    assert trial["status"] == "authenticated" and trial["paid_count"] == 0
    assert trial["charge_at"] == trial["start_at"]
    assert (await billing.bill_due(platform)).charged == 0  # still in the trial

    first = await billing.bill_due(platform, at(trial["start_at"]))
    assert first.charged == 1
    active = await fetch(client, merchant, sub)
    assert active["status"] == "active" and active["paid_count"] == 1
    next_month = datetime.fromtimestamp(trial["start_at"], UTC) + timedelta(days=28)
    assert active["charge_at"] >= int(next_month.timestamp())
    assert (await billing.bill_due(platform, at(trial["start_at"]))).charged == 0

    # Overlapping runs of the job charge the second cycle once.
    runs = await asyncio.gather(
        *(billing.bill_due(platform, at(active["charge_at"])) for _ in range(3))
    )
    assert sum(r.charged for r in runs) == 1
    second = await fetch(client, merchant, sub)
    assert second["paid_count"] == 2 and second["remaining_count"] == 1

    assert (await billing.bill_due(platform, at(second["charge_at"]))).charged == 1
    done = await fetch(client, merchant, sub)
    assert done["status"] == "completed" and done["charge_at"] is None
    assert done["ended_at"] is not None
    assert (await billing.bill_due(platform, at(second["charge_at"], timedelta(days=90)))) == (
        billing.BillingRun(0, 0, 0, 0)
    )
    assert await balance(platform, merchant) == 3 * (PRICE - FEE)
    async with platform.db.session() as session:
        cycles = (
            await session.scalars(
                select(SubscriptionCharge.cycle).where(
                    SubscriptionCharge.subscription_id == decode("sub", sub["id"])
                )
            )
        ).all()
        assert sorted(cycles) == [1, 2, 3]
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "subscriptions")
async def test_without_a_trial_the_first_cycle_is_charged_at_authentication(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    sub = await subscribe(client, merchant, total_count=12)
    now = await fetch(client, merchant, sub)
    assert now["status"] == "active" and now["paid_count"] == 1
    assert await balance(platform, merchant) == PRICE - FEE
    again = await client.post(
        httpx.URL(sub["short_url"]).path, json={"method": "upi", "vpa": "asha@okbank"}
    )
    assert again.status_code == 409
    assert await balance(platform, merchant) == PRICE - FEE


@pytest.mark.feature("razorpay", "subscriptions")
async def test_failed_charges_are_retried_with_backoff_then_halted(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    sub = await subscribe(client, merchant, vpa="failure@razorpay")
    pending = await fetch(client, merchant, sub)
    assert pending["status"] == "pending" and pending["auth_attempts"] == 1
    waits = [pending["charge_at"] - int(time.time())]
    later = datetime.now(UTC) + timedelta(days=30)
    for attempt in (2, 3):
        assert (await billing.bill_due(platform, later)).failed == 1
        retry = await fetch(client, merchant, sub)
        assert retry["status"] == "pending" and retry["auth_attempts"] == attempt
        waits.append(retry["charge_at"] - int(time.time()))
    # Each wait doubles: about 1, 2, then 4 days.
    assert [round(w / 86_400) for w in waits] == [1, 2, 4]
    assert (await billing.bill_due(platform, later)).failed == 1
    halted = await fetch(client, merchant, sub)
    assert halted["status"] == "halted" and halted["charge_at"] is None
    assert (await billing.bill_due(platform, later + timedelta(days=60))).failed == 0
    assert await balance(platform, merchant) == 0


@pytest.mark.feature("razorpay", "subscriptions")
async def test_pause_resume_and_cancel(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    sub = await subscribe(client, merchant, total_count=6)
    url = f"{V1}/subscriptions/{sub['id']}"
    before = await fetch(client, merchant, sub)
    paused = await client.post(f"{url}/pause", json={"pause_at": "now"}, headers=merchant.basic)
    assert paused.json()["status"] == "paused"
    assert (await billing.bill_due(platform, at(before["charge_at"]))).charged == 0
    resumed = await client.post(f"{url}/resume", json={"resume_at": "now"}, headers=merchant.basic)
    assert resumed.json()["status"] == "active"
    assert resumed.json()["charge_at"] >= before["charge_at"]
    assert (await client.post(f"{url}/resume", headers=merchant.basic)).status_code == 409

    # Another merchant can neither see nor change it.
    assert (await client.get(url, headers=other_merchant.basic)).status_code == 404
    assert (await client.post(f"{url}/cancel", headers=other_merchant.basic)).status_code == 404

    at_end = await client.post(
        f"{url}/cancel", json={"cancel_at_cycle_end": 1}, headers=merchant.basic
    )
    assert at_end.json()["status"] == "active" and at_end.json()["has_scheduled_changes"]
    run = await billing.bill_due(platform, at(resumed.json()["charge_at"]))
    assert run.cancelled == 1 and run.charged == 0
    ended = await fetch(client, merchant, sub)
    assert ended["status"] == "cancelled" and ended["paid_count"] == 1
    assert (await client.post(f"{url}/cancel", headers=merchant.basic)).status_code == 409
    assert await balance(platform, merchant) == PRICE - FEE

    other = await subscribe(client, merchant, trial_days=3)
    cancelled = await client.post(
        f"{V1}/subscriptions/{other['id']}/cancel", headers=merchant.basic
    )
    assert cancelled.json()["status"] == "cancelled"
    assert (await billing.bill_due(platform, datetime.now(UTC) + timedelta(days=10))).charged == 0
    async with platform.db.session() as session:
        assert await session.scalar(select(func.count()).select_from(SubscriptionCharge)) == 1


@pytest.mark.feature("razorpay", "subscriptions")
async def test_bad_plans_and_subscriptions_are_refused(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant
) -> None:
    item = {"name": "Pro", "amount": PRICE}
    for body, field in [
        ({"period": "hourly", "interval": 1, "item": item}, "period"),
        ({"period": "daily", "interval": 3, "item": item}, "interval"),
        ({"period": "monthly", "interval": 1, "item": {**item, "amount": 50}}, "item.amount"),
        ({"period": "monthly", "interval": 1}, "item"),
    ]:
        response = await client.post(f"{V1}/plans", json=body, headers=merchant.basic)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field
    plan = await create_plan(client, merchant)
    for body, field in [
        ({"plan_id": plan["id"], "total_count": 0}, "total_count"),
        ({"plan_id": plan["id"], "total_count": 3, "start_at": 1_000}, "start_at"),
    ]:
        response = await client.post(f"{V1}/subscriptions", json=body, headers=merchant.basic)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field
    theirs = await client.post(
        f"{V1}/subscriptions",
        json={"plan_id": plan["id"], "total_count": 3},
        headers=other_merchant.basic,
    )
    assert theirs.status_code == 404
    created = await client.post(
        f"{V1}/subscriptions",
        json={"plan_id": plan["id"], "total_count": 3},
        headers=merchant.basic,
    )
    card = await client.post(
        httpx.URL(created.json()["short_url"]).path,
        json={"method": "card", "vpa": "x@y"},
    )
    assert card.status_code == 422
    no_vpa = await client.post(httpx.URL(created.json()["short_url"]).path, json={"method": "upi"})
    assert no_vpa.status_code == 422
    assert (await client.get(f"{V1}/plans", headers=other_merchant.basic)).json()["count"] == 0
