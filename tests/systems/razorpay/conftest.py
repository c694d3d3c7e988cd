"""Fixtures for the Razorpay tests: merchants with key pairs, and the system's process state set
to reliable, seeded gateways (tests that are about routing change the knobs themselves)."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.razorpay.config import RazorpaySettings
from casebook.systems.razorpay.gateways import Method
from casebook.systems.razorpay.runtime import Razorpay, razorpay

API = "/api/razorpay"
V1 = "/api/razorpay/v1"
CARD = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2099, "cvv": "123"}
DECLINED_CARD = {**CARD, "number": "4000000000000002"}


@dataclass
class Merchant:
    user_id: int
    token: str
    account_id: str
    key_id: str
    key_secret: str

    @property
    def session_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def basic(self) -> dict[str, str]:
        raw = f"{self.key_id}:{self.key_secret}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}


@pytest.fixture
def state(platform: Platform) -> Razorpay:
    """The app's Razorpay state: seeded gateways that always process, no exploration, fast
    webhook retries."""
    rp = razorpay(platform)
    rp.configure(
        RazorpaySettings(
            gateway_seed=7, routing_explore=0.0, webhook_backoff_seconds=0.05, webhook_attempts=4
        )
    )
    for gateway in rp.gateways:
        for method in list(gateway.success_rate):
            gateway.success_rate[method] = 1.0
    return rp


@pytest.fixture
def new_merchant(client: httpx.AsyncClient, state: Razorpay) -> Callable[[], Awaitable[Merchant]]:
    """Sign a user up through /api/auth and open a merchant account with a key pair."""

    async def create() -> Merchant:
        email = f"merchant-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Shop"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        token = login.json()["access_token"]
        opened = await client.post(
            f"{API}/merchants",
            json={"name": "Acme Stores"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert opened.status_code == 201, opened.text
        body = opened.json()
        return Merchant(
            int(registered.json()["id"]), token, body["id"], body["key_id"], body["key_secret"]
        )

    return create


@pytest.fixture
async def merchant(new_merchant: Callable[[], Awaitable[Merchant]]) -> Merchant:
    return await new_merchant()


@pytest.fixture
async def other_merchant(new_merchant: Callable[[], Awaitable[Merchant]]) -> Merchant:
    return await new_merchant()


async def create_order(
    client: httpx.AsyncClient, merchant: Merchant, amount: int = 50_000, **extra: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{V1}/orders",
        json={"amount": amount, "currency": "INR", "receipt": "rcpt-1", **extra},
        headers=merchant.basic,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def pay(
    client: httpx.AsyncClient,
    merchant: Merchant,
    order: dict[str, Any] | None = None,
    *,
    method: str = "card",
    amount: int | None = None,
    **extra: Any,
) -> httpx.Response:
    body: dict[str, Any] = {
        "amount": amount if amount is not None else (order["amount"] if order else 50_000),
        "currency": "INR",
        "method": method,
        "email": "buyer@example.com",
        "contact": "+919900000000",
        **extra,
    }
    if order is not None:
        body["order_id"] = order["id"]
    if method == "card" and "card" not in body:
        body["card"] = CARD
    return await client.post(f"{V1}/payments/create/json", json=body, headers=merchant.basic)


async def authorized_payment(
    client: httpx.AsyncClient, merchant: Merchant, amount: int = 50_000
) -> dict[str, Any]:
    order = await create_order(client, merchant, amount, payment_capture=False)
    response = await pay(client, merchant, order)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "authorized"
    return body


async def captured_payment(
    client: httpx.AsyncClient, merchant: Merchant, amount: int = 50_000
) -> dict[str, Any]:
    order = await create_order(client, merchant, amount)
    response = await pay(client, merchant, order)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == "captured", body
    return body


__all__ = ["API", "CARD", "DECLINED_CARD", "V1", "Merchant", "Method"]
