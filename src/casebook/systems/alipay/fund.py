"""The money-market fund (Yu'e Bao style): subscribe, redeem, and a daily yield accrual.

Units have a fixed net asset value of one yuan, so a holding is counted in fen and its value is
its size. Subscribing moves money wallet → fund holding, redeeming moves it back, each one ledger
transfer. The yield is paid as more units, once per holder per day:

    yield(holder, D) = floor(holding at the end of D * annual rate / 365)

posted from the fund's portfolio account. The daily job (`accrue_yield`) inserts one
`alipay_fund_accruals` row per (holder, day) with ON CONFLICT DO NOTHING, and posts the transfer
whose id that row holds: a re-run, a retry after a crash half-way, or two workers at once find the
rows and the transfers already there, and post nothing twice. The basis is the holding at the end
of D read from the ledger's history (`balance_at`), not the current balance, so a re-run computes
the same amounts whenever it runs. Fractions of a fen are dropped (as real funds round daily).
Complexity: O(h · log n) for h holders, in batches of `BATCH` holders per transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer
from casebook.engines.ledger.statements import balance_at
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from casebook.systems.alipay import accounts
from casebook.systems.alipay.config import CURRENCY
from casebook.systems.alipay.models import FundAccrual, insert_unless_exists
from casebook.systems.alipay.notifications import notify, yuan

BATCH = 500
DAYS_PER_YEAR = 365


class DayNotOver(ValueError):
    """Yield is accrued only for a day that has ended."""


async def subscribe(session: AsyncSession, user_id: int, amount: int) -> int:
    """Buy `amount` units with wallet money; returns the new holding. InsufficientFunds (409)."""
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, user_id)
    holding = await accounts.fund_holding(ledger, user_id)
    stored = await ledger.transfer(
        Transfer(
            id=new_id(),
            debit_account_id=wallet.id,
            credit_account_id=holding.id,
            amount=amount,
            code="fund-subscribe",
            reference=f"alipay:fund:{user_id}",
        )
    )
    notify(session, user_id, "fund.subscribed", f"Moved {yuan(amount)} into the fund.")
    return stored.credit_balance


async def redeem(session: AsyncSession, user_id: int, amount: int) -> int:
    """Sell `amount` units back into the wallet; returns the new holding. InsufficientFunds (409)
    when the holding is smaller."""
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, user_id)
    holding = await accounts.fund_holding(ledger, user_id)
    stored = await ledger.transfer(
        Transfer(
            id=new_id(),
            debit_account_id=holding.id,
            credit_account_id=wallet.id,
            amount=amount,
            code="fund-redeem",
            reference=f"alipay:fund:{user_id}",
        )
    )
    notify(session, user_id, "fund.redeemed", f"Moved {yuan(amount)} from the fund to your wallet.")
    return stored.debit_balance


@dataclass(frozen=True)
class FundSummary:
    holding: int
    total_yield: int
    last_yield: int
    last_yield_day: date | None


async def summary(session: AsyncSession, user_id: int) -> FundSummary:
    holding = await accounts.existing(Ledger(session), accounts.user_owner(user_id), accounts.FUND)
    total = await session.scalar(
        select(func.coalesce(func.sum(FundAccrual.amount), 0)).where(FundAccrual.user_id == user_id)
    )
    last = (
        await session.execute(
            select(FundAccrual.day, FundAccrual.amount)
            .where(FundAccrual.user_id == user_id)
            .order_by(FundAccrual.day.desc())
            .limit(1)
        )
    ).first()
    return FundSummary(
        holding=holding.posted if holding else 0,
        total_yield=int(total or 0),
        last_yield=int(last[1]) if last else 0,
        last_yield_day=last[0] if last else None,
    )


@dataclass(frozen=True)
class AccrualRun:
    day: date
    holders: int
    """Holders with a positive holding at the end of the day."""
    posted: int
    """Accruals this run created (0 on a re-run)."""
    total: int
    """Yield of the day in fen, whoever posted it."""


def daily_yield(basis: int, annual_yield_bp: int) -> int:
    return basis * annual_yield_bp // (10_000 * DAYS_PER_YEAR)


async def accrue_yield(
    db: Database, day: date, annual_yield_bp: int, *, now: datetime | None = None
) -> AccrualRun:
    """Post the yield of `day` to every holder, exactly once however often it runs.

    Raises DayNotOver when `day` has not ended by `now` (default: the current time).
    """
    now = now or utcnow()
    end = datetime.combine(day + timedelta(days=1), time(0), UTC)
    if end > now:
        raise DayNotOver(f"{day} has not ended yet.")
    last_instant = end - timedelta(microseconds=1)
    holdings: list[tuple[int, str]] = []
    after = 0
    while True:
        async with db.session() as session:
            page = await Ledger(session).accounts_named(accounts.FUND, CURRENCY, after_id=after)
        if not page:
            break
        after = page[-1].id
        holdings += [
            (a.id, a.owner)
            for a in page
            if a.owner.startswith("alipay:user:") and a.created_at < end
        ]
    holders = posted = total = 0
    for start in range(0, len(holdings), BATCH):
        async with db.session(write=True) as session:
            ledger = Ledger(session)
            portfolio = await accounts.fund_portfolio(ledger)
            for account_id, owner in holdings[start : start + BATCH]:
                basis = await balance_at(session, account_id, last_instant)
                if basis <= 0:
                    continue
                holders += 1
                amount = daily_yield(basis, annual_yield_bp)
                if amount <= 0:
                    continue
                user_id = int(owner.rsplit(":", 1)[1])
                created = await session.scalar(
                    insert_unless_exists(session, FundAccrual)
                    .values(
                        id=new_id(),
                        user_id=user_id,
                        day=day,
                        basis=basis,
                        annual_yield_bp=annual_yield_bp,
                        amount=amount,
                        transfer_id=new_id(),
                        created_at=utcnow(),
                    )
                    .returning(FundAccrual.id)
                )
                accrual = await session.scalar(
                    select(FundAccrual).where(
                        FundAccrual.user_id == user_id, FundAccrual.day == day
                    )
                )
                assert accrual is not None
                await ledger.transfer(
                    Transfer(
                        id=accrual.transfer_id,
                        debit_account_id=portfolio.id,
                        credit_account_id=account_id,
                        amount=accrual.amount,
                        code="fund-yield",
                        reference=f"alipay:yield:{day.isoformat()}:{user_id}",
                    )
                )
                total += accrual.amount
                if created is not None:
                    posted += 1
                    notify(session, user_id, "fund.yield", f"Fund yield for {day}: {yuan(amount)}.")
    return AccrualRun(day=day, holders=holders, posted=posted, total=total)
