"""Plans and subscriptions: their states and the atomic steps the billing job builds on.

Cycle n (1-based) of a subscription is due `n - 1` plan intervals after its anchor (the end of
the trial, or the moment the customer authenticated), computed from the anchor each time so
months of different lengths never make the dates drift. Pausing shifts the anchor by the time
spent paused, so no cycle is skipped or charged for the pause.

Exactly once per cycle: `claim_cycle` moves `paid_count` from n - 1 to n with one conditional
UPDATE and records the cycle's payment (unique per subscription and cycle) in the transaction
that authorizes and captures that payment (`payments.create_payment`). A second billing run, or
a concurrent one, finds the cycle claimed and its transaction rolls back: nothing is charged.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay.errors import BadPaymentRequest, EntityNotFound, IllegalTransition
from casebook.systems.razorpay.models import Plan, Subscription, SubscriptionCharge

PERIODS = ("daily", "weekly", "monthly", "yearly")
BILLABLE = ("authenticated", "active", "pending")
"""States in which the billing job charges a due cycle."""
MAX_TOTAL_COUNT = 1_000


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus `months` calendar months, the day clamped to the month's last day."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def due_at(plan: Plan, anchor: datetime, cycle: int) -> datetime:
    """When cycle `cycle` (1-based) of a subscription anchored at `anchor` is due. O(1)."""
    steps = (cycle - 1) * plan.interval
    if plan.period == "daily":
        return anchor + timedelta(days=steps)
    if plan.period == "weekly":
        return anchor + timedelta(weeks=steps)
    return add_months(anchor, steps * (12 if plan.period == "yearly" else 1))


async def create_plan(
    session: AsyncSession,
    merchant_id: int,
    *,
    period: str,
    interval: int,
    name: str,
    description: str | None,
    amount: int,
    currency: str,
    notes: dict[str, Any],
) -> Plan:
    """A plan; raises BadPaymentRequest for an unknown period or a bad interval (Razorpay:
    daily plans bill every 7 days or more)."""
    if period not in PERIODS:
        raise BadPaymentRequest(f"period must be one of {', '.join(PERIODS)}.", "period")
    if interval < (7 if period == "daily" else 1) or interval > 365:
        raise BadPaymentRequest("interval must be 1-365 (at least 7 for a daily plan).", "interval")
    plan = Plan(
        id=new_id(),
        merchant_id=merchant_id,
        period=period,
        interval=interval,
        name=name,
        description=description,
        amount=amount,
        currency=currency,
        notes=notes,
    )
    session.add(plan)
    await session.flush()
    return plan


async def owned_plan(session: AsyncSession, merchant_id: int, plan_id: int) -> Plan:
    plan = await session.scalar(
        select(Plan).where(Plan.id == plan_id, Plan.merchant_id == merchant_id)
    )
    if plan is None:
        raise EntityNotFound()
    return plan


async def list_plans(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[Plan]:
    return (
        await session.scalars(
            select(Plan)
            .where(Plan.merchant_id == merchant_id)
            .order_by(Plan.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


async def create_subscription(
    session: AsyncSession,
    merchant_id: int,
    *,
    plan_id: int,
    total_count: int,
    start_at: datetime | None,
    notes: dict[str, Any],
) -> Subscription:
    """A subscription awaiting the customer's authentication; `start_at` (future) gives a
    trial until then. Raises EntityNotFound (plan), BadPaymentRequest."""
    await owned_plan(session, merchant_id, plan_id)
    if not 1 <= total_count <= MAX_TOTAL_COUNT:
        raise BadPaymentRequest(f"total_count must be 1-{MAX_TOTAL_COUNT}.", "total_count")
    if start_at is not None and start_at <= utcnow():
        raise BadPaymentRequest("start_at must be in the future.", "start_at")
    subscription = Subscription(
        id=new_id(),
        merchant_id=merchant_id,
        plan_id=plan_id,
        total_count=total_count,
        paid_count=0,
        status="created",
        start_at=start_at,
        failed_attempts=0,
        cancel_at_cycle_end=False,
        notes=notes,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def get_subscription(
    session: AsyncSession, subscription_id: int, merchant_id: int | None = None
) -> Subscription:
    statement = select(Subscription).where(Subscription.id == subscription_id)
    if merchant_id is not None:
        statement = statement.where(Subscription.merchant_id == merchant_id)
    subscription = await session.scalar(statement.execution_options(populate_existing=True))
    if subscription is None:
        raise EntityNotFound()
    return subscription


async def list_subscriptions(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[Subscription]:
    return (
        await session.scalars(
            select(Subscription)
            .where(Subscription.merchant_id == merchant_id)
            .order_by(Subscription.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


async def _transition(
    session: AsyncSession, subscription: Subscription, allowed: Sequence[str], **values: Any
) -> Subscription:
    changed = await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, Subscription.status.in_(allowed))
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition(f"Not allowed: the subscription is {subscription.status}.")
    return await get_subscription(session, subscription.id)


async def authenticate(
    session: AsyncSession,
    subscription_id: int,
    *,
    method: str,
    vpa: str | None,
    bank: str | None,
    wallet: str | None,
    email: str | None,
) -> Subscription:
    """The customer's mandate: created → authenticated, first charge due at `start_at` (after
    the trial) or now. Raises EntityNotFound, IllegalTransition."""
    subscription = await get_subscription(session, subscription_id)
    anchor = subscription.start_at or utcnow()
    return await _transition(
        session,
        subscription,
        ("created",),
        status="authenticated",
        method=method,
        vpa=vpa,
        bank=bank,
        wallet=wallet,
        email=email,
        anchor_at=anchor,
        charge_at=anchor,
    )


async def cancel(
    session: AsyncSession, merchant_id: int, subscription_id: int, *, at_cycle_end: bool
) -> Subscription:
    """Cancel now, or (`at_cycle_end`) when the next cycle falls due, charging no more."""
    subscription = await get_subscription(session, subscription_id, merchant_id)
    if at_cycle_end:
        return await _transition(
            session, subscription, ("authenticated", "active"), cancel_at_cycle_end=True
        )
    return await _transition(
        session,
        subscription,
        ("created", "authenticated", "active", "pending", "halted", "paused"),
        status="cancelled",
        charge_at=None,
        ended_at=utcnow(),
    )


async def pause(session: AsyncSession, merchant_id: int, subscription_id: int) -> Subscription:
    """active (or authenticated) → paused: no cycle is charged until it is resumed."""
    subscription = await get_subscription(session, subscription_id, merchant_id)
    return await _transition(
        session, subscription, ("authenticated", "active"), status="paused", paused_at=utcnow()
    )


async def resume(session: AsyncSession, merchant_id: int, subscription_id: int) -> Subscription:
    """paused → active (authenticated if no cycle was paid yet); the anchor and the next charge
    move later by the time spent paused."""
    subscription = await get_subscription(session, subscription_id, merchant_id)
    if subscription.status != "paused" or subscription.paused_at is None:
        raise IllegalTransition(f"Not allowed: the subscription is {subscription.status}.")
    shift = utcnow() - subscription.paused_at
    assert subscription.anchor_at is not None and subscription.charge_at is not None
    return await _transition(
        session,
        subscription,
        ("paused",),
        status="active" if subscription.paid_count else "authenticated",
        paused_at=None,
        anchor_at=subscription.anchor_at + shift,
        charge_at=subscription.charge_at + shift,
    )


async def claim_cycle(
    session: AsyncSession, plan: Plan, subscription: Subscription, cycle: int, payment_id: int
) -> None:
    """Mark `cycle` paid by `payment_id` (in the payment's transaction): paid_count n-1 → n,
    the next charge one interval on, completed after the last cycle. Raises IllegalTransition
    when the cycle is already paid or the subscription stopped billing meanwhile. O(1)."""
    assert subscription.anchor_at is not None
    last = cycle >= subscription.total_count
    changed = await session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.paid_count == cycle - 1,
            Subscription.status.in_(BILLABLE),
        )
        .values(
            paid_count=cycle,
            failed_attempts=0,
            status="completed" if last else "active",
            charge_at=None if last else due_at(plan, subscription.anchor_at, cycle + 1),
            ended_at=utcnow() if last else None,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition("This billing cycle is already paid, or billing has stopped.")
    session.add(
        SubscriptionCharge(
            id=new_id(), subscription_id=subscription.id, cycle=cycle, payment_id=payment_id
        )
    )
    await session.flush()


async def record_failure(
    session: AsyncSession,
    subscription: Subscription,
    cycle: int,
    *,
    max_attempts: int,
    backoff: timedelta,
) -> None:
    """A failed charge of `cycle`: pending and retried after `backoff · 2^(failures-1)`, or
    halted after `max_attempts` failures. A no-op if the cycle got paid or billing stopped."""
    failures = subscription.failed_attempts + 1
    halted = failures >= max_attempts
    await session.execute(
        update(Subscription)
        .where(
            Subscription.id == subscription.id,
            Subscription.paid_count == cycle - 1,
            Subscription.failed_attempts == subscription.failed_attempts,
            Subscription.status.in_(BILLABLE),
        )
        .values(
            failed_attempts=failures,
            status="halted" if halted else "pending",
            charge_at=None if halted else utcnow() + backoff * 2 ** (failures - 1),
        )
        .execution_options(synchronize_session=False)
    )


async def due_subscriptions(
    session: AsyncSession, now: datetime, limit: int
) -> Sequence[Subscription]:
    """Subscriptions whose next charge is due, oldest first. O(log n + k) on the
    (status, charge_at) index."""
    return (
        await session.scalars(
            select(Subscription)
            .where(Subscription.status.in_(BILLABLE), Subscription.charge_at <= now)
            .order_by(Subscription.charge_at)
            .limit(limit)
        )
    ).all()


async def cancel_at_cycle_end(session: AsyncSession, subscription: Subscription) -> None:
    """The due cycle of a subscription cancelled at cycle end: cancel instead of charging."""
    await session.execute(
        update(Subscription)
        .where(Subscription.id == subscription.id, Subscription.status.in_(BILLABLE))
        .values(status="cancelled", charge_at=None, ended_at=utcnow())
        .execution_options(synchronize_session=False)
    )
