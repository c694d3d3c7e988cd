"""Payment links: created by the merchant, paid by anyone with the public URL, in full or in
parts that add up exactly to the amount (never more, even concurrently), expiring and
cancellable."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay import merchants
from casebook.systems.razorpay.models import PaymentLink
from casebook.systems.razorpay.publicids import decode
from tests.systems.razorpay.conftest import CARD, DECLINED_CARD, V1, Merchant


async def create_link(
    client: httpx.AsyncClient, merchant: Merchant, **fields: Any
) -> dict[str, Any]:
    body = {
        "amount": 10_000,
        "currency": "INR",
        "description": "Invoice 42",
        "customer": {"name": "Asha", "email": "asha@example.com", "contact": "+919900000001"},
        **fields,
    }
    response = await client.post(f"{V1}/payment_links", json=body, headers=merchant.basic)
    assert response.status_code == 200, response.text
    link: dict[str, Any] = response.json()
    return link


def page(link: dict[str, Any]) -> str:
    """The path of the link's public page, from its shareable URL."""
    url = httpx.URL(link["short_url"])
    assert url.path.startswith("/api/razorpay/pay/plink_")
    return url.path


async def pay(
    client: httpx.AsyncClient, link: dict[str, Any], amount: int | None = None, card: Any = CARD
) -> httpx.Response:
    body: dict[str, Any] = {"method": "card", "card": card, "email": "asha@example.com"}
    if amount is not None:
        body["amount"] = amount
    return await client.post(page(link), json=body)


async def balance(platform: Platform, merchant: Merchant) -> int:
    merchant_id = decode("acc", merchant.account_id)
    assert merchant_id is not None
    async with platform.db.session() as session:
        return (await merchants.balance_account(Ledger(session), merchant_id, "INR")).posted


