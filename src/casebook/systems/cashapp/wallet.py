"""The balance: add cash from a linked bank, cash out to it, read the balance and the activity feed.

The linked bank is simulated by the `bank-clearing` house account: adding cash is a ledger
transfer from it to the wallet, cashing out the reverse (refused by the ledger when the wallet's
available balance is short, so a wallet never goes negative, also under concurrency).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Account, Ledger, Transfer
from casebook.engines.ledger.statements import statement
from casebook.platform.ids import new_id
from casebook.systems.cashapp.accounts import bank_clearing
from casebook.systems.cashapp.models import Authorization, Payment
from casebook.systems.cashapp.profiles import parties, require_profile

ADD_CASH = "add-cash"
CASH_OUT = "cash-out"
PAYMENT = "payment"
CARD_PURCHASE = "card-purchase"


async def balance(session: AsyncSession, user_id: int) -> Account:
    """The user's wallet with its counters (posted, held, available). Raises ProfileRequired."""
    profile = await require_profile(session, user_id)
    return await Ledger(session).account(profile.wallet_account_id)


async def add_cash(session: AsyncSession, user_id: int, amount: int) -> Account:
    """Move `amount` cents from the linked bank into the wallet; returns the wallet after."""
    profile = await require_profile(session, user_id)
    ledger = Ledger(session)
    bank = await bank_clearing(ledger)
    await ledger.transfer(
        Transfer(
            id=new_id(),
            debit_account_id=bank.id,
            credit_account_id=profile.wallet_account_id,
            amount=amount,
            code=ADD_CASH,
            reference=f"cashapp:user:{user_id}",
        )
    )
    return await ledger.account(profile.wallet_account_id)


async def cash_out(session: AsyncSession, user_id: int, amount: int) -> Account:
    """Move `amount` cents from the wallet to the linked bank; raises InsufficientFunds (409)."""
    profile = await require_profile(session, user_id)
    ledger = Ledger(session)
    bank = await bank_clearing(ledger)
    await ledger.transfer(
        Transfer(
            id=new_id(),
            debit_account_id=profile.wallet_account_id,
            credit_account_id=bank.id,
            amount=amount,
            code=CASH_OUT,
            reference=f"cashapp:user:{user_id}",
        )
    )
    return await ledger.account(profile.wallet_account_id)


@dataclass(frozen=True)
class ActivityItem:
    """One line of the activity feed, from the wallet's point of view.

    `amount` is signed (+ money in, - money out, 0 for a card hold or its release); `held` is
    the change in money on hold; `balance` the posted balance after the line.
    """

    transfer_id: int
    kind: str
    description: str
    amount: int
    held: int
    balance: int
    created_at: datetime


def _prefixed_id(reference: str, prefix: str) -> int | None:
    if reference.startswith(prefix) and reference[len(prefix) :].isdigit():
        return int(reference[len(prefix) :])
    return None


async def activity(
    session: AsyncSession, user_id: int, *, cursor: str | None, limit: int
) -> tuple[list[ActivityItem], str | None]:
    """The wallet's statement, newest first, each line described (counterparty or merchant).

    Raises ProfileRequired and InvalidCursor. O(log n + limit): one statement page plus one
    lookup of the payments and one of the card authorizations on the page.
    """
    profile = await require_profile(session, user_id)
    lines, next_cursor = await statement(
        session, profile.wallet_account_id, cursor=cursor, limit=limit
    )
    payment_ids = {
        pid
        for line in lines
        if (pid := _prefixed_id(line.transfer.reference, "cashapp:payment:")) is not None
    }
    auth_ids = {
        aid
        for line in lines
        if (aid := _prefixed_id(line.transfer.reference, "cashapp:auth:")) is not None
    }
    payments = (
        {p.id: p for p in await session.scalars(select(Payment).where(Payment.id.in_(payment_ids)))}
        if payment_ids
        else {}
    )
    auths = (
        {
            a.id: a
            for a in await session.scalars(
                select(Authorization).where(Authorization.id.in_(auth_ids))
            )
        }
        if auth_ids
        else {}
    )
    people = await parties(
        session, {uid for p in payments.values() for uid in (p.payer_id, p.payee_id)}
    )
    items = []
    for line in lines:
        t = line.transfer
        description = t.code.replace("-", " ")
        payment_id = _prefixed_id(t.reference, "cashapp:payment:")
        auth_id = _prefixed_id(t.reference, "cashapp:auth:")
        if payment_id is not None and payment_id in payments:
            payment = payments[payment_id]
            incoming = payment.payee_id == user_id
            other = people.get(payment.payer_id if incoming else payment.payee_id)
            name = other.cashtag if other else "a former user"
            description = f"from {name}" if incoming else f"to {name}"
            if payment.note:
                description += f": {payment.note}"
        elif auth_id is not None and auth_id in auths:
            auth = auths[auth_id]
            description = f"card: {auth.merchant_name} ({t.kind.value})"
        items.append(
            ActivityItem(
                transfer_id=t.id,
                kind=t.code,
                description=description,
                amount=line.amount,
                held=line.held,
                balance=line.balance,
                created_at=t.created_at,
            )
        )
    return items, next_cursor
