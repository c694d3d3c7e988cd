"""Settlements and reconciliation: paying merchants out, and proving the books agree.

A settlement job (`settle`) runs per date range. For each merchant and currency it claims the
captured payments and the refunds of the range that no settlement has claimed yet, and moves
their net — payments less fees less refunds — from the merchant's `balance` to Razorpay's
`payouts` account (ASSET, allowed negative: the nodal bank account the payouts leave from).

Exactly once, under re-runs and concurrent runs: the claim is one conditional UPDATE per table
(`settlement_id IS NULL` → the new settlement's id), and the settlement row, its claims and its
ledger transfer (whose id is stored on the row) commit in one transaction. A second run of the
same range finds nothing unclaimed; two runs at once serialise on the rows (PostgreSQL re-checks
`settlement_id IS NULL` after waiting for the first; SQLite's write session holds the lock), so
the second pays nothing. A net of zero or less, or a balance that cannot cover the net (refunds
after the range already spent it), settles nothing: the items stay unclaimed for a later run.

The reconciliation report of a merchant and range sums payments, fees, refunds and settlements
from Razorpay's rows and the same figures from the ledger transfers those rows name, and says
whether they agree.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import structlog
from sqlalchemy import func, select, union, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import (
    Account,
    AccountKind,
    InsufficientFunds,
    Ledger,
    Transfer,
)
from casebook.platform.context import Platform
from casebook.platform.db import Database
from casebook.platform.ids import new_id
from casebook.systems.razorpay import merchants, publicids
from casebook.systems.razorpay.errors import BadPaymentRequest, EntityNotFound
from casebook.systems.razorpay.models import Payment, Refund, Settlement

log = structlog.get_logger("casebook.razorpay.settlements")

SETTLE_JOB = "razorpay.settle"
MAX_RANGE_DAYS = 366
CAPTURED = ("captured", "refunded")
SETTLEMENT_DELAY_DAYS = 2
"""Razorpay settles T+2: the daily run pays out what was captured up to two days ago."""


def day_range(start: date, end: date) -> tuple[datetime, datetime]:
    """The UTC instants [start 00:00, end+1 00:00) of the inclusive day range; raises
    BadPaymentRequest when end precedes start or the range is longer than MAX_RANGE_DAYS."""
    if end < start:
        raise BadPaymentRequest("The range ends before it starts.", "to")
    if (end - start).days >= MAX_RANGE_DAYS:
        raise BadPaymentRequest(f"A range covers at most {MAX_RANGE_DAYS} days.", "to")
    return (
        datetime.combine(start, time(), UTC),
        datetime.combine(end + timedelta(days=1), time(), UTC),
    )


async def payouts_account(ledger: Ledger, currency: str) -> Account:
    return await ledger.open_account(
        owner="razorpay",
        name="payouts",
        currency=currency,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


@dataclass(frozen=True)
class SettleResult:
    """What one run did: the settlements it made and the (merchant, currency) pairs it left
    unsettled, with why."""

    settled: list[int]
    skipped: list[tuple[int, str, str]]


class _NotSettled(Exception):
    """Rolls a (merchant, currency) settlement back; carries the reason."""


async def _candidates(
    session: AsyncSession, begin: datetime, end: datetime, merchant_id: int | None
) -> list[tuple[int, str]]:
    payments = select(Payment.merchant_id, Payment.currency).where(
        Payment.settlement_id.is_(None),
        Payment.status.in_(CAPTURED),
        Payment.captured_at >= begin,
        Payment.captured_at < end,
    )
    refunds = select(Refund.merchant_id, Refund.currency).where(
        Refund.settlement_id.is_(None), Refund.created_at >= begin, Refund.created_at < end
    )
    if merchant_id is not None:
        payments = payments.where(Payment.merchant_id == merchant_id)
        refunds = refunds.where(Refund.merchant_id == merchant_id)
    rows = (await session.execute(union(payments, refunds))).all()
    return sorted((row[0], row[1]) for row in rows)


async def _settle_one(
    session: AsyncSession, merchant_id: int, currency: str, begin: datetime, end: datetime
) -> Settlement:
    """Claim, sum, pay out and record one merchant's settlement; raises _NotSettled."""
    settlement_id = new_id()
    await session.execute(
        update(Payment)
        .where(
            Payment.merchant_id == merchant_id,
            Payment.currency == currency,
            Payment.settlement_id.is_(None),
            Payment.status.in_(CAPTURED),
            Payment.captured_at >= begin,
            Payment.captured_at < end,
        )
        .values(settlement_id=settlement_id)
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(Refund)
        .where(
            Refund.merchant_id == merchant_id,
            Refund.currency == currency,
            Refund.settlement_id.is_(None),
            Refund.created_at >= begin,
            Refund.created_at < end,
        )
        .values(settlement_id=settlement_id)
        .execution_options(synchronize_session=False)
    )
    paid = (
        await session.execute(
            select(
                func.count(),
                func.coalesce(func.sum(Payment.amount), 0),
                func.coalesce(func.sum(Payment.fee), 0),
                func.coalesce(func.sum(Payment.tax), 0),
            ).where(Payment.settlement_id == settlement_id)
        )
    ).one()
    refunded = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(Refund.amount), 0)).where(
                Refund.settlement_id == settlement_id
            )
        )
    ).one()
    if paid[0] == 0 and refunded[0] == 0:
        raise _NotSettled("nothing unsettled (another run settled it)")
    net = int(paid[1]) - int(paid[2]) - int(refunded[1])
    if net <= 0:
        raise _NotSettled(f"net {net} is not positive; carried to a later run")
    settlement = Settlement(
        id=settlement_id,
        merchant_id=merchant_id,
        currency=currency,
        period_start=begin,
        period_end=end,
        payments_amount=int(paid[1]),
        payments_count=int(paid[0]),
        refunds_amount=int(refunded[1]),
        refunds_count=int(refunded[0]),
        fees=int(paid[2]),
        tax=int(paid[3]),
        amount=net,
        status="processed",
        utr="CBK" + secrets.token_hex(8).upper(),
        transfer_id=new_id(),
    )
    session.add(settlement)
    await session.flush()
    ledger = Ledger(session)
    balance = await merchants.balance_account(ledger, merchant_id, currency)
    payouts = await payouts_account(ledger, currency)
    try:
        await ledger.transfer(
            Transfer(
                id=settlement.transfer_id,
                debit_account_id=balance.id,
                credit_account_id=payouts.id,
                amount=net,
                code="settlement",
                reference=publicids.encode("setl", settlement.id),
            )
        )
    except InsufficientFunds:
        raise _NotSettled("balance cannot cover the net; carried to a later run") from None
    return settlement


