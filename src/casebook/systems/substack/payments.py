"""Money on the ledger: readers' wallets, paid subscriptions (monthly/annual), renewals,
cancellations and voluntary contributions. All amounts are USD cents.

Accounts: each reader's `wallet` (LIABILITY), funded by card top-ups from the platform's
`card-clearing` (ASSET, may go negative: it is what the card processor owes us); each
publication's `earnings` (LIABILITY, the writer's money); the platform's `fees` (REVENUE, 10%
of each payment, Substack's cut). A payment is two linked transfers, wallet → earnings and
wallet → fees, that succeed or fail together, in the same transaction as our own rows.

Paid access is `current_period_end > now`. A renewal runs when the period ends: if the wallet
pays, the period moves on by one plan interval; if not, the subscription lapses and access ends
with the period. The renewal's UPDATE of the period and its transfers commit together, and the
row is locked first (`FOR UPDATE`), so a renewal sweep running twice charges once.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import (
    AccountKind,
    InsufficientFunds,
    Ledger,
    Outcome,
    Transfer,
    TransferRefused,
)
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.systems.substack.cards import Card, CardProcessor
from casebook.systems.substack.errors import AlreadySubscribed, NoPaidPlans, NotSubscribed
from casebook.systems.substack.models import Charge, PaidSubscription, TopUp
from casebook.systems.substack.publishing import get_publication
from casebook.systems.substack.subscriptions import subscribe

CURRENCY = "USD"
FEE_PERCENT = 10
PLAN_MONTHS = {"monthly": 1, "annual": 12}
MIN_TOP_UP = 100
MAX_TOP_UP = 10_000_000


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus calendar months, the day clamped to the month's length (Jan 31 → Feb 28)."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


async def wallet_account(ledger: Ledger, user_id: int) -> int:
    account = await ledger.open_account(
        owner=f"substack:user:{user_id}",
        name="wallet",
        currency=CURRENCY,
        kind=AccountKind.LIABILITY,
    )
    return account.id


async def earnings_account(ledger: Ledger, publication_id: int) -> int:
    account = await ledger.open_account(
        owner=f"substack:publication:{publication_id}",
        name="earnings",
        currency=CURRENCY,
        kind=AccountKind.LIABILITY,
    )
    return account.id


async def _platform_account(ledger: Ledger, name: str, kind: AccountKind) -> int:
    account = await ledger.open_account(
        owner="substack",
        name=name,
        currency=CURRENCY,
        kind=kind,
        allow_negative=kind is AccountKind.ASSET,
    )
    return account.id


async def balance(session: AsyncSession, owner_account: int) -> int:
    account = await Ledger(session).account(owner_account)
    return account.posted


async def wallet_balance(session: AsyncSession, user_id: int) -> int:
    return await balance(session, await wallet_account(Ledger(session), user_id))


async def earnings_balance(session: AsyncSession, publication_id: int) -> int:
    return await balance(session, await earnings_account(Ledger(session), publication_id))


async def top_up(
    session: AsyncSession, processor: CardProcessor, user_id: int, card: Card, amount: int
) -> TopUp:
    """Charge `card` and credit the wallet. Raises CardDeclined (402); nothing is recorded."""
    record_id = new_id()
    charge = processor.charge(f"substack:top-up:{record_id}", card, amount)
    ledger = Ledger(session)
    record = TopUp(
        id=record_id,
        user_id=user_id,
        amount=amount,
        card_last4=charge.card_last4,
        authorization_code=charge.authorization_code,
        transfer_id=new_id(),
        created_at=utcnow(),
    )
    await ledger.transfer(
        Transfer(
            id=record.transfer_id,
            debit_account_id=await _platform_account(ledger, "card-clearing", AccountKind.ASSET),
            credit_account_id=await wallet_account(ledger, user_id),
            amount=amount,
            code="top-up",
            reference=f"substack:top-up:{record_id}",
        )
    )
    session.add(record)
    await session.flush()
    return record


async def pay(
    session: AsyncSession, user_id: int, publication_id: int, amount: int, kind: str
) -> Charge:
    """Move `amount` from the reader's wallet to the publication (less the fee) and the
    platform's fees, both or neither. Raises InsufficientFunds (409)."""
    ledger = Ledger(session)
    wallet = await wallet_account(ledger, user_id)
    fee = amount * FEE_PERCENT // 100
    charge = Charge(
        id=new_id(),
        publication_id=publication_id,
        user_id=user_id,
        kind=kind,
        amount=amount,
        fee=fee,
        transfer_id=new_id(),
        created_at=utcnow(),
    )
    transfers = [
        Transfer(
            id=charge.transfer_id,
            debit_account_id=wallet,
            credit_account_id=await earnings_account(ledger, publication_id),
            amount=amount - fee,
            code=kind,
            reference=f"substack:charge:{charge.id}",
            linked=fee > 0,
        )
    ]
    if fee > 0:
        transfers.append(
            Transfer(
                id=new_id(),
                debit_account_id=wallet,
                credit_account_id=await _platform_account(ledger, "fees", AccountKind.REVENUE),
                amount=fee,
                code=f"{kind}-fee",
                reference=f"substack:charge:{charge.id}",
            )
        )
    outcomes = await ledger.create_transfers(transfers)
    failed = [o for o in outcomes if not o.succeeded and o is not Outcome.LINKED_EVENT_FAILED]
    if failed or not all(o.succeeded for o in outcomes):
        outcome = failed[0] if failed else Outcome.LINKED_EVENT_FAILED
        if outcome is Outcome.EXCEEDS_CREDITS:
            raise InsufficientFunds(outcome, "The wallet does not hold enough for this payment.")
        raise TransferRefused(outcome)
    session.add(charge)
    await session.flush()
    return charge


