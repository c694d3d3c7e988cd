"""Webhooks: events signed with HMAC-SHA256 over the raw body, delivered at least once.

A state change (payment authorized/captured/failed, refund processed, link paid, …) records an
`Event` in the same transaction as the change, with the exact JSON body every delivery will
send, and one `Delivery` row per active webhook of the merchant that subscribed to the event.
After the transaction commits, each delivery is handed to the job queue; the job POSTs the body
with

    X-Razorpay-Signature: hex(HMAC-SHA256(webhook secret, raw body))
    X-Razorpay-Event-Id: evt_…      (the same on every retry: receivers dedupe by it)
    Content-Type: application/json

and marks the delivery delivered on a 2xx answer. Any other answer, a timeout or a refused
connection schedules the next attempt after `webhook_backoff_seconds · 2^(n-1)` (capped), up to
`webhook_attempts` attempts, then marks it failed. So each event reaches each URL at least once
(a receiver may see it twice and must dedupe by event id) as long as the job queue keeps its
jobs: with Redis it does; the embedded in-process queue loses the jobs of a process that
restarts, and their deliveries stay `pending` (not built: a sweeper that re-enqueues them).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import httpx
import structlog
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay import publicids
from casebook.systems.razorpay.config import RazorpaySettings
from casebook.systems.razorpay.errors import BadPaymentRequest, EntityNotFound
from casebook.systems.razorpay.models import Delivery, Event, Webhook
from casebook.systems.razorpay.runtime import razorpay

log = structlog.get_logger("casebook.razorpay.webhooks")

DELIVER_JOB = "razorpay.deliver-webhook"
EVENTS = frozenset(
    {
        "payment.authorized",
        "payment.captured",
        "payment.failed",
        "refund.processed",
        "order.paid",
    }
)


def sign(secret: str, body: bytes) -> str:
    """The `X-Razorpay-Signature` of `body`: hex HMAC-SHA256 keyed by the webhook secret."""
    return hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


async def record_event(
    session: AsyncSession,
    merchant_id: int,
    name: str,
    entities: dict[str, dict[str, Any]],
) -> list[int]:
    """Record event `name` carrying `entities` (e.g. {"payment": {...}}) and a delivery per
    subscribed webhook; returns the delivery ids to `dispatch` once the session commits."""
    assert name in EVENTS, name
    event_id = new_id()
    now = utcnow()
    body = {
        "entity": "event",
        "account_id": publicids.encode("acc", merchant_id),
        "event": name,
        "contains": list(entities),
        "payload": {kind: {"entity": entity} for kind, entity in entities.items()},
        "created_at": int(now.timestamp()),
    }
    session.add(
        Event(
            id=event_id,
            merchant_id=merchant_id,
            event=name,
            body=json.dumps(body, separators=(",", ":")),
            created_at=now,
        )
    )
    hooks = await session.scalars(
        select(Webhook).where(Webhook.merchant_id == merchant_id, Webhook.active.is_(True))
    )
    deliveries = [
        Delivery(id=new_id(), event_id=event_id, webhook_id=hook.id)
        for hook in hooks
        if name in hook.events
    ]
    session.add_all(deliveries)
    await session.flush()
    return [d.id for d in deliveries]


async def dispatch(platform: Platform, delivery_ids: list[int]) -> None:
    """Hand committed deliveries to the job queue (deduplicated by delivery and attempt)."""
    for delivery_id in delivery_ids:
        await platform.jobs.enqueue(
            DELIVER_JOB, {"delivery_id": str(delivery_id)}, key=f"{delivery_id}:0"
        )


def backoff(platform: Platform, attempts: int) -> float:
    config = razorpay(platform).config
    return float(
        min(
            config.webhook_backoff_max_seconds,
            config.webhook_backoff_seconds * 2 ** max(0, attempts - 1),
        )
    )


async def deliver(platform: Platform, payload: dict[str, Any]) -> None:
    """Job: one delivery attempt. Idempotent: a delivered or failed delivery is left alone."""
    config = razorpay(platform).config
    delivery_id = int(payload["delivery_id"])
    async with platform.db.session() as session:
        row = (
            await session.execute(
                select(Delivery, Event, Webhook)
                .join(Event, Event.id == Delivery.event_id)
                .join(Webhook, Webhook.id == Delivery.webhook_id)
                .where(Delivery.id == delivery_id)
            )
        ).one_or_none()
    if row is None or row.Delivery.status != "pending":
        return
    body = row.Event.body.encode("utf-8")
    headers = {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": sign(row.Webhook.secret, body),
        "X-Razorpay-Event-Id": publicids.encode("evt", row.Event.id),
        "User-Agent": "Razorpay-Webhook/v1 (Casebook)",
    }
    status_code: int | None = None
    error: str | None = None
    try:
        async with httpx.AsyncClient(timeout=config.webhook_timeout_seconds) as http:
            response = await http.post(row.Webhook.url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:255]
    attempts = row.Delivery.attempts + 1
    done = error is None
    gave_up = not done and attempts >= config.webhook_attempts
    async with platform.db.session() as session:
        await session.execute(
            update(Delivery)
            .where(Delivery.id == delivery_id, Delivery.status == "pending")
            .values(
                attempts=attempts,
                last_status_code=status_code,
                last_error=error,
                status="delivered" if done else ("failed" if gave_up else "pending"),
                delivered_at=utcnow() if done else None,
            )
        )
    if done or gave_up:
        log.info("webhook delivery finished", delivery=delivery_id, ok=done, attempts=attempts)
        return
    await platform.jobs.enqueue(
        DELIVER_JOB,
        {"delivery_id": str(delivery_id)},
        key=f"{delivery_id}:{attempts}",
        delay=backoff(platform, attempts),
    )


def install(platform: Platform) -> None:
    """Register the delivery job; the job queue retries an attempt that crashed (not one that
    got an answer: those are rescheduled by `deliver` itself with the webhook backoff)."""
    platform.jobs.register(DELIVER_JOB, deliver, retries=3)


async def register(
    session: AsyncSession, merchant_id: int, url: str, secret: str, events: list[str]
) -> Webhook:
    """A new active webhook; raises BadPaymentRequest for an unknown event or past the limit."""
    unknown = sorted(set(events) - EVENTS)
    if unknown:
        raise BadPaymentRequest(
            f"Unknown events {unknown}; choose from {sorted(EVENTS)}.", "events"
        )
    existing = await merchant_webhooks(session, merchant_id)
    if len(existing) >= RazorpaySettings().webhooks_per_merchant:
        raise BadPaymentRequest("You have reached the limit of webhooks.", "url")
    hook = Webhook(
        id=new_id(), merchant_id=merchant_id, url=url, secret=secret, events=sorted(set(events))
    )
    session.add(hook)
    await session.flush()
    return hook


async def merchant_webhooks(session: AsyncSession, merchant_id: int) -> list[Webhook]:
    return list(
        await session.scalars(
            select(Webhook).where(Webhook.merchant_id == merchant_id).order_by(Webhook.id)
        )
    )


async def deliveries_of(
    session: AsyncSession, merchant_id: int, event_id: int
) -> list[dict[str, Any]]:
    """The deliveries of the merchant's event; raises EntityNotFound for another's event."""
    event = await session.scalar(
        select(Event).where(Event.id == event_id, Event.merchant_id == merchant_id)
    )
    if event is None:
        raise EntityNotFound()
    rows = await session.scalars(select(Delivery).where(Delivery.event_id == event_id))
    return [
        {
            "webhook_id": publicids.encode("hook", d.webhook_id),
            "status": d.status,
            "attempts": d.attempts,
            "last_status_code": d.last_status_code,
            "last_error": d.last_error,
        }
        for d in rows
    ]
