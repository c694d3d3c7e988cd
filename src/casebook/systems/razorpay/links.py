"""Payment links: a shareable URL that collects a set amount from a customer.

    created ──pay part──▶ partially_paid ──pay the rest──▶ paid
       └──────────────pay all──────────────────────────────┘
    created / partially_paid ──expire_by passes──▶ expired
    created / partially_paid ──cancel──▶ cancelled

A link accepts one payment of its whole amount, or with `accept_partial` several payments that
add up to it exactly, the first at least `first_min_partial_amount`. Every payment is claimed
against the link by one conditional UPDATE (`claim`) in the transaction that records the
authorized payment, so concurrent payers can never overpay: the statement adds the amount only
while the link is open, unexpired and `amount_paid + amount <= amount`.

Expiry is applied when the link is read or paid (one conditional UPDATE), so an expired link
never takes money even if no job has looked at it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay import publicids
from casebook.systems.razorpay.errors import BadPaymentRequest, EntityNotFound, IllegalTransition
from casebook.systems.razorpay.models import PaymentLink

OPEN = ("created", "partially_paid")
MIN_EXPIRY = timedelta(minutes=15)
"""Razorpay's rule: `expire_by` at least 15 minutes in the future."""


def public_id(link_id: int) -> str:
    return publicids.encode("plink", link_id)


async def create_link(
    session: AsyncSession,
    merchant_id: int,
    *,
    amount: int,
    currency: str,
    accept_partial: bool,
    first_min_partial_amount: int | None,
    description: str | None,
    customer: dict[str, Any],
    reference_id: str | None,
    expire_by: datetime | None,
    notes: dict[str, Any],
    min_amount: int,
) -> PaymentLink:
    """A new link; raises BadPaymentRequest for partial rules, expiry or a reused reference."""
    if first_min_partial_amount is not None:
        if not accept_partial:
            raise BadPaymentRequest(
                "first_min_partial_amount needs accept_partial.", "first_min_partial_amount"
            )
        if not min_amount <= first_min_partial_amount <= amount:
            raise BadPaymentRequest(
                f"first_min_partial_amount must be between {min_amount} and the amount.",
                "first_min_partial_amount",
            )
    now = utcnow()
    if expire_by is not None and expire_by < now + MIN_EXPIRY:
        raise BadPaymentRequest("expire_by must be at least 15 minutes in the future.", "expire_by")
    link = PaymentLink(
        id=new_id(),
        merchant_id=merchant_id,
        amount=amount,
        currency=currency,
        amount_paid=0,
        accept_partial=accept_partial,
        first_min_partial_amount=first_min_partial_amount,
        description=description,
        customer=customer,
        reference_id=reference_id,
        notes=notes,
        status="created",
        expire_by=expire_by,
        created_at=now,
        updated_at=now,
    )
    session.add(link)
    try:
        await session.flush()
    except IntegrityError:
        raise BadPaymentRequest(
            f"The reference_id {reference_id!r} is already used by another link.", "reference_id"
        ) from None
    return link


async def _expire_if_due(session: AsyncSession, link_id: int) -> None:
    now = utcnow()
    await session.execute(
        update(PaymentLink)
        .where(
            PaymentLink.id == link_id,
            PaymentLink.status.in_(OPEN),
            PaymentLink.expire_by.is_not(None),
            PaymentLink.expire_by <= now,
        )
        .values(status="expired", expired_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )


async def get_link(
    session: AsyncSession, link_id: int, merchant_id: int | None = None
) -> PaymentLink:
    """The link (the merchant's, when `merchant_id` is given; another's is answered as not
    existing), expired first if its time has passed. Raises EntityNotFound."""
    await _expire_if_due(session, link_id)
    statement = select(PaymentLink).where(PaymentLink.id == link_id)
    if merchant_id is not None:
        statement = statement.where(PaymentLink.merchant_id == merchant_id)
    link = await session.scalar(statement.execution_options(populate_existing=True))
    if link is None:
        raise EntityNotFound()
    return link


async def list_links(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[PaymentLink]:
    return (
        await session.scalars(
            select(PaymentLink)
            .where(PaymentLink.merchant_id == merchant_id)
            .order_by(PaymentLink.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


async def cancel_link(session: AsyncSession, merchant_id: int, link_id: int) -> PaymentLink:
    """Cancel the merchant's unpaid (or partly paid) link; raises IllegalTransition otherwise."""
    link = await get_link(session, link_id, merchant_id)
    now = utcnow()
    changed = await session.execute(
        update(PaymentLink)
        .where(PaymentLink.id == link.id, PaymentLink.status.in_(OPEN))
        .values(status="cancelled", cancelled_at=now, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition(f"A {link.status} payment link cannot be cancelled.")
    return await get_link(session, link.id, merchant_id)


def check_payable(link: PaymentLink, amount: int, currency: str, min_amount: int) -> None:
    """Refuse, before any gateway is asked, a payment the link cannot take (read outside the
    payment's transaction; `claim` re-checks atomically). A part that would leave less than
    `min_amount` (the smallest payment) due is refused, so the link can always be completed."""
    if link.status not in OPEN:
        raise IllegalTransition(f"This payment link is {link.status}.")
    if currency != link.currency:
        raise BadPaymentRequest(f"This link is paid in {link.currency}.", "currency")
    due = link.amount - link.amount_paid
    if amount > due:
        raise BadPaymentRequest(f"The amount is more than what is due ({due}).", "amount")
    if not link.accept_partial and amount != due:
        raise BadPaymentRequest(f"This link takes only the full amount ({due}).", "amount")
    if 0 < due - amount < min_amount:
        raise BadPaymentRequest(
            f"Pay all that is due or leave at least {min_amount} to pay later.", "amount"
        )
    minimum = link.first_min_partial_amount
    if link.amount_paid == 0 and minimum is not None and amount < minimum and amount != due:
        raise BadPaymentRequest(f"The first payment must be at least {minimum}.", "amount")


async def claim(session: AsyncSession, link_id: int, amount: int) -> None:
    """Add `amount` to the link's `amount_paid` in one conditional UPDATE, moving it to
    partially_paid or paid; raises IllegalTransition when a concurrent payment, expiry or
    cancellation got there first (the caller's transaction then rolls back). O(1)."""
    now = utcnow()
    changed = await session.execute(
        update(PaymentLink)
        .where(
            PaymentLink.id == link_id,
            PaymentLink.status.in_(OPEN),
            PaymentLink.amount_paid + amount <= PaymentLink.amount,
            or_(PaymentLink.expire_by.is_(None), PaymentLink.expire_by > now),
            or_(
                PaymentLink.accept_partial.is_(True),
                PaymentLink.amount_paid + amount == PaymentLink.amount,
            ),
            or_(
                PaymentLink.amount_paid > 0,
                PaymentLink.first_min_partial_amount.is_(None),
                PaymentLink.first_min_partial_amount <= amount,
                PaymentLink.amount == amount,
            ),
        )
        .values(
            amount_paid=PaymentLink.amount_paid + amount,
            status=case(
                (PaymentLink.amount_paid + amount == PaymentLink.amount, "paid"),
                else_="partially_paid",
            ),
            paid_at=case(
                (PaymentLink.amount_paid + amount == PaymentLink.amount, now),
                else_=PaymentLink.paid_at,
            ),
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:  # type: ignore[attr-defined]
        raise IllegalTransition(
            "The payment link was paid, expired or cancelled meanwhile, or the amount no longer "
            "fits what is due; nothing was charged."
        )
