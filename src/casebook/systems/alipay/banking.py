"""Top-ups from and withdrawals to linked bank accounts, through the (simulated) bank.

The bank is another institution: its calls commit on its side, never inside our transaction. So
each order is a small workflow of three units of work, each safe to repeat:

1. record the order (`pending`) with its reference and ledger transfer ids; a withdrawal also
   places a ledger hold on the wallet, so the money cannot be spent while the bank pays out;
2. ask the bank to move the money under the order's reference (the bank dedupes by it);
3. settle from the bank's answer: a top-up credits the wallet from `bank-settlement`; a
   withdrawal posts its hold (to `bank-settlement`); a decline fails the order and voids the hold.

When the bank's answer is lost (timeout, crash), the order stays `pending`; `resolve_pending`
(a scheduled job) asks the bank about it by reference and finishes step 3 either way. Whatever
still disagrees at the end of the day shows up in reconciliation.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer, TransferKind
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.systems.alipay import accounts
from casebook.systems.alipay.bank import Receipt, SimulatedBank
from casebook.systems.alipay.config import AlipaySettings
from casebook.systems.alipay.errors import BankAccountNotFound, BankDeclined, BankUnavailable
from casebook.systems.alipay.models import BankLink, BankOrder
from casebook.systems.alipay.notifications import notify, yuan

RESOLVE_AFTER = timedelta(seconds=60)
"""A pending order younger than this may still be waiting for its own request's answer."""


async def open_and_link(
    db: Database, bank: SimulatedBank, user_id: int, holder_name: str, opening_balance: int
) -> BankLink:
    """Open a sandbox account at the simulated bank and link it to the user's wallet."""
    account = await bank.open_account(holder_name, opening_balance)
    async with db.session() as session:
        link = BankLink(
            user_id=user_id, account_number=account.account_number, holder_name=holder_name
        )
        session.add(link)
    return link


async def links_of(session: AsyncSession, user_id: int) -> list[BankLink]:
    rows = await session.scalars(
        select(BankLink).where(BankLink.user_id == user_id).order_by(BankLink.id)
    )
    return list(rows)


async def _link(session: AsyncSession, user_id: int, link_id: int) -> BankLink:
    link = await session.get(BankLink, link_id)
    if link is None or link.user_id != user_id:
        raise BankAccountNotFound(f"You have no linked bank account {link_id}.")
    return link


async def top_up(
    db: Database, bank: SimulatedBank, user_id: int, link_id: int, amount: int
) -> BankOrder:
    """Pull `amount` fen from the user's bank account into the wallet.

    Raises BankAccountNotFound (404), BankDeclined (402, the order is kept as failed) and
    BankUnavailable (503, the order stays pending until `resolve_pending` settles it).
    """
    order_id = new_id()
    async with db.session() as session:
        link = await _link(session, user_id, link_id)
        order = BankOrder(
            id=order_id,
            user_id=user_id,
            link_id=link.id,
            kind="top-up",
            amount=amount,
            status="pending",
            reference=f"alipay:topup:{order_id}",
            settle_transfer_id=new_id(),
        )
        session.add(order)
    try:
        receipt = await bank.debit(link.account_number, amount, order.reference)
    except BankDeclined as declined:
        await _fail(db, order_id, declined.detail)
        raise
    except BankUnavailable as unavailable:
        unavailable.extensions["order_id"] = str(order_id)
        raise
    return await _settle(db, order_id, receipt)


async def withdraw(
    db: Database,
    bank: SimulatedBank,
    config: AlipaySettings,
    user_id: int,
    link_id: int,
    amount: int,
) -> BankOrder:
    """Pay `amount` fen from the wallet out to the user's bank account: hold, then post when the
    bank confirms. Raises as `top_up`, and InsufficientFunds (409) before anything happens."""
    order_id = new_id()
    async with db.session(write=True) as session:
        link = await _link(session, user_id, link_id)
        order = BankOrder(
            id=order_id,
            user_id=user_id,
            link_id=link.id,
            kind="withdrawal",
            amount=amount,
            status="pending",
            reference=f"alipay:withdrawal:{order_id}",
            hold_transfer_id=new_id(),
            settle_transfer_id=new_id(),
            release_transfer_id=new_id(),
        )
        session.add(order)
        ledger = Ledger(session)
        wallet = await accounts.wallet(ledger, user_id)
        settlement = await accounts.bank_settlement(ledger)
        assert order.hold_transfer_id is not None
        await ledger.transfer(
            Transfer(
                id=order.hold_transfer_id,
                debit_account_id=wallet.id,
                credit_account_id=settlement.id,
                amount=amount,
                kind=TransferKind.PENDING,
                timeout=config.withdrawal_hold_seconds,
                code="withdrawal-hold",
                reference=order.reference,
            )
        )
    try:
        receipt = await bank.credit(link.account_number, amount, order.reference)
    except BankDeclined as declined:
        await _fail(db, order_id, declined.detail)
        raise
    except BankUnavailable as unavailable:
        unavailable.extensions["order_id"] = str(order_id)
        raise
    return await _settle(db, order_id, receipt)


