"""Settlements pay each merchant's net out exactly once (re-runs and concurrent runs pay nothing
more), and the reconciliation report's totals agree with the ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import update

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay import merchants, settlements
from casebook.systems.razorpay.models import Payment
from casebook.systems.razorpay.publicids import decode
from tests.systems.razorpay.conftest import API, V1, Merchant, captured_payment

# 2 % fee + 18 % GST on it, per captured amount used below.
FEE_50K = 1_180
FEE_20K = 472


def merchant_id(merchant: Merchant) -> int:
    value = decode("acc", merchant.account_id)
    assert value is not None
    return value


async def balance(platform: Platform, merchant: Merchant) -> int:
    async with platform.db.session() as session:
        account = await merchants.balance_account(Ledger(session), merchant_id(merchant), "INR")
        return account.posted


async def payouts(platform: Platform) -> int:
    async with platform.db.session() as session:
        return (await settlements.payouts_account(Ledger(session), "INR")).posted


def days() -> tuple[str, str]:
    """A range around today, so a test running across midnight still covers its payments."""
    today = datetime.now(UTC).date()
    return (today - timedelta(days=1)).isoformat(), (today + timedelta(days=1)).isoformat()


async def settle_now(platform: Platform) -> settlements.SettleResult:
    start, end = days()
    return await settlements.settle(
        platform.db, datetime.fromisoformat(start).date(), datetime.fromisoformat(end).date()
    )


@pytest.mark.feature("razorpay", "reconciliation")
async def test_settlement_pays_the_net_out_once(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    first = await captured_payment(client, merchant, 50_000)
    await captured_payment(client, merchant, 20_000)
    await captured_payment(client, other_merchant, 20_000)
    refund = await client.post(
        f"{V1}/payments/{first['id']}/refund", json={"amount": 10_000}, headers=merchant.basic
    )
    assert refund.status_code == 200, refund.text
    net = 70_000 - FEE_50K - FEE_20K - 10_000
    assert await balance(platform, merchant) == net

    result = await settle_now(platform)
    assert len(result.settled) == 2 and result.skipped == []
    assert await balance(platform, merchant) == 0
    assert await balance(platform, other_merchant) == 0
    paid_out = await payouts(platform)

    again = await settle_now(platform)
    assert again.settled == []
    assert await payouts(platform) == paid_out

    listed = await client.get(f"{V1}/settlements", headers=merchant.basic)
    assert listed.status_code == 200
    (settlement,) = listed.json()["items"]
    assert settlement["entity"] == "settlement" and settlement["id"].startswith("setl_")
    assert settlement["amount"] == net
    assert settlement["fees"] == FEE_50K + FEE_20K
    assert settlement["payments"] == {"count": 2, "amount": 70_000}
    assert settlement["refunds"] == {"count": 1, "amount": 10_000}
    fetched = await client.get(f"{V1}/settlements/{settlement['id']}", headers=merchant.basic)
    assert fetched.json() == settlement
    # Another merchant's settlement does not exist for this one.
    theirs = await client.get(f"{V1}/settlements/{settlement['id']}", headers=other_merchant.basic)
    assert theirs.status_code == 404
    assert theirs.json()["error"]["description"] == "The id provided does not exist"
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "reconciliation")
async def test_concurrent_settlement_runs_pay_once(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    await captured_payment(client, merchant, 50_000)
    await captured_payment(client, merchant, 20_000)
    results = await asyncio.gather(*(settle_now(platform) for _ in range(4)))
    assert sum(len(r.settled) for r in results) == 1
    assert await balance(platform, merchant) == 0
    assert await payouts(platform) == -(70_000 - FEE_50K - FEE_20K)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "reconciliation")
async def test_a_negative_net_is_carried_to_a_later_run(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    first = await captured_payment(client, merchant, 50_000)
    assert len((await settle_now(platform)).settled) == 1
    later = await captured_payment(client, merchant, 20_000)
    # The second payment was captured after the range the next run covers.
    future = datetime.now(UTC) + timedelta(days=5)
    later_id = decode("pay", later["id"])
    async with platform.db.session() as session:
        await session.execute(
            update(Payment).where(Payment.id == later_id).values(captured_at=future)
        )
    refund = await client.post(
        f"{V1}/payments/{first['id']}/refund", json={"amount": 5_000}, headers=merchant.basic
    )
    assert refund.status_code == 200, refund.text

    carried = await settle_now(platform)
    assert carried.settled == []
    assert carried.skipped[0][0] == merchant_id(merchant)
    assert "not positive" in carried.skipped[0][2]
    assert await balance(platform, merchant) == 20_000 - FEE_20K - 5_000

    today = datetime.now(UTC).date()
    caught_up = await settlements.settle(platform.db, today, future.date())
    assert len(caught_up.settled) == 1
    assert await balance(platform, merchant) == 0
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "reconciliation")
async def test_settlement_job_settles_a_range(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    await captured_payment(client, merchant, 20_000)
    start, end = days()
    job = await platform.jobs.enqueue(settlements.SETTLE_JOB, {"start": start, "end": end})
    info = await platform.jobs.wait(job)
    assert info.status == "complete", info
    assert await balance(platform, merchant) == 0


@pytest.mark.feature("razorpay", "reconciliation")
async def test_reconciliation_report_agrees_with_the_ledger(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    first = await captured_payment(client, merchant, 50_000)
    await client.post(
        f"{V1}/payments/{first['id']}/refund", json={"amount": 10_000}, headers=merchant.basic
    )
    await settle_now(platform)
    await captured_payment(client, merchant, 20_000)  # after the settlement: unsettled
    await captured_payment(client, other_merchant, 20_000)
    start, end = days()

    response = await client.get(
        f"{V1}/reconciliation", params={"from": start, "to": end}, headers=merchant.basic
    )
    assert response.status_code == 200, response.text
    (inr,) = response.json()["currencies"]
    assert inr["payments"] == {"count": 2, "amount": 70_000}
    assert inr["fees"] == FEE_50K + FEE_20K
    assert inr["refunds"] == {"count": 1, "amount": 10_000}
    assert inr["net"] == 70_000 - FEE_50K - FEE_20K - 10_000
    assert inr["settlements"] == {"count": 1, "amount": 50_000 - FEE_50K - 10_000}
    assert inr["unsettled"] == 20_000 - FEE_20K
    assert inr["unsettled"] == await balance(platform, merchant)
    assert inr["ledger"] == {
        "payments": 70_000,
        "fees": FEE_50K + FEE_20K,
        "refunds": 10_000,
        "settlements": 50_000 - FEE_50K - 10_000,
    }
    assert inr["ledger_agrees"] is True

    # The same report with a session token; the other merchant sees only its own money.
    mine = await client.get(
        f"{API}/merchants/me/reconciliation",
        params={"from": start, "to": end},
        headers=merchant.session_headers,
    )
    assert mine.json() == response.json()
    theirs = await client.get(
        f"{API}/merchants/me/reconciliation",
        params={"from": start, "to": end},
        headers=other_merchant.session_headers,
    )
    (their_inr,) = theirs.json()["currencies"]
    assert their_inr["payments"] == {"count": 1, "amount": 20_000}
    assert their_inr["settlements"] == {"count": 0, "amount": 0}

    # Razorpay's combined recon of the month: the settled payment and refund, not the rest.
    paid_on = datetime.fromtimestamp(first["created_at"], UTC)
    recon = await client.get(
        f"{V1}/settlements/recon/combined",
        params={"year": paid_on.year, "month": paid_on.month},
        headers=merchant.basic,
    )
    assert recon.status_code == 200, recon.text
    items = recon.json()["items"]
    assert [(i["type"], i["entity_id"]) for i in items] == [
        ("payment", first["id"]),
        ("refund", items[1]["entity_id"]),
    ]
    assert items[0]["credit"] == 50_000 - FEE_50K and items[1]["debit"] == 10_000
    assert items[0]["settlement_id"] == items[1]["settlement_id"]


@pytest.mark.feature("razorpay", "reconciliation")
async def test_a_bad_range_is_refused(client: httpx.AsyncClient, merchant: Merchant) -> None:
    backwards = await client.get(
        f"{V1}/reconciliation",
        params={"from": "2026-03-02", "to": "2026-03-01"},
        headers=merchant.basic,
    )
    assert backwards.status_code == 422
    assert backwards.json()["error"]["field"] == "to"
    not_a_date = await client.get(
        f"{V1}/reconciliation",
        params={"from": "yesterday", "to": "2026-03-01"},
        headers=merchant.basic,
    )
    assert not_a_date.status_code == 422
    no_day = await client.get(
        f"{V1}/settlements/recon/combined",
        params={"year": 2026, "month": 2, "day": 30},
        headers=merchant.basic,
    )
    assert no_day.status_code == 422
    anonymous = await client.get(f"{V1}/settlements")
    assert anonymous.status_code == 401
