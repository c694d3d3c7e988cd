"""The official `razorpay` Python SDK, pointed at Casebook, works for orders, payments (fetch,
capture, refund) and refunds. The SDK speaks `requests`, so the app is served by a real uvicorn
server on a loopback port, in this test's event loop, and the SDK runs in a worker thread."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import razorpay
import requests
from fastapi import FastAPI

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay import settlements
from tests.servers import serve_in_loop
from tests.systems.razorpay.conftest import CARD, Merchant


@pytest.fixture
async def base_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield f"{base}/api/razorpay"


@pytest.mark.feature("razorpay", "developer-api")
async def test_official_sdk_orders_payments_capture_refunds(
    base_url: str, merchant: Merchant, platform: Platform
) -> None:
    client = razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)

    def flow() -> dict[str, Any]:
        order = client.order.create(
            {"amount": 50_000, "currency": "INR", "receipt": "sdk-1", "payment_capture": 0}
        )
        paid = client.payment.createPaymentJson(
            {
                "amount": 50_000,
                "currency": "INR",
                "order_id": order["id"],
                "method": "card",
                "card": CARD,
                "email": "buyer@example.com",
                "contact": "+919900000000",
            }
        )
        fetched = client.payment.fetch(paid["razorpay_payment_id"])
        captured = client.payment.capture(fetched["id"], 50_000, {"currency": "INR"})
        partial = client.payment.refund(fetched["id"], {"amount": 10_000})
        rest = client.refund.create({"payment_id": fetched["id"], "amount": 5_000})
        try:
            client.payment.capture(fetched["id"], 50_000)
            second_capture = "accepted"
        except razorpay.errors.BadRequestError as error:
            second_capture = str(error)
        try:
            client.payment.fetch("pay_doesnotexist1")
            missing = "found"
        except razorpay.errors.BadRequestError as error:
            missing = str(error)
        return {
            "order": order,
            "fetched": fetched,
            "captured": captured,
            "partial": partial,
            "refund": client.refund.fetch(rest["id"]),
            "refunds": client.payment.fetch_multiple_refund(fetched["id"]),
            "order_after": client.order.fetch(order["id"]),
            "order_payments": client.order.payments(order["id"]),
            "orders": client.order.all({"count": 5}),
            "second_capture": second_capture,
            "missing": missing,
        }

    result = await asyncio.to_thread(flow)
    assert result["order"]["entity"] == "order" and result["order"]["id"].startswith("order_")
    assert result["fetched"]["status"] == "authorized"
    assert result["captured"]["status"] == "captured"
    assert result["partial"]["entity"] == "refund" and result["partial"]["amount"] == 10_000
    assert result["refund"]["payment_id"] == result["fetched"]["id"]
    assert result["refunds"]["count"] == 2
    assert result["order_after"]["status"] == "paid"
    assert result["order_payments"]["items"][0]["amount_refunded"] == 15_000
    assert result["orders"]["count"] == 1
    assert "already been captured" in result["second_capture"]
    assert result["missing"] == "The id provided does not exist"
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "developer-api")
async def test_sdk_with_a_wrong_secret_gets_an_error(base_url: str, merchant: Merchant) -> None:
    client = razorpay.Client(auth=(merchant.key_id, "wrong"), base_url=base_url)
    with pytest.raises(razorpay.errors.BadRequestError):
        await asyncio.to_thread(client.order.all)


@pytest.mark.feature("razorpay", "payment-links")
@pytest.mark.feature("razorpay", "reconciliation")
async def test_official_sdk_payment_links_and_settlements(
    base_url: str, merchant: Merchant, platform: Platform
) -> None:
    client = razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)

    def flow() -> dict[str, Any]:
        link = client.payment_link.create(
            {
                "amount": 20_000,
                "currency": "INR",
                "accept_partial": True,
                "first_min_partial_amount": 5_000,
                "description": "Order #7",
                "customer": {"name": "Ravi", "email": "ravi@example.com"},
                "notify": {"sms": True, "email": True},
                "reminder_enable": True,
            }
        )
        # The customer opens the shareable URL and pays in two parts.
        for amount in (5_000, 15_000):
            payment: dict[str, Any] = {"amount": amount, "method": "card", "card": CARD}
            paid = requests.post(link["short_url"], json=payment)
            assert paid.status_code == 200, paid.text
        other = client.payment_link.create({"amount": 1_000, "currency": "INR"})
        return {
            "link": link,
            "fetched": client.payment_link.fetch(link["id"]),
            "cancelled": client.payment_link.cancel(other["id"]),
            "all": client.payment_link.all(),
        }

    result = await asyncio.to_thread(flow)
    assert result["link"]["status"] == "created"
    assert result["fetched"]["status"] == "paid"
    assert [p["amount"] for p in result["fetched"]["payments"]] == [5_000, 15_000]
    assert result["cancelled"]["status"] == "cancelled"
    assert len(result["all"]["payment_links"]) == 2

    today = datetime.now(UTC).date()
    await settlements.settle(platform.db, today - timedelta(days=1), today + timedelta(days=1))

    def settled() -> dict[str, Any]:
        listed = client.settlement.all()
        return {
            "all": listed,
            "one": client.settlement.fetch(listed["items"][0]["id"]),
            "report": client.settlement.report({"year": today.year, "month": today.month}),
        }

    result = await asyncio.to_thread(settled)
    assert result["all"]["count"] == 1
    # 20,000 less 2 % fees (100 + 300) and 18 % GST on them (18 + 54).
    assert result["one"]["amount"] == 20_000 - 472
    assert result["one"]["utr"]
    assert {i["type"] for i in result["report"]["items"]} == {"payment"}


@pytest.mark.feature("razorpay", "subscriptions")
async def test_official_sdk_plans_and_subscriptions(base_url: str, merchant: Merchant) -> None:
    client = razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)

    def flow() -> dict[str, Any]:
        plan = client.plan.create(
            {
                "period": "weekly",
                "interval": 2,
                "item": {"name": "Veg box", "amount": 60_000, "currency": "INR"},
            }
        )
        subscription = client.subscription.create(
            {"plan_id": plan["id"], "total_count": 10, "customer_notify": 1}
        )
        authenticated = requests.post(
            subscription["short_url"], json={"method": "netbanking", "bank": "HDFC"}
        )
        assert authenticated.status_code == 200, authenticated.text
        return {
            "plan": client.plan.fetch(plan["id"]),
            "plans": client.plan.all(),
            "active": client.subscription.fetch(subscription["id"]),
            "paused": client.subscription.pause(subscription["id"], {"pause_at": "now"}),
            "resumed": client.subscription.resume(subscription["id"], {"resume_at": "now"}),
            "cancelled": client.subscription.cancel(subscription["id"]),
            "all": client.subscription.all(),
        }

    result = await asyncio.to_thread(flow)
    assert result["plan"]["item"]["amount"] == 60_000 and result["plans"]["count"] == 1
    assert result["active"]["status"] == "active" and result["active"]["paid_count"] == 1
    assert result["active"]["payment_method"] == "netbanking"
    assert [result[k]["status"] for k in ("paused", "resumed", "cancelled")] == [
        "paused",
        "active",
        "cancelled",
    ]
    assert result["all"]["items"][0]["id"] == result["active"]["id"]


@pytest.mark.feature("razorpay", "saved-methods")
async def test_official_sdk_customers_and_tokens(base_url: str, merchant: Merchant) -> None:
    client = razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)

    def flow() -> dict[str, Any]:
        customer = client.customer.create({"name": "Ravi", "email": "ravi@example.com"})
        paid = client.payment.createPaymentJson(
            {
                "amount": 10_000,
                "currency": "INR",
                "method": "card",
                "card": CARD,
                "customer_id": customer["id"],
                "save": 1,
            }
        )
        tokens = client.token.all(customer["id"])
        token = client.token.fetch(customer["id"], paid["token_id"])
        edited = client.customer.edit(customer["id"], {"contact": "+919900000002"})
        deleted = client.token.delete(customer["id"], paid["token_id"])
        return {
            "tokens": tokens,
            "token": token,
            "edited": edited,
            "deleted": deleted,
            "after": client.token.all(customer["id"]),
            "customer": client.customer.fetch(customer["id"]),
        }

    result = await asyncio.to_thread(flow)
    assert result["tokens"]["count"] == 1 and result["token"]["card"]["last4"] == "1111"
    assert result["edited"]["contact"] == "+919900000002"
    assert result["deleted"] == {"deleted": True} and result["after"]["count"] == 0
    assert result["customer"]["name"] == "Ravi"


@pytest.mark.feature("razorpay", "developer-api")
async def test_sdk_retries_with_an_idempotency_key_move_money_once(
    base_url: str, merchant: Merchant, other_merchant: Merchant, platform: Platform
) -> None:
    client = razorpay.Client(auth=(merchant.key_id, merchant.key_secret), base_url=base_url)
    other = razorpay.Client(
        auth=(other_merchant.key_id, other_merchant.key_secret), base_url=base_url
    )

    def key(name: str) -> dict[str, dict[str, str]]:
        return {"headers": {"Idempotency-Key": name}}

    def flow() -> dict[str, Any]:
        order_body = {"amount": 30_000, "currency": "INR", "receipt": "idem-1"}
        order = client.order.create(order_body, **key("order-1"))
        order_again = client.order.create(order_body, **key("order-1"))
        pay_body = {"amount": 30_000, "order_id": order["id"], "method": "card", "card": CARD}
        paid = client.payment.createPaymentJson(pay_body, **key("pay-1"))
        paid_again = client.payment.createPaymentJson(pay_body, **key("pay-1"))
        payment_id = paid["razorpay_payment_id"]
        refund = client.payment.refund(payment_id, {"amount": 10_000}, **key("refund-1"))
        refund_again = client.payment.refund(payment_id, {"amount": 10_000}, **key("refund-1"))
        try:
            client.payment.refund(payment_id, {"amount": 20_000}, **key("refund-1"))
            reused = "accepted"
        except razorpay.errors.BadRequestError as error:
            reused = str(error)
        # The same key of another merchant is another key: its order is its own.
        theirs = other.order.create(order_body, **key("order-1"))
        raw = requests.post(
            f"{base_url}/v1/orders",
            json=order_body,
            auth=(merchant.key_id, merchant.key_secret),
            headers={"Idempotency-Key": "order-1"},
        )
        return {
            "order": order,
            "order_again": order_again,
            "paid": paid,
            "paid_again": paid_again,
            "refund": refund,
            "refund_again": refund_again,
            "reused": reused,
            "theirs": theirs,
            "replayed_header": raw.headers.get("Idempotent-Replayed"),
            "payment": client.payment.fetch(payment_id),
            "orders": client.order.all(),
            "payments": client.payment.all(),
        }

    result = await asyncio.to_thread(flow)
    assert result["order_again"] == result["order"]
    assert result["paid_again"] == result["paid"]
    assert result["paid"]["status"] == "captured"
    assert result["refund_again"] == result["refund"]
    assert "different request" in result["reused"]
    assert result["theirs"]["id"] != result["order"]["id"]
    assert result["replayed_header"] == "true"
    assert result["payment"]["amount_refunded"] == 10_000
    assert result["orders"]["count"] == 1
    assert result["payments"]["count"] == 1
    async with platform.db.session() as session:
        assert (await verify(session)).ok
