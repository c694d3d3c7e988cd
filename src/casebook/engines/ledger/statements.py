"""Account statements: an account's transfers newest first, paged, and its balance at a time.

Every transfer row carries both accounts' posted balances after it (`debit_balance`,
`credit_balance`), written under the account lock, so a statement shows a running balance without
summing history, and the balance at time t is the balance after the account's last transfer at or
before t. Both read one index, (account, seq), per side.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger.domain import StoredTransfer, TransferKind
from casebook.engines.ledger.ledger import TRANSFERS, Ledger, stored_transfer
from casebook.platform.pagination import decode_cursor, encode_cursor

MAX_STATEMENT_PAGE = 200


@dataclass(frozen=True, slots=True)
class StatementLine:
    """One transfer as seen from one account.

    `amount` is signed on the account's normal side: positive when it grows the balance (money
    into a wallet), negative when it shrinks it; 0 for a hold or a release, which move no posted
    money (`held` then says how much was reserved (+) or released (-)). `balance` is the posted
    balance after the transfer.
    """

    transfer: StoredTransfer
    counterparty_account_id: int
    amount: int
    held: int
    balance: int


def _side(account_id: int, column: Any, before: int | None, limit: int) -> Select[Any]:
    query = select(TRANSFERS).where(column == account_id)
    if before is not None:
        query = query.where(TRANSFERS.c.seq < before)
    return query.order_by(TRANSFERS.c.seq.desc()).limit(limit)


async def statement(
    session: AsyncSession, account_id: int, *, cursor: str | None = None, limit: int = 50
) -> tuple[list[StatementLine], str | None]:
    """One page of the account's transfers, newest first, and the cursor of the next page.

    Raises AccountNotFound and InvalidCursor. O(log n + limit) for n transfers.
    """
    limit = max(1, min(limit, MAX_STATEMENT_PAGE))
    account = await Ledger(session).account(account_id)
    before = None
    if cursor:
        (value,) = decode_cursor(cursor, [int])
        before = value if isinstance(value, int) else None
    debit_side = _side(account_id, TRANSFERS.c.debit_account_id, before, limit + 1).subquery()
    credit_side = _side(account_id, TRANSFERS.c.credit_account_id, before, limit + 1).subquery()
    both = union_all(select(debit_side), select(credit_side)).subquery()
    rows = (await session.execute(select(both).order_by(both.c.seq.desc()).limit(limit + 1))).all()
    sign = 1 if account.credit_normal else -1
    transfers = [stored_transfer(row) for row in rows[:limit]]
    holds = await _pending_amounts(session, {t.pending_id for t in transfers if t.pending_id})
    lines = []
    for transfer in transfers:
        is_debit = transfer.debit_account_id == account_id
        direction = -1 if is_debit else 1
        moved = 0
        held = 0
        if transfer.kind in (TransferKind.SINGLE, TransferKind.POST):
            moved = direction * sign * transfer.amount
        if transfer.kind is TransferKind.PENDING:
            held = transfer.amount
        elif transfer.kind is not TransferKind.SINGLE:
            held = -holds[transfer.pending_id or 0]
        lines.append(
            StatementLine(
                transfer=transfer,
                counterparty_account_id=transfer.credit_account_id
                if is_debit
                else transfer.debit_account_id,
                amount=moved,
                held=held,
                balance=transfer.debit_balance if is_debit else transfer.credit_balance,
            )
        )
    next_cursor = encode_cursor([lines[-1].transfer.seq]) if len(rows) > limit else None
    return lines, next_cursor


async def _pending_amounts(session: AsyncSession, pending_ids: set[int]) -> dict[int, int]:
    """The amounts of the holds that a page's posts and voids released (one query)."""
    if not pending_ids:
        return {}
    rows = await session.execute(
        select(TRANSFERS.c.id, TRANSFERS.c.amount).where(TRANSFERS.c.id.in_(sorted(pending_ids)))
    )
    return {row.id: row.amount for row in rows}


async def balance_at(session: AsyncSession, account_id: int, at: datetime) -> int:
    """The account's posted balance at `at` (0 before its first transfer). Raises AccountNotFound.

    O(log n + k), k the account's transfers in the same instant or later than `at` that the
    index scan passes (the seq index is walked backwards from the newest until `created_at <= at`).
    """
    await Ledger(session).account(account_id)
    found: list[tuple[int, int]] = []
    for column, balance in (
        (TRANSFERS.c.debit_account_id, TRANSFERS.c.debit_balance),
        (TRANSFERS.c.credit_account_id, TRANSFERS.c.credit_balance),
    ):
        row = (
            await session.execute(
                select(TRANSFERS.c.seq, balance)
                .where(column == account_id, TRANSFERS.c.created_at <= at)
                .order_by(TRANSFERS.c.seq.desc())
                .limit(1)
            )
        ).first()
        if row is not None:
            found.append((row[0], row[1]))
    return max(found)[1] if found else 0