@pytest.mark.feature("razorpay", "payment-links")
async def test_link_is_shared_and_paid_in_full(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    link = await create_link(client, merchant, reference_id="inv-42")
    assert link["id"].startswith("plink_") and link["status"] == "created"
    public = await client.get(page(link))
    assert public.status_code == 200
    assert public.json()["merchant"] == "Acme Stores"
    assert public.json()["amount_due"] == 10_000
    assert "customer" not in public.json()

    part = await pay(client, link, 4_000)
    assert part.status_code == 422
    assert part.json()["error"]["field"] == "amount"

    paid = await pay(client, link)
    assert paid.status_code == 200, paid.text
    assert paid.json()["payment"]["status"] == "captured"
    assert paid.json()["payment_link"] == {
        "id": link["id"],
        "status": "paid",
        "amount_paid": 10_000,
        "amount_due": 0,
    }
    again = await pay(client, link)
    assert again.status_code == 409
    fetched = await client.get(f"{V1}/payment_links/{link['id']}", headers=merchant.basic)
    assert fetched.json()["status"] == "paid"
    assert [p["payment_id"] for p in fetched.json()["payments"]] == [paid.json()["payment"]["id"]]
    assert await balance(platform, merchant) == 10_000 - 236
    reused = await client.post(
        f"{V1}/payment_links",
        json={"amount": 500, "reference_id": "inv-42"},
        headers=merchant.basic,
    )
    assert reused.status_code == 422
    assert reused.json()["error"]["field"] == "reference_id"


@pytest.mark.feature("razorpay", "payment-links")
async def test_partial_payments_add_up_exactly(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    link = await create_link(client, merchant, accept_partial=True, first_min_partial_amount=3_000)
    too_small_first = await pay(client, link, 2_000)
    assert too_small_first.status_code == 422
    declined = await pay(client, link, 5_000, card=DECLINED_CARD)
    assert declined.json()["payment"]["status"] == "failed"
    assert declined.json()["payment_link"]["status"] == "created"

    first = await pay(client, link, 5_000)
    assert first.json()["payment_link"]["status"] == "partially_paid"
    second = await pay(client, link, 2_000)  # after the first, the minimum no longer applies
    assert second.json()["payment_link"]["amount_due"] == 3_000
    over = await pay(client, link, 3_001)
    assert over.status_code == 422
    stranding = await pay(client, link, 2_950)  # would leave 50 paise, below the minimum payment
    assert stranding.status_code == 422
    rest = await pay(client, link)
    assert rest.json()["payment_link"] == {
        "id": link["id"],
        "status": "paid",
        "amount_paid": 10_000,
        "amount_due": 0,
    }
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "payment-links")
async def test_concurrent_payments_cannot_overpay(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    link = await create_link(client, merchant, amount=10_000, accept_partial=True)
    responses = await asyncio.gather(*(pay(client, link, 3_000) for _ in range(6)))
    captured = [r for r in responses if r.status_code == 200]
    assert len(captured) == 3
    assert {r.status_code for r in responses if r.status_code != 200} <= {409, 422}
    fetched = await client.get(f"{V1}/payment_links/{link['id']}", headers=merchant.basic)
    assert fetched.json()["amount_paid"] == 9_000
    assert fetched.json()["status"] == "partially_paid"
    assert len(fetched.json()["payments"]) == 3
    # 3 times (3,000 less 2 % fee and 18 % GST on it = 71).
    assert await balance(platform, merchant) == 3 * (3_000 - 71)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "payment-links")
async def test_expired_and_cancelled_links_take_no_money(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    too_soon = await client.post(
        f"{V1}/payment_links",
        json={"amount": 1_000, "expire_by": int(time.time()) + 60},
        headers=merchant.basic,
    )
    assert too_soon.status_code == 422
    link = await create_link(client, merchant, expire_by=int(time.time()) + 3600)
    assert link["expire_by"] > 0
    # An hour passes.
    async with platform.db.session() as session:
        await session.execute(
            update(PaymentLink)
            .where(PaymentLink.id == decode("plink", link["id"]))
            .values(expire_by=datetime.now(UTC) - timedelta(seconds=1))
        )
    refused = await pay(client, link)
    assert refused.status_code == 409
    public = await client.get(page(link))
    assert public.json()["status"] == "expired"

    other = await create_link(client, merchant, accept_partial=True)
    # Another merchant cannot see or cancel it.
    theirs = await client.post(
        f"{V1}/payment_links/{other['id']}/cancel", headers=other_merchant.basic
    )
    assert theirs.status_code == 404
    assert (
        await client.get(f"{V1}/payment_links/{other['id']}", headers=other_merchant.basic)
    ).status_code == 404
    assert (await client.get(f"{V1}/payment_links", headers=other_merchant.basic)).json()[
        "count"
    ] == 0
    cancelled = await client.post(
        f"{V1}/payment_links/{other['id']}/cancel", headers=merchant.basic
    )
    assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"] > 0
    assert (await pay(client, other, 5_000)).status_code == 409
    twice = await client.post(f"{V1}/payment_links/{other['id']}/cancel", headers=merchant.basic)
    assert twice.status_code == 409
    assert await balance(platform, merchant) == 0


@pytest.mark.feature("razorpay", "payment-links")
async def test_bad_links_are_refused(client: httpx.AsyncClient, merchant: Merchant) -> None:
    for body, field in [
        ({"amount": 50}, "amount"),
        ({"amount": 1_000, "currency": "XYZ"}, "currency"),
        ({"amount": 1_000, "first_min_partial_amount": 500}, "first_min_partial_amount"),
        (
            {"amount": 1_000, "accept_partial": True, "first_min_partial_amount": 5_000},
            "first_min_partial_amount",
        ),
        ({"amount": "lots"}, "amount"),
    ]:
        response = await client.post(f"{V1}/payment_links", json=body, headers=merchant.basic)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["field"] == field
    assert (await client.get("/api/razorpay/pay/plink_nope")).status_code == 404
    assert (await client.get(f"{V1}/payment_links", headers=merchant.basic)).json()["count"] == 0
