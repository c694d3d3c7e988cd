"""Orders → payments → capture → refunds through the `/v1` API, on the ledger."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay import merchants
from casebook.systems.razorpay.models import Payment
from casebook.systems.razorpay.publicids import decode
from tests.systems.razorpay.conftest import (
    API,
    DECLINED_CARD,
    V1,
    Merchant,
    authorized_payment,
    captured_payment,
    create_order,
    pay,
)


async def balance(platform: Platform, merchant: Merchant, currency: str = "INR") -> int:
    merchant_id = decode("acc", merchant.account_id)
    assert merchant_id is not None
    async with platform.db.session() as session:
        account = await merchants.balance_account(Ledger(session), merchant_id, currency)
        return account.posted


@pytest.mark.feature("razorpay", "merchant-accounts")
async def test_merchant_signs_up_and_sees_keys_balance_and_history(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    assert merchant.key_id.startswith("rzp_test_")
    again = await client.post(
        f"{API}/merchants", json={"name": "Twice"}, headers=merchant.session_headers
    )
    assert again.status_code == 409
    await captured_payment(client, merchant, 10_000)
    me = await client.get(f"{API}/merchants/me", headers=merchant.session_headers)
    assert me.status_code == 200
    assert me.json()["key_ids"] == [merchant.key_id]
    # 10,000 captured less the 2 % fee (200) and 18 % GST on it (36).
    assert me.json()["balances"] == [{"currency": "INR", "balance": 9_764, "on_hold": 0}]
    history = await client.get(f"{API}/merchants/me/transactions", headers=merchant.session_headers)
    assert [p["status"] for p in history.json()["items"]] == ["captured"]


@pytest.mark.feature("razorpay", "developer-api")
async def test_basic_auth_is_required_and_checked(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    missing = await client.get(f"{V1}/payments")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    assert missing.headers["www-authenticate"].startswith("Basic")
    wrong = Merchant(0, "", "", merchant.key_id, "not-the-secret")
    assert (await client.get(f"{V1}/payments", headers=wrong.basic)).status_code == 401
    ok = await client.get(f"{V1}/payments", headers=merchant.basic)
    assert ok.status_code == 200
    assert ok.json() == {"entity": "collection", "count": 0, "items": []}
    revoked = await client.delete(
        f"{API}/merchants/me/keys/{merchant.key_id}", headers=merchant.session_headers
    )
    assert revoked.status_code == 204
    assert (await client.get(f"{V1}/payments", headers=merchant.basic)).status_code == 401


@pytest.mark.feature("razorpay", "payments")
@pytest.mark.parametrize(
    ("method", "fields", "shown"),
    [
        ("card", {}, ("card_id", None)),
        ("upi", {"vpa": "success@razorpay"}, ("vpa", "success@razorpay")),
        ("netbanking", {"bank": "HDFC"}, ("bank", "HDFC")),
        ("wallet", {"wallet": "paytm"}, ("wallet", "paytm")),
    ],
)
async def test_pay_by_each_method_gives_unique_payment_ids(
    client: httpx.AsyncClient,
    merchant: Merchant,
    method: str,
    fields: dict[str, Any],
    shown: tuple[str, str | None],
) -> None:
    ids = set()
    for _ in range(2):
        order = await create_order(client, merchant, 20_000, payment_capture=False)
        response = await pay(client, merchant, order, method=method, **fields)
        assert response.status_code == 200, response.text
        payment = response.json()
        assert payment["status"] == "authorized"
        assert payment["method"] == method
        key, value = shown
        assert payment[key] == value if value else payment[key].startswith("card_")
        ids.add(payment["id"])
        fetched = await client.get(f"{V1}/payments/{payment['id']}", headers=merchant.basic)
        assert fetched.json()["amount"] == 20_000
        assert fetched.json()["order_id"] == order["id"]
    assert len(ids) == 2 and all(i.startswith("pay_") for i in ids)


@pytest.mark.feature("razorpay", "payments")
async def test_card_number_is_never_stored(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    payment = await authorized_payment(client, merchant)
    assert payment["card"]["last4"] == "1111" and payment["card"]["network"] == "Visa"
    async with platform.db.session() as session:
        row = await session.scalar(select(Payment))
    assert row is not None
    stored = " ".join(str(getattr(row, c.key)) for c in Payment.__table__.columns)
    assert "4111111111111111" not in stored


@pytest.mark.feature("razorpay", "payments")
async def test_declined_and_invalid_payments(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    order = await create_order(client, merchant)
    declined = await pay(client, merchant, order, card=DECLINED_CARD)
    assert declined.status_code == 200
    assert declined.json()["status"] == "failed"
    assert declined.json()["error_description"] == "card_declined"
    upi = await pay(client, merchant, order, method="upi", vpa="failure@razorpay")
    assert upi.json()["status"] == "failed"
    fetched = await client.get(f"{V1}/orders/{order['id']}", headers=merchant.basic)
    assert fetched.json()["status"] == "attempted" and fetched.json()["attempts"] == 2
    wrong_amount = await pay(client, merchant, order, amount=order["amount"] - 1)
    assert wrong_amount.status_code == 422
    assert wrong_amount.json()["error"]["field"] == "amount"
    tiny = await client.post(
        f"{V1}/orders", json={"amount": 99, "currency": "INR"}, headers=merchant.basic
    )
    assert tiny.status_code == 422 and tiny.json()["error"]["code"] == "BAD_REQUEST_ERROR"
    bad_method = await pay(client, merchant, order, method="cheque")
    assert bad_method.status_code == 422
    assert await balance(platform, merchant) == 0


@pytest.mark.feature("razorpay", "capture")
async def test_capture_once_and_state_machine(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    payment = await authorized_payment(client, merchant, 30_000)
    url = f"{V1}/payments/{payment['id']}/capture"
    partial = await client.post(url, json={"amount": 10_000}, headers=merchant.basic)
    assert partial.status_code == 422
    assert await balance(platform, merchant) == 0
    captured = await client.post(url, json={"amount": 30_000}, headers=merchant.basic)
    assert captured.status_code == 200, captured.text
    assert captured.json()["status"] == "captured" and captured.json()["captured"] is True
    assert captured.json()["fee"] == 708  # 600 + 18 % GST
    again = await client.post(url, json={"amount": 30_000}, headers=merchant.basic)
    assert again.status_code == 409
    assert "already been captured" in again.json()["error"]["description"]
    assert await balance(platform, merchant) == 30_000 - 708
    order = await client.get(f"{V1}/orders/{payment['order_id']}", headers=merchant.basic)
    assert order.json()["status"] == "paid" and order.json()["amount_due"] == 0

    failed = await pay(client, merchant, await create_order(client, merchant), card=DECLINED_CARD)
    refused = await client.post(
        f"{V1}/payments/{failed.json()['id']}/capture",
        json={"amount": 50_000},
        headers=merchant.basic,
    )
    assert refused.status_code == 409


@pytest.mark.feature("razorpay", "capture")
async def test_concurrent_captures_capture_once(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    payment = await authorized_payment(client, merchant, 40_000)
    url = f"{V1}/payments/{payment['id']}/capture"
    responses = await asyncio.gather(
        *(client.post(url, json={"amount": 40_000}, headers=merchant.basic) for _ in range(6))
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 5
    assert await balance(platform, merchant) == 40_000 - 944
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "capture")
async def test_auto_capture_order(client: httpx.AsyncClient, merchant: Merchant) -> None:
    payment = await captured_payment(client, merchant, 12_345)
    assert payment["fee"] is not None
    second = await pay(client, merchant, {"id": payment["order_id"], "amount": 12_345})
    assert second.status_code == 409  # the order is paid


@pytest.mark.feature("razorpay", "refunds")
async def test_full_and_partial_refunds(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    await captured_payment(client, merchant, 100_000)  # funds the balance the refunds come from
    payment = await captured_payment(client, merchant, 50_000)
    url = f"{V1}/payments/{payment['id']}/refund"
    first = await client.post(url, json={"amount": 20_000}, headers=merchant.basic)
    assert first.status_code == 200, first.text
    assert first.json()["entity"] == "refund" and first.json()["id"].startswith("rfnd_")
    fetched = await client.get(f"{V1}/payments/{payment['id']}", headers=merchant.basic)
    assert fetched.json()["refund_status"] == "partial"
    assert fetched.json()["status"] == "captured"
    too_much = await client.post(url, json={"amount": 30_001}, headers=merchant.basic)
    assert too_much.status_code == 409
    rest = await client.post(
        f"{V1}/refunds", json={"payment_id": payment["id"]}, headers=merchant.basic
    )
    assert rest.status_code == 200 and rest.json()["amount"] == 30_000
    fetched = await client.get(f"{V1}/payments/{payment['id']}", headers=merchant.basic)
    assert fetched.json()["status"] == "refunded"
    assert fetched.json()["amount_refunded"] == 50_000
    again = await client.post(url, json={"amount": 100}, headers=merchant.basic)
    assert again.status_code == 409
    listed = await client.get(f"{V1}/payments/{payment['id']}/refunds", headers=merchant.basic)
    assert listed.json()["count"] == 2
    # Everything refunded; Razorpay keeps its fees (2,360 + 1,180).
    assert await balance(platform, merchant) == 100_000 - 2_360 - 1_180
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "refunds")
async def test_refund_needs_a_captured_payment_and_enough_balance(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    payment = await authorized_payment(client, merchant)
    refused = await client.post(
        f"{V1}/payments/{payment['id']}/refund", json={}, headers=merchant.basic
    )
    assert refused.status_code == 409
    captured = await captured_payment(client, merchant, 10_000)
    # The balance holds 10,000 less the fee, so a full refund cannot be paid from it.
    short = await client.post(
        f"{V1}/payments/{captured['id']}/refund", json={}, headers=merchant.basic
    )
    assert short.status_code == 422
    assert "insufficient" in short.json()["error"]["description"]
    fetched = await client.get(f"{V1}/payments/{captured['id']}", headers=merchant.basic)
    assert fetched.json()["amount_refunded"] == 0


@pytest.mark.feature("razorpay", "refunds")
async def test_concurrent_refunds_never_exceed_captured(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform
) -> None:
    # Two captured payments fund the balance, so only the refund bound can stop a refund.
    await captured_payment(client, merchant, 100_000)
    payment = await captured_payment(client, merchant, 10_000)
    url = f"{V1}/payments/{payment['id']}/refund"
    responses = await asyncio.gather(
        *(client.post(url, json={"amount": 3_000}, headers=merchant.basic) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 3 + [409] * 5
    fetched = await client.get(f"{V1}/payments/{payment['id']}", headers=merchant.basic)
    assert fetched.json()["amount_refunded"] == 9_000
    async with platform.db.session() as session:
        assert (await verify(session)).ok


@pytest.mark.feature("razorpay", "payments")
async def test_merchants_cannot_see_or_touch_each_others_payments(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant
) -> None:
    payment = await captured_payment(client, merchant, 10_000)
    for method, path, body in [
        ("GET", f"/payments/{payment['id']}", None),
        ("GET", f"/orders/{payment['order_id']}", None),
        ("POST", f"/payments/{payment['id']}/refund", {"amount": 100}),
        ("POST", f"/payments/{payment['id']}/capture", {"amount": 10_000}),
    ]:
        response = await client.request(
            method, f"{V1}{path}", json=body, headers=other_merchant.basic
        )
        assert response.status_code == 404, (path, response.text)
    stranger_pays = await pay(client, other_merchant, {"id": payment["order_id"], "amount": 10_000})
    assert stranger_pays.status_code == 404
    listed = await client.get(f"{V1}/payments", headers=other_merchant.basic)
    assert listed.json()["count"] == 0
    fetched = await client.get(f"{V1}/payments/{payment['id']}", headers=merchant.basic)
    assert fetched.json()["amount_refunded"] == 0