async def _locked_order(session: AsyncSession, order_id: int) -> BankOrder:
    order = await session.scalar(
        select(BankOrder).where(BankOrder.id == order_id).with_for_update()
    )
    assert order is not None
    return order


async def _settle(db: Database, order_id: int, receipt: Receipt) -> BankOrder:
    """Step 3 for a movement the bank booked. Idempotent: a settled order is returned as is."""
    async with db.session(write=True) as session:
        order = await _locked_order(session, order_id)
        if order.status != "pending":
            return order
        ledger = Ledger(session)
        wallet = await accounts.wallet(ledger, order.user_id)
        settlement = await accounts.bank_settlement(ledger)
        if order.kind == "top-up":
            transfer = Transfer(
                id=order.settle_transfer_id,
                debit_account_id=settlement.id,
                credit_account_id=wallet.id,
                amount=order.amount,
                code="top-up",
                reference=order.reference,
            )
            message = f"Topped up {yuan(order.amount)} from your bank."
        else:
            assert order.hold_transfer_id is not None
            transfer = Transfer(
                id=order.settle_transfer_id,
                kind=TransferKind.POST,
                pending_id=order.hold_transfer_id,
                code="withdrawal",
                reference=order.reference,
            )
            message = f"Withdrew {yuan(order.amount)} to your bank."
        await ledger.transfer(transfer)
        order.status = "completed"
        order.bank_reference = receipt.bank_reference
        order.completed_at = utcnow()
        notify(session, order.user_id, f"bank.{order.kind}", message)
        return order


async def _fail(db: Database, order_id: int, reason: str) -> BankOrder:
    """Step 3 for a declined order: mark it failed and release a withdrawal's hold."""
    async with db.session(write=True) as session:
        order = await _locked_order(session, order_id)
        if order.status != "pending":
            return order
        if order.kind == "withdrawal":
            assert order.hold_transfer_id is not None and order.release_transfer_id is not None
            await Ledger(session).transfer(
                Transfer(
                    id=order.release_transfer_id,
                    kind=TransferKind.VOID,
                    pending_id=order.hold_transfer_id,
                    code="withdrawal-void",
                    reference=order.reference,
                )
            )
        order.status = "failed"
        order.failure = reason[:200]
        order.completed_at = utcnow()
        notify(
            session,
            order.user_id,
            f"bank.{order.kind}-failed",
            f"Your {order.kind} of {yuan(order.amount)} failed: {reason}",
        )
        return order


async def resolve_pending(
    db: Database, bank: SimulatedBank, *, older_than: timedelta = RESOLVE_AFTER
) -> int:
    """Finish orders left pending by a lost bank answer: ask the bank by reference, then settle
    (it booked the movement) or fail (it did not). Returns how many it finished."""
    cutoff = utcnow() - older_than
    async with db.session() as session:
        pending = (
            await session.execute(
                select(BankOrder.id, BankOrder.reference)
                .where(BankOrder.status == "pending", BankOrder.created_at <= cutoff)
                .order_by(BankOrder.id)
                .limit(1000)
            )
        ).all()
    for order_id, reference in pending:
        receipt = await bank.movement(reference)
        if receipt is not None:
            await _settle(db, order_id, receipt)
        else:
            await _fail(db, order_id, "The bank has no record of it.")
    return len(pending)


async def orders_of(session: AsyncSession, user_id: int, limit: int = 50) -> list[BankOrder]:
    rows = await session.scalars(
        select(BankOrder)
        .where(BankOrder.user_id == user_id)
        .order_by(BankOrder.id.desc())
        .limit(limit)
    )
    return list(rows)
