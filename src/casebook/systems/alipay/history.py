"""Transaction history: the user's wallet statement from the ledger, told in Alipay's words.

Every line is a ledger transfer on the wallet, so history and balance can never disagree: the
kind comes from the transfer's code, the counterparty from the other account's owner (a user's
username, a merchant's name, the bank, the fund), the status from the transfer (a hold is
`pending` until captured, then `completed`, or `released` when voided or expired).
O(log n + limit) per page (the ledger's statement index).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Account, Ledger, PendingStatus, TransferKind
from casebook.engines.ledger.statements import statement
from casebook.systems.alipay import accounts
from casebook.systems.alipay.models import Merchant, Profile


@dataclass(frozen=True)
class HistoryLine:
    transfer_id: int
    kind: str
    status: str
    amount: int
    """Signed fen: + into the wallet, - out of it; 0 for a hold or its release."""
    held: int
    counterparty: str
    balance: int
    created_at: datetime


def _status(kind: TransferKind, pending_status: PendingStatus | None) -> str:
    if kind is TransferKind.PENDING:
        if pending_status is PendingStatus.PENDING:
            return "pending"
        return "completed" if pending_status is PendingStatus.POSTED else "released"
    if kind in (TransferKind.VOID, TransferKind.EXPIRE):
        return "released"
    return "completed"


async def _names(session: AsyncSession, others: dict[int, Account], user_id: int) -> dict[int, str]:
    user_ids: set[int] = set()
    merchant_ids: set[int] = set()
    for account in others.values():
        kind, _, number = account.owner.rpartition(":")
        if kind == "alipay:user" and int(number) != user_id:
            user_ids.add(int(number))
        elif kind == "alipay:merchant":
            merchant_ids.add(int(number))
    usernames: dict[int, str] = {}
    if user_ids:
        rows = await session.execute(
            select(Profile.user_id, Profile.username).where(Profile.user_id.in_(user_ids))
        )
        usernames = {int(uid): name for uid, name in rows.all()}
    merchants: dict[int, str] = {}
    if merchant_ids:
        rows = await session.execute(
            select(Merchant.id, Merchant.name).where(Merchant.id.in_(merchant_ids))
        )
        merchants = {int(mid): name for mid, name in rows.all()}
    names: dict[int, str] = {}
    for account_id, account in others.items():
        kind, _, number = account.owner.rpartition(":")
        if account.owner == accounts.SYSTEM_OWNER:
            names[account_id] = {
                accounts.BANK_SETTLEMENT: "Bank",
                accounts.FUND_PORTFOLIO: "Fund yield",
            }.get(account.name, account.name)
        elif kind == "alipay:user" and int(number) == user_id:
            names[account_id] = "Money-market fund" if account.name == accounts.FUND else "Wallet"
        elif kind == "alipay:user":
            names[account_id] = usernames.get(int(number), f"user {number}")
        elif kind == "alipay:merchant":
            names[account_id] = merchants.get(int(number), f"merchant {number}")
        else:
            names[account_id] = account.owner
    return names


async def history(
    session: AsyncSession, user_id: int, *, cursor: str | None, limit: int
) -> tuple[list[HistoryLine], str | None]:
    """One page of the user's wallet history, newest first. Raises InvalidCursor (422)."""
    ledger = Ledger(session)
    wallet = await accounts.existing(ledger, accounts.user_owner(user_id), accounts.WALLET)
    if wallet is None:
        return [], None
    lines, next_cursor = await statement(session, wallet.id, cursor=cursor, limit=limit)
    others = await ledger.accounts({line.counterparty_account_id for line in lines})
    names = await _names(session, others, user_id)
    return [
        HistoryLine(
            transfer_id=line.transfer.id,
            kind=line.transfer.code or line.transfer.kind.value,
            status=_status(line.transfer.kind, line.transfer.pending_status),
            amount=line.amount,
            held=line.held,
            counterparty=names.get(line.counterparty_account_id, ""),
            balance=line.balance,
            created_at=line.transfer.created_at,
        )
        for line in lines
    ], next_cursor