async def paid_subscription_of(
    session: AsyncSession, user_id: int, publication_id: int, *, lock: bool = False
) -> PaidSubscription | None:
    stmt = select(PaidSubscription).where(
        PaidSubscription.publication_id == publication_id, PaidSubscription.user_id == user_id
    )
    if lock:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return await session.scalar(stmt)


async def subscribe_paid(
    session: AsyncSession, user_id: int, publication_id: int, plan: str
) -> PaidSubscription:
    """Start (or restart after a lapse) a paid subscription, paying the first period now.

    Also makes the reader a (free) subscriber for e-mail. Raises NoPaidPlans,
    AlreadySubscribed (paid access still running and renewing), InsufficientFunds.
    """
    publication = await get_publication(session, publication_id)
    price = publication.monthly_price if plan == "monthly" else publication.annual_price
    if price is None:
        raise NoPaidPlans()
    now = utcnow()
    existing = await paid_subscription_of(session, user_id, publication_id, lock=True)
    if existing is not None and existing.status == "active" and existing.current_period_end > now:
        raise AlreadySubscribed("Your paid subscription is already active.")
    await pay(session, user_id, publication_id, price, "subscription")
    period_end = add_months(now, PLAN_MONTHS[plan])
    if existing is None:
        existing = PaidSubscription(
            id=new_id(),
            publication_id=publication_id,
            user_id=user_id,
            plan=plan,
            amount=price,
            currency=CURRENCY,
            status="active",
            current_period_end=period_end,
            created_at=now,
            renewals=0,
        )
        session.add(existing)
    else:
        existing.plan, existing.amount, existing.status = plan, price, "active"
        existing.current_period_end = period_end
    await subscribe(session, user_id, publication_id)
    await session.flush()
    return existing


async def cancel_paid(session: AsyncSession, user_id: int, publication_id: int) -> PaidSubscription:
    """Stop renewing; paid access lasts until the end of the period already paid."""
    existing = await paid_subscription_of(session, user_id, publication_id, lock=True)
    if existing is None or existing.status != "active":
        raise NotSubscribed("You have no renewing paid subscription here.")
    existing.status = "canceled"
    await session.flush()
    return existing


@dataclass(frozen=True)
class RenewalReport:
    renewed: int
    lapsed: int


async def renew_due(db: Database, now: datetime | None = None, limit: int = 500) -> RenewalReport:
    """Renew (or lapse) active subscriptions whose period has ended by `now`.

    Each subscription in its own write transaction, locked and re-checked, so a second sweep
    (or another process) finds nothing left to do. O(k log n) for k due subscriptions.
    """
    now = now or utcnow()
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(PaidSubscription.id)
                .where(
                    PaidSubscription.status == "active",
                    PaidSubscription.current_period_end <= now,
                )
                .order_by(PaidSubscription.current_period_end)
                .limit(limit)
            )
        )
    renewed = lapsed = 0
    for subscription_id in due:
        async with db.session(write=True) as session:
            row = await session.scalar(
                select(PaidSubscription)
                .where(PaidSubscription.id == subscription_id)
                .with_for_update()
            )
            if row is None or row.status != "active" or row.current_period_end > now:
                continue
            try:
                async with session.begin_nested():
                    await pay(session, row.user_id, row.publication_id, row.amount, "renewal")
            except InsufficientFunds:
                row.status = "lapsed"
                lapsed += 1
                continue
            row.current_period_end = add_months(row.current_period_end, PLAN_MONTHS[row.plan])
            row.renewals += 1
            renewed += 1
    return RenewalReport(renewed, lapsed)


async def contribute(
    session: AsyncSession, user_id: int, publication_id: int, amount: int
) -> Charge:
    """A one-off voluntary contribution to the publication. Raises InsufficientFunds."""
    await get_publication(session, publication_id)
    return await pay(session, user_id, publication_id, amount, "contribution")
