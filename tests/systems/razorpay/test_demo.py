"""The demo data: the shared demo user as a merchant with payments in every state, refunds, a
settlement and a link; loading twice adds nothing; the ledger verifies."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.razorpay.demo import DEMO_EMAIL, DEMO_PASSWORD, load_demo
from casebook.systems.razorpay.models import (
    ApiKeyPair,
    Merchant,
    Order,
    Payment,
    PaymentLink,
    Refund,
    Settlement,
)
from casebook.systems.razorpay.runtime import Razorpay

TABLES = (Merchant, ApiKeyPair, Order, Payment, Refund, Settlement, PaymentLink)


async def _counts(platform: Platform) -> dict[str, int]:
    async with platform.db.session() as session:
        return {
            table.__tablename__: int(
                await session.scalar(select(func.count()).select_from(table)) or 0
            )
            for table in TABLES
        }


@pytest.mark.feature("razorpay", "merchant-accounts")
async def test_demo_loads_once_and_shows_on_the_page(
    client: httpx.AsyncClient, platform: Platform, state: Razorpay
) -> None:
    await load_demo(platform)
    first = await _counts(platform)
    assert first == {
        "razorpay_merchants": 1,
        "razorpay_keys": 1,
        "razorpay_orders": 4,
        "razorpay_payments": 4,
        "razorpay_refunds": 2,
        "razorpay_settlements": 1,
        "razorpay_payment_links": 1,
    }
    await load_demo(platform)
    assert await _counts(platform) == first
    async with platform.db.session() as session:
        statuses = sorted(await session.scalars(select(Payment.status)))
        settlement = await session.scalar(select(Settlement))
        assert (await verify(session)).ok
    assert statuses == ["authorized", "captured", "captured", "refunded"]
    assert settlement is not None
    assert (settlement.payments_amount, settlement.refunds_amount) == (264_800, 55_000)
    assert settlement.amount == 264_800 - settlement.fees - 55_000

    login = await client.post(
        "/api/auth/login", json={"email": DEMO_EMAIL, "password": DEMO_PASSWORD}
    )
    assert login.status_code == 200
    client.cookies.set("casebook_access", login.json()["access_token"])
    page = await client.get("/razorpay/")
    assert page.status_code == 200
    assert "Demo Stores" in page.text and "Yoga mat (demo link)" in page.text
    assert page.text.count('data-testid="payment"') == 4 and ">Capture<" in page.text