async def settle(
    db: Database, start: date, end: date, *, merchant_id: int | None = None
) -> SettleResult:
    """Settle every merchant's (or one merchant's) unsettled payments and refunds of the days
    start..end (inclusive, UTC). Each (merchant, currency) settles in its own transaction, so
    one that cannot settle does not hold the others back. Safe to re-run and to run
    concurrently (see the module docstring). O(k) rows touched for k unsettled items."""
    begin, finish = day_range(start, end)
    async with db.session() as session:
        candidates = await _candidates(session, begin, finish, merchant_id)
    settled: list[int] = []
    skipped: list[tuple[int, str, str]] = []
    for merchant, currency in candidates:
        try:
            async with db.session(write=True) as session:
                settlement = await _settle_one(session, merchant, currency, begin, finish)
                settled.append(settlement.id)
        except _NotSettled as reason:
            skipped.append((merchant, currency, str(reason)))
    log.info("settled", start=str(start), end=str(end), settled=len(settled), skipped=skipped)
    return SettleResult(settled, skipped)


async def _settle_job(platform: Platform, payload: dict[str, Any]) -> None:
    if "start" in payload:
        await settle(
            platform.db, date.fromisoformat(payload["start"]), date.fromisoformat(payload["end"])
        )
        return
    # The daily run: everything up to the day before yesterday (Razorpay's T+2), over the
    # longest range, so days a stopped server missed are caught up (claims make it idempotent).
    end = datetime.now(UTC).date() - timedelta(days=SETTLEMENT_DELAY_DAYS)
    await settle(platform.db, end - timedelta(days=MAX_RANGE_DAYS - 1), end)
    await schedule_daily(platform)


