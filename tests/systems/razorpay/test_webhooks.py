"""Webhooks reach a real HTTP receiver on 127.0.0.1: signed with HMAC-SHA256 over the raw body
(checked with the official SDK's verifier), retried with backoff until answered 2xx, and carrying
an event id that stays the same across retries."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import httpx
import pytest
import razorpay
from starlette.types import Receive, Scope, Send

from tests.servers import serve_in_loop
from tests.systems.razorpay.conftest import V1, Merchant, captured_payment

SECRET = "whsec-test-123456"


@dataclass
class Receiver:
    """A merchant's webhook endpoint: records every request, fails the first `fail_first`."""

    fail_first: int = 0
    requests: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        self.requests.append((headers, body))
        self.arrived.set()
        status = 500 if len(self.requests) <= self.fail_first else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def wait_for(self, count: int, seconds: float = 10.0) -> None:
        async with asyncio.timeout(seconds):
            while len(self.requests) < count:
                self.arrived.clear()
                await self.arrived.wait()


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    async with serve_in_loop(app) as base:
        yield app, f"{base}/hooks/razorpay"


async def register(client: httpx.AsyncClient, merchant: Merchant, url: str, *events: str) -> None:
    response = await client.post(
        f"{V1}/webhooks",
        json={"url": url, "secret": SECRET, "events": list(events)},
        headers=merchant.basic,
    )
    assert response.status_code == 200, response.text


@pytest.mark.feature("razorpay", "webhooks")
async def test_events_are_signed_over_the_raw_body(
    client: httpx.AsyncClient, merchant: Merchant, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    await register(client, merchant, url, "payment.captured", "refund.processed")
    payment = await captured_payment(client, merchant, 10_000)
    await app.wait_for(1)
    headers, body = app.requests[0]
    verifier = razorpay.Client(auth=("unused", "unused")).utility
    assert verifier.verify_webhook_signature(body.decode(), headers["x-razorpay-signature"], SECRET)
    with pytest.raises(razorpay.errors.SignatureVerificationError):
        verifier.verify_webhook_signature(
            body.decode() + " ", headers["x-razorpay-signature"], SECRET
        )
    event = json.loads(body)
    assert event["event"] == "payment.captured"
    assert event["payload"]["payment"]["entity"]["id"] == payment["id"]
    assert headers["x-razorpay-event-id"].startswith("evt_")
    # Only subscribed events are sent: payment.authorized was not.
    assert len(app.requests) == 1
    refund = await client.post(
        f"{V1}/payments/{payment['id']}/refund", json={"amount": 100}, headers=merchant.basic
    )
    assert refund.status_code == 200
    await app.wait_for(2)
    assert json.loads(app.requests[1][1])["event"] == "refund.processed"


@pytest.mark.feature("razorpay", "webhooks")
async def test_failed_deliveries_are_retried_with_the_same_event_id(
    client: httpx.AsyncClient, merchant: Merchant, receiver: tuple[Receiver, str]
) -> None:
    app, url = receiver
    app.fail_first = 2
    await register(client, merchant, url, "payment.failed")
    order = (
        await client.post(
            f"{V1}/orders", json={"amount": 5_000, "currency": "INR"}, headers=merchant.basic
        )
    ).json()
    await client.post(
        f"{V1}/payments/create/json",
        json={
            "amount": 5_000,
            "currency": "INR",
            "order_id": order["id"],
            "method": "upi",
            "vpa": "failure@razorpay",
        },
        headers=merchant.basic,
    )
    await app.wait_for(3)
    event_ids = {headers["x-razorpay-event-id"] for headers, _ in app.requests}
    assert len(event_ids) == 1
    assert len({body for _, body in app.requests}) == 1
    (event_id,) = event_ids
    deliveries = None
    for _ in range(50):
        deliveries = await client.get(f"{V1}/events/{event_id}/deliveries", headers=merchant.basic)
        if deliveries.json()["items"][0]["status"] == "delivered":
            break
        await asyncio.sleep(0.02)
    assert deliveries is not None
    assert deliveries.json()["items"][0] == {
        "webhook_id": deliveries.json()["items"][0]["webhook_id"],
        "status": "delivered",
        "attempts": 3,
        "last_status_code": 200,
        "last_error": None,
    }


@pytest.mark.feature("razorpay", "webhooks")
async def test_delivery_gives_up_after_the_configured_attempts(
    client: httpx.AsyncClient,
    merchant: Merchant,
    other_merchant: Merchant,
    receiver: tuple[Receiver, str],
) -> None:
    app, url = receiver
    app.fail_first = 100
    await register(client, merchant, url, "payment.captured")
    await captured_payment(client, merchant, 10_000)
    await app.wait_for(4)  # webhook_attempts = 4 in these tests
    event_id = app.requests[0][0]["x-razorpay-event-id"]
    for _ in range(50):
        deliveries = await client.get(f"{V1}/events/{event_id}/deliveries", headers=merchant.basic)
        if deliveries.json()["items"][0]["status"] == "failed":
            break
        await asyncio.sleep(0.02)
    assert deliveries.json()["items"][0]["status"] == "failed"
    assert deliveries.json()["items"][0]["last_status_code"] == 500
    await asyncio.sleep(0.15)
    assert len(app.requests) == 4
    stranger = await client.get(f"{V1}/events/{event_id}/deliveries", headers=other_merchant.basic)
    assert stranger.status_code == 404


@pytest.mark.feature("razorpay", "webhooks")
async def test_webhook_registration_is_validated(
    client: httpx.AsyncClient, merchant: Merchant
) -> None:
    bad = await client.post(
        f"{V1}/webhooks",
        json={"url": "http://127.0.0.1:9/x", "secret": SECRET, "events": ["payment.stolen"]},
        headers=merchant.basic,
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "events"
    no_url = await client.post(
        f"{V1}/webhooks",
        json={"url": "ftp://x", "secret": SECRET, "events": ["payment.captured"]},
        headers=merchant.basic,
    )
    assert no_url.status_code == 422
    listed = await client.get(f"{V1}/webhooks", headers=merchant.basic)
    assert listed.json()["count"] == 0
