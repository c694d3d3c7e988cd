"""`casebook ledger verify`: recompute the ledger from its transfers and report every break.

Checks, each one aggregate query over the tables (O(n) for n transfers, O(a) for a accounts):

1. per currency, the debits equal the credits, posted and pending: the balances sum to zero;
2. no account flagged non-negative is below zero (net of outgoing holds);
3. every account's four counters equal the sums of its transfers: posted from single transfers
   and posts, pending from holds still pending;
4. every post, void and expiry resolves a hold whose status says so, and each hold is resolved at
   most once; a post never exceeds its hold; every transfer names accounts that exist (the table
   has no foreign keys, see models.py);
5. each account's running balance on its newest transfer equals its posted counter.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger.ledger import ACCOUNTS, TRANSFERS


@dataclass
class Report:
    accounts: int = 0
    transfers: int = 0
    breaks: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.breaks


Progress = Callable[[str], None]


async def verify(session: AsyncSession, progress: Progress = lambda _: None) -> Report:
    """Run every check; the report lists each break found (an empty list means the ledger holds)."""
    report = Report()
    report.accounts = int(await session.scalar(select(func.count()).select_from(ACCOUNTS)) or 0)
    report.transfers = int(await session.scalar(select(func.count()).select_from(TRANSFERS)) or 0)

    progress("balances sum to zero per currency")
    totals = await session.execute(
        select(
            ACCOUNTS.c.currency,
            func.sum(ACCOUNTS.c.debits_posted),
            func.sum(ACCOUNTS.c.credits_posted),
            func.sum(ACCOUNTS.c.debits_pending),
            func.sum(ACCOUNTS.c.credits_pending),
        ).group_by(ACCOUNTS.c.currency)
    )
    for currency, dpo, cpo, dp, cp in totals:
        if dpo != cpo:
            report.breaks.append(f"{currency}: posted debits {dpo} != posted credits {cpo}")
        if dp != cp:
            report.breaks.append(f"{currency}: pending debits {dp} != pending credits {cp}")

    progress("non-negative accounts")
    negative = await session.execute(
        select(ACCOUNTS.c.id, ACCOUNTS.c.owner, ACCOUNTS.c.name).where(
            ~ACCOUNTS.c.allow_negative,
            or_(
                and_(
                    ACCOUNTS.c.credit_normal,
                    ACCOUNTS.c.debits_posted + ACCOUNTS.c.debits_pending
                    > ACCOUNTS.c.credits_posted,
                ),
                and_(
                    ~ACCOUNTS.c.credit_normal,
                    ACCOUNTS.c.credits_posted + ACCOUNTS.c.credits_pending
                    > ACCOUNTS.c.debits_posted,
                ),
            ),
        )
    )
    for account_id, owner, name in negative:
        report.breaks.append(f"account {account_id} ({owner}/{name}) is below zero")

    progress("counters equal the sums of transfers")
    posted = TRANSFERS.c.kind.in_(("single", "post"))
    held = and_(TRANSFERS.c.kind == "pending", TRANSFERS.c.pending_status == "pending")
    zero = literal(0)
    legs = union_all(
        select(
            TRANSFERS.c.debit_account_id.label("account"),
            case((posted, TRANSFERS.c.amount), else_=zero).label("dpo"),
            case((held, TRANSFERS.c.amount), else_=zero).label("dp"),
            zero.label("cpo"),
            zero.label("cp"),
        ),
        select(
            TRANSFERS.c.credit_account_id.label("account"),
            zero.label("dpo"),
            zero.label("dp"),
            case((posted, TRANSFERS.c.amount), else_=zero).label("cpo"),
            case((held, TRANSFERS.c.amount), else_=zero).label("cp"),
        ),
    ).subquery()
    sums = (
        select(
            legs.c.account,
            func.sum(legs.c.dpo).label("dpo"),
            func.sum(legs.c.dp).label("dp"),
            func.sum(legs.c.cpo).label("cpo"),
            func.sum(legs.c.cp).label("cp"),
        )
        .group_by(legs.c.account)
        .subquery()
    )
    mismatched = await session.execute(
        select(ACCOUNTS.c.id, sums.c.dpo, sums.c.dp, sums.c.cpo, sums.c.cp, ACCOUNTS)
        .select_from(ACCOUNTS.outerjoin(sums, sums.c.account == ACCOUNTS.c.id))
        .where(
            or_(
                func.coalesce(sums.c.dpo, 0) != ACCOUNTS.c.debits_posted,
                func.coalesce(sums.c.dp, 0) != ACCOUNTS.c.debits_pending,
                func.coalesce(sums.c.cpo, 0) != ACCOUNTS.c.credits_posted,
                func.coalesce(sums.c.cp, 0) != ACCOUNTS.c.credits_pending,
            )
        )
    )
    for row in mismatched:
        report.breaks.append(
            f"account {row[0]}: counters (debits {row.debits_posted}+{row.debits_pending} pending,"
            f" credits {row.credits_posted}+{row.credits_pending} pending) != transfers"
            f" (debits {row[1] or 0}+{row[2] or 0}, credits {row[3] or 0}+{row[4] or 0})"
        )

    progress("every transfer names existing accounts")
    for column in (TRANSFERS.c.debit_account_id, TRANSFERS.c.credit_account_id):
        orphans = await session.execute(
            select(TRANSFERS.c.id, column)
            .select_from(TRANSFERS.outerjoin(ACCOUNTS, ACCOUNTS.c.id == column))
            .where(ACCOUNTS.c.id.is_(None))
        )
        for transfer_id, account_id in orphans:
            report.breaks.append(f"transfer {transfer_id} names missing account {account_id}")

    progress("holds and their resolutions")
    hold = TRANSFERS.alias("hold")
    resolution = TRANSFERS.alias("resolution")
    expected = case(
        (resolution.c.kind == "post", "posted"),
        (resolution.c.kind == "void", "voided"),
        else_="expired",
    )
    wrong = await session.execute(
        select(resolution.c.id, resolution.c.kind, hold.c.id, hold.c.kind, hold.c.pending_status)
        .select_from(resolution.outerjoin(hold, hold.c.id == resolution.c.pending_id))
        .where(
            resolution.c.kind.in_(("post", "void", "expire")),
            or_(
                hold.c.id.is_(None),
                hold.c.kind != "pending",
                hold.c.pending_status != expected,
                resolution.c.amount > hold.c.amount,
                resolution.c.debit_account_id != hold.c.debit_account_id,
                resolution.c.credit_account_id != hold.c.credit_account_id,
            ),
        )
    )
    for res_id, res_kind, hold_id, hold_kind, status in wrong:
        report.breaks.append(
            f"{res_kind} {res_id} does not match its hold {hold_id} ({hold_kind}, {status})"
        )
    twice = await session.execute(
        select(TRANSFERS.c.pending_id, func.count())
        .where(TRANSFERS.c.pending_id.is_not(None))
        .group_by(TRANSFERS.c.pending_id)
        .having(func.count() > 1)
    )
    for pending_id, count in twice:
        report.breaks.append(f"hold {pending_id} was resolved {count} times")
    unresolved = await session.execute(
        select(hold.c.id, hold.c.pending_status).where(
            hold.c.kind == "pending",
            hold.c.pending_status != "pending",
            ~select(resolution.c.id).where(resolution.c.pending_id == hold.c.id).exists(),
        )
    )
    for hold_id, status in unresolved:
        report.breaks.append(f"hold {hold_id} is {status} but no transfer resolved it")

    progress("running balances")
    last = union_all(
        select(
            TRANSFERS.c.debit_account_id.label("account"),
            TRANSFERS.c.seq,
            TRANSFERS.c.debit_balance.label("balance"),
        ),
        select(
            TRANSFERS.c.credit_account_id.label("account"),
            TRANSFERS.c.seq,
            TRANSFERS.c.credit_balance.label("balance"),
        ),
    ).subquery()
    newest = (
        select(last.c.account, func.max(last.c.seq).label("seq"))
        .group_by(last.c.account)
        .subquery()
    )
    posted_balance = case(
        (ACCOUNTS.c.credit_normal, ACCOUNTS.c.credits_posted - ACCOUNTS.c.debits_posted),
        else_=ACCOUNTS.c.debits_posted - ACCOUNTS.c.credits_posted,
    )
    drifted = await session.execute(
        select(ACCOUNTS.c.id, last.c.balance, posted_balance)
        .select_from(
            newest.join(
                last, and_(last.c.account == newest.c.account, last.c.seq == newest.c.seq)
            ).join(ACCOUNTS, ACCOUNTS.c.id == newest.c.account)
        )
        .where(last.c.balance != posted_balance)
    )
    for account_id, running, balance in drifted:
        report.breaks.append(f"account {account_id}: running balance {running} != posted {balance}")
    return report