async def schedule_daily(platform: Platform, now: datetime | None = None) -> str:
    """Enqueue the next daily run at the next UTC midnight, keyed by its date, so the processes
    of a cluster share one run per day."""
    now = now or datetime.now(UTC)
    due = datetime.combine(now.date() + timedelta(days=1), time(), UTC)
    return await platform.jobs.enqueue(
        SETTLE_JOB, {}, key=due.date().isoformat(), delay=(due - now).total_seconds()
    )


def install(platform: Platform) -> None:
    """Register the settlement job: payload `{"start": "YYYY-MM-DD", "end": …}` settles that
    range; an empty payload is the daily T+2 run, which schedules the next one."""
    platform.jobs.register(SETTLE_JOB, _settle_job, retries=5)


async def owned_settlement(
    session: AsyncSession, merchant_id: int, settlement_id: int
) -> Settlement:
    settlement = await session.scalar(
        select(Settlement).where(
            Settlement.id == settlement_id, Settlement.merchant_id == merchant_id
        )
    )
    if settlement is None:
        raise EntityNotFound()
    return settlement


async def list_settlements(
    session: AsyncSession, merchant_id: int, count: int, skip: int
) -> Sequence[Settlement]:
    return (
        await session.scalars(
            select(Settlement)
            .where(Settlement.merchant_id == merchant_id)
            .order_by(Settlement.id.desc())
            .limit(count)
            .offset(skip)
        )
    ).all()


# Reconciliation


async def _sum_transfers(ledger: Ledger, ids: list[int]) -> tuple[int, int]:
    """(sum of the amounts of the ledger transfers `ids`, how many of them are missing)."""
    found = await ledger.transfers(ids) if ids else {}
    return sum(t.amount for t in found.values()), len(set(ids) - set(found))


