"""P2P payments and money requests, to people and businesses, by $cashtag / phone / e-mail.

Sending money inserts a `completed` payment row and makes one ledger transfer in the same
transaction: the ledger refuses it when the payer's available balance is short
(InsufficientFunds, 409), and the whole request rolls back, so no row says "completed" for money
that did not move. A retried request is made safe by `Idempotency-Key` at the HTTP layer.

A request is a `pending` row that moves nothing. Accepting it claims the row with one conditional
UPDATE (`status = 'pending'` → `completed`), then transfers with the row's `transfer_id` (chosen
at creation): of two racing accepts exactly one claims the row, and even a replay of the
transfer would be answered EXISTS by the ledger, so a request is paid at most once.
"""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.cashapp.accounts import CURRENCY
from casebook.systems.cashapp.errors import (
    NotYourTurn,
    PaymentNotFound,
    RequestNotPending,
    SelfPayment,
)
from casebook.systems.cashapp.models import Payment, Profile
from casebook.systems.cashapp.profiles import find_party, require_profile
from casebook.systems.cashapp.wallet import PAYMENT

NEWEST_FIRST = Keyset(Payment.created_at, Payment.id)


def _transfer(payment: Payment, payer: Profile, payee: Profile) -> Transfer:
    return Transfer(
        id=payment.transfer_id,
        debit_account_id=payer.wallet_account_id,
        credit_account_id=payee.wallet_account_id,
        amount=payment.amount,
        code=PAYMENT,
        reference=f"cashapp:payment:{payment.id}",
    )


async def send(
    session: AsyncSession, user_id: int, to: str, amount: int, note: str = ""
) -> Payment:
    """Pay `amount` cents to the person or business `to` names.

    Raises ProfileRequired, RecipientNotFound, SelfPayment, InsufficientFunds. O(log n).
    """
    payer = await require_profile(session, user_id)
    payee = await find_party(session, to)
    if payee.user_id == user_id:
        raise SelfPayment("You cannot send money to yourself.")
    now = utcnow()
    payment = Payment(
        id=new_id(),
        kind="payment",
        payer_id=user_id,
        payee_id=payee.user_id,
        amount=amount,
        currency=CURRENCY,
        note=note,
        status="completed",
        transfer_id=new_id(),
        created_at=now,
        resolved_at=now,
    )
    await Ledger(session).transfer(_transfer(payment, payer, payee))
    session.add(payment)
    await session.flush()
    return payment


async def request(
    session: AsyncSession, user_id: int, payer_handle: str, amount: int, note: str = ""
) -> Payment:
    """Ask the user `payer_handle` names for `amount` cents; moves nothing until accepted.

    Raises ProfileRequired, RecipientNotFound, SelfPayment.
    """
    await require_profile(session, user_id)
    payer = await find_party(session, payer_handle)
    if payer.user_id == user_id:
        raise SelfPayment("You cannot request money from yourself.")
    payment = Payment(
        id=new_id(),
        kind="request",
        payer_id=payer.user_id,
        payee_id=user_id,
        amount=amount,
        currency=CURRENCY,
        note=note,
        status="pending",
        transfer_id=new_id(),
        created_at=utcnow(),
    )
    session.add(payment)
    await session.flush()
    return payment


async def get_payment(session: AsyncSession, user_id: int, payment_id: int) -> Payment:
    """A payment the user is a party to; anyone else's is PaymentNotFound (404), like none."""
    payment = await session.get(Payment, payment_id)
    if payment is None or user_id not in (payment.payer_id, payment.payee_id):
        raise PaymentNotFound(f"You have no payment {payment_id}.")
    return payment


async def _claim(session: AsyncSession, payment_id: int, status: str) -> bool:
    """Move a pending request to `status` with one conditional UPDATE; False if already answered."""
    result = await session.execute(
        update(Payment)
        .where(Payment.id == payment_id, Payment.status == "pending")
        .values(status=status, resolved_at=utcnow())
    )
    return cast(CursorResult[Any], result).rowcount == 1


async def answer_request(
    session: AsyncSession, user_id: int, payment_id: int, action: str
) -> Payment:
    """`accept` (the payer pays), `decline` (the payer refuses) or `cancel` (the requester).

    Raises PaymentNotFound, NotYourTurn, RequestNotPending (409) when already answered, and
    InsufficientFunds on accept (the request then stays pending).
    """
    payment = await get_payment(session, user_id, payment_id)
    allowed = payment.payee_id if action == "cancel" else payment.payer_id
    if payment.kind != "request" or user_id != allowed:
        raise NotYourTurn(f"You cannot {action} this {payment.kind}.")
    status = {"accept": "completed", "decline": "declined", "cancel": "cancelled"}[action]
    if not await _claim(session, payment.id, status):
        raise RequestNotPending("This request was already answered.")
    if action == "accept":
        payer = await require_profile(session, payment.payer_id)
        payee = await require_profile(session, payment.payee_id)
        await Ledger(session).transfer(_transfer(payment, payer, payee))
    await session.refresh(payment)
    return payment


async def list_payments(
    session: AsyncSession, user_id: int, page: PageParams, *, pending_only: bool = False
) -> tuple[list[Payment], str | None]:
    """The user's payments and requests (either side), newest first, by cursor. O(log n + limit)."""
    query = select(Payment).where(or_(Payment.payer_id == user_id, Payment.payee_id == user_id))
    if pending_only:
        query = query.where(Payment.status == "pending")
    return await NEWEST_FIRST.fetch(session, query, page)
