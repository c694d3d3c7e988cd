"""The subscription billing job: charge every due cycle once, retry failures, halt the hopeless.

Each due subscription's next cycle is charged through the ordinary payment path (routed,
authorized and captured at once) with the cycle named on the payment request, so the cycle is
claimed in the payment's own transaction (`subscriptions.claim_cycle`): a second or concurrent
run that gets an approval for a cycle already paid rolls back and charges nothing. A declined
or failed charge makes the subscription `pending` with a retry after
`subscription_retry_seconds · 2^(failures-1)`; after `subscription_charge_attempts` failures it
is `halted`. The job runs every BILLING_EVERY_SECONDS and re-schedules itself.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.razorpay import payments, subscriptions
from casebook.systems.razorpay.errors import IllegalTransition
from casebook.systems.razorpay.gateways import Instrument, Method
from casebook.systems.razorpay.models import Plan, Subscription
from casebook.systems.razorpay.runtime import razorpay

log = structlog.get_logger("casebook.razorpay.billing")

BILLING_JOB = "razorpay.bill-subscriptions"
BILLING_EVERY_SECONDS = 60
BATCH = 100


@dataclass(frozen=True)
class BillingRun:
    charged: int
    failed: int
    skipped: int
    cancelled: int


def _instrument(subscription: Subscription) -> Instrument:
    method = Method(subscription.method or "")
    return Instrument(
        method, vpa=subscription.vpa, bank=subscription.bank, wallet=subscription.wallet
    )


async def charge_cycle(
    platform: Platform, subscription_id: int, now: datetime | None = None
) -> str:
    """Charge the subscription's next cycle if it is due by `now` (default: the clock):
    "charged", "failed" (retry or halt recorded), "skipped" (not due, or another run paid it)
    or "cancelled" (cancel at cycle end)."""
    state = razorpay(platform)
    async with platform.db.session() as session:
        subscription = await subscriptions.get_subscription(session, subscription_id)
        plan = await session.get(Plan, subscription.plan_id)
        assert plan is not None
    due = subscription.charge_at
    if subscription.status not in subscriptions.BILLABLE or due is None or due > (now or utcnow()):
        return "skipped"
    if subscription.cancel_at_cycle_end and subscription.paid_count > 0:
        async with platform.db.session(write=True) as session:
            await subscriptions.cancel_at_cycle_end(session, subscription)
        return "cancelled"
    cycle = subscription.paid_count + 1
    request = payments.PaymentRequest(
        amount=plan.amount,
        currency=plan.currency,
        instrument=_instrument(subscription),
        email=subscription.email,
        description=f"{plan.name}: cycle {cycle} of {subscription.total_count}",
        subscription_cycle=(subscription.id, cycle),
    )
    try:
        payment, _ = await payments.create_payment(
            platform, state, subscription.merchant_id, request
        )
    except IllegalTransition:
        return "skipped"
    if payment.status == "captured":
        return "charged"
    async with platform.db.session(write=True) as session:
        await subscriptions.record_failure(
            session,
            subscription,
            cycle,
            max_attempts=state.config.subscription_charge_attempts,
            backoff=timedelta(seconds=state.config.subscription_retry_seconds),
        )
    return "failed"


async def bill_due(platform: Platform, now: datetime | None = None) -> BillingRun:
    """Charge every subscription whose next charge is due (in batches of BATCH). Idempotent:
    running it again, or in two processes at once, charges no cycle twice."""
    outcomes = {"charged": 0, "failed": 0, "skipped": 0, "cancelled": 0}
    seen: set[int] = set()
    while True:
        async with platform.db.session() as session:
            due = [
                s.id
                for s in await subscriptions.due_subscriptions(session, now or utcnow(), BATCH)
                if s.id not in seen
            ]
        if not due:
            break
        for subscription_id in due:
            seen.add(subscription_id)
            outcomes[await charge_cycle(platform, subscription_id, now)] += 1
    log.info("billed subscriptions", **outcomes)
    return BillingRun(**outcomes)


async def schedule_billing(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next run at the next BILLING_EVERY_SECONDS boundary, keyed by it."""
    now = time.time() if now is None else now
    due = (int(now) // BILLING_EVERY_SECONDS + 1) * BILLING_EVERY_SECONDS
    return await platform.jobs.enqueue(BILLING_JOB, {}, key=str(due), delay=due - now)


async def _billing_job(platform: Platform, payload: dict[str, Any]) -> None:
    await bill_due(platform)
    await schedule_billing(platform)


def install(platform: Platform) -> None:
    platform.jobs.register(BILLING_JOB, _billing_job, retries=3)