async def reconciliation(
    session: AsyncSession, merchant_id: int, start: date, end: date
) -> dict[str, Any]:
    """The merchant's reconciliation report for the days start..end (UTC), per currency.

    From Razorpay's rows: payments captured in the range (count, amount, fees, tax), refunds
    made in it, settlements made in it, and the part of the range's net not yet settled. From
    the ledger: the same sums over the transfers those rows name (capture, fee, refund,
    settlement), and `ledger_agrees` when every figure matches and no transfer is missing.
    Raises BadPaymentRequest for a bad range. O(k) for k rows in the range.
    """
    begin, finish = day_range(start, end)
    payments = (
        await session.scalars(
            select(Payment).where(
                Payment.merchant_id == merchant_id,
                Payment.status.in_(CAPTURED),
                Payment.captured_at >= begin,
                Payment.captured_at < finish,
            )
        )
    ).all()
    refunds = (
        await session.scalars(
            select(Refund).where(
                Refund.merchant_id == merchant_id,
                Refund.created_at >= begin,
                Refund.created_at < finish,
            )
        )
    ).all()
    settlements = (
        await session.scalars(
            select(Settlement).where(
                Settlement.merchant_id == merchant_id,
                Settlement.created_at >= begin,
                Settlement.created_at < finish,
            )
        )
    ).all()
    currencies = sorted(
        {p.currency for p in payments}
        | {r.currency for r in refunds}
        | {s.currency for s in settlements}
    )
    ledger = Ledger(session)
    report: list[dict[str, Any]] = []
    for currency in currencies:
        pays = [p for p in payments if p.currency == currency]
        refs = [r for r in refunds if r.currency == currency]
        sets = [s for s in settlements if s.currency == currency]
        rows = {
            "payments": sum(p.amount for p in pays),
            "fees": sum(p.fee for p in pays),
            "refunds": sum(r.amount for r in refs),
            "settlements": sum(s.amount for s in sets),
        }
        captured, missing_captures = await _sum_transfers(
            ledger, [p.capture_transfer_id for p in pays]
        )
        fees, missing_fees = await _sum_transfers(
            ledger, [p.fee_transfer_id for p in pays if p.fee]
        )
        refunded, missing_refunds = await _sum_transfers(ledger, [r.transfer_id for r in refs])
        paid_out, missing_settlements = await _sum_transfers(ledger, [s.transfer_id for s in sets])
        in_ledger = {
            "payments": captured,
            "fees": fees,
            "refunds": refunded,
            "settlements": paid_out,
        }
        missing = missing_captures + missing_fees + missing_refunds + missing_settlements
        unsettled = sum(p.amount - p.fee for p in pays if p.settlement_id is None) - sum(
            r.amount for r in refs if r.settlement_id is None
        )
        report.append(
            {
                "currency": currency,
                "payments": {"count": len(pays), "amount": rows["payments"]},
                "fees": rows["fees"],
                "tax": sum(p.tax for p in pays),
                "refunds": {"count": len(refs), "amount": rows["refunds"]},
                "net": rows["payments"] - rows["fees"] - rows["refunds"],
                "settlements": {"count": len(sets), "amount": rows["settlements"]},
                "unsettled": unsettled,
                "ledger": in_ledger,
                "ledger_missing_transfers": missing,
                "ledger_agrees": missing == 0 and in_ledger == rows,
            }
        )
    return {
        "entity": "reconciliation",
        "from": start.isoformat(),
        "to": end.isoformat(),
        "currencies": report,
    }


async def recon_items(
    session: AsyncSession, merchant_id: int, start: date, end: date, count: int, skip: int
) -> list[dict[str, Any]]:
    """Razorpay's combined settlement recon: one row per payment and refund of the range that
    a settlement claimed, with its amount, fee, tax and settlement id, oldest first."""
    begin, finish = day_range(start, end)
    payments = (
        await session.scalars(
            select(Payment)
            .where(
                Payment.merchant_id == merchant_id,
                Payment.settlement_id.is_not(None),
                Payment.captured_at >= begin,
                Payment.captured_at < finish,
            )
            .order_by(Payment.id)
        )
    ).all()
    refunds = (
        await session.scalars(
            select(Refund)
            .where(
                Refund.merchant_id == merchant_id,
                Refund.settlement_id.is_not(None),
                Refund.created_at >= begin,
                Refund.created_at < finish,
            )
            .order_by(Refund.id)
        )
    ).all()
    items: list[tuple[datetime, dict[str, Any]]] = []
    for p in payments:
        assert p.captured_at is not None and p.settlement_id is not None
        items.append(
            (
                p.captured_at,
                {
                    "entity_id": publicids.encode("pay", p.id),
                    "type": "payment",
                    "debit": 0,
                    "credit": p.amount - p.fee,
                    "amount": p.amount,
                    "currency": p.currency,
                    "fee": p.fee,
                    "tax": p.tax,
                    "settled": True,
                    "settlement_id": publicids.encode("setl", p.settlement_id),
                    "created_at": int(p.captured_at.timestamp()),
                },
            )
        )
    for r in refunds:
        assert r.settlement_id is not None
        items.append(
            (
                r.created_at,
                {
                    "entity_id": publicids.encode("rfnd", r.id),
                    "type": "refund",
                    "debit": r.amount,
                    "credit": 0,
                    "amount": r.amount,
                    "currency": r.currency,
                    "fee": 0,
                    "tax": 0,
                    "settled": True,
                    "settlement_id": publicids.encode("setl", r.settlement_id),
                    "created_at": int(r.created_at.timestamp()),
                },
            )
        )
    items.sort(key=lambda item: item[0])
    return [row for _, row in items[skip : skip + count]]
