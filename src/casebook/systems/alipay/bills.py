"""Bills: billers (utility, phone, credit-card merchants) issue them; users pay them in one place.

A bill is due, overdue (unpaid after its due date, in UTC days) or paid. Paying is one
conditional UPDATE (`paid_at IS NULL`) plus one ledger transfer whose id the bill carries from
issue, in one transaction: two concurrent payments of one bill cannot both succeed, and a payment
that fails for want of funds leaves the bill unpaid.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.alipay import accounts
from casebook.systems.alipay.errors import BillAlreadyPaid, BillNotFound, SelfPayment
from casebook.systems.alipay.models import Bill, Merchant
from casebook.systems.alipay.notifications import notify, yuan
from casebook.systems.alipay.users import resolve_user

MERCHANT_NEWEST_FIRST = Keyset(Bill.id)


def bill_status(bill: Bill, today: date) -> str:
    """paid, overdue or due."""
    if bill.paid_at is not None:
        return "paid"
    return "overdue" if bill.due_date < today else "due"


async def issue(
    session: AsyncSession,
    biller: Merchant,
    payer: str,
    amount: int,
    due_date: date,
    description: str,
) -> Bill:
    """A bill from `biller` to the user `payer` (username, phone or e-mail). Raises
    ProfileNotFound (404), SelfPayment (422)."""
    payer_id = await resolve_user(session, payer)
    if payer_id == biller.owner_id:
        raise SelfPayment("You cannot bill yourself.")
    bill = Bill(
        id=new_id(),
        merchant_id=biller.id,
        payer_id=payer_id,
        category=biller.category,
        amount=amount,
        due_date=due_date,
        description=description,
        transfer_id=new_id(),
    )
    session.add(bill)
    notify(
        session,
        payer_id,
        "bill.issued",
        f"New {biller.category} bill from {biller.name}: {yuan(amount)} due {due_date}.",
    )
    return bill


async def bills_of(session: AsyncSession, payer_id: int, status: str | None) -> list[Bill]:
    """The user's bills, soonest due first; `status` (due, overdue, paid) filters. At most 500."""
    today = utcnow().date()
    stmt = select(Bill).where(Bill.payer_id == payer_id)
    if status == "paid":
        stmt = stmt.where(Bill.paid_at.is_not(None))
    elif status == "overdue":
        stmt = stmt.where(Bill.paid_at.is_(None), Bill.due_date < today)
    elif status == "due":
        stmt = stmt.where(Bill.paid_at.is_(None), Bill.due_date >= today)
    rows = await session.scalars(stmt.order_by(Bill.due_date, Bill.id).limit(500))
    return list(rows)


async def biller_bills(
    session: AsyncSession, biller: Merchant, page: PageParams
) -> tuple[list[Bill], str | None]:
    return await MERCHANT_NEWEST_FIRST.fetch(
        session, select(Bill).where(Bill.merchant_id == biller.id), page
    )


async def pay(session: AsyncSession, payer_id: int, bill_id: int) -> Bill:
    """Pay the user's bill from their wallet. Raises BillNotFound (404), BillAlreadyPaid (409),
    InsufficientFunds (409, the bill stays unpaid)."""
    now = utcnow()
    claimed = await session.scalar(
        update(Bill)
        .where(Bill.id == bill_id, Bill.payer_id == payer_id, Bill.paid_at.is_(None))
        .values(paid_at=now)
        .returning(Bill.id)
    )
    bill = await session.scalar(select(Bill).where(Bill.id == bill_id, Bill.payer_id == payer_id))
    if bill is None:
        raise BillNotFound(f"You have no bill {bill_id}.")
    if claimed is None:
        raise BillAlreadyPaid("This bill is already paid.")
    await session.refresh(bill)
    biller = await session.get(Merchant, bill.merchant_id)
    assert biller is not None
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, payer_id)
    takings = await accounts.merchant_account(ledger, biller.id)
    await ledger.transfer(
        Transfer(
            id=bill.transfer_id,
            debit_account_id=wallet.id,
            credit_account_id=takings.id,
            amount=bill.amount,
            code="bill-payment",
            reference=f"alipay:bill:{bill.id}",
        )
    )
    notify(session, payer_id, "bill.paid", f"Paid {yuan(bill.amount)} to {biller.name}.")
    notify(session, biller.owner_id, "bill.paid", f"Bill {bill.id} was paid: {yuan(bill.amount)}.")
    return bill
