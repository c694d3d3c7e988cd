"""A simulated bank: the external institution Alipay tops up from and withdraws to.

A real bank cannot run here, so this stands in for one, with its own state and rules and none of
Alipay's code: customer accounts with balances (`alipay_bank_accounts`, a CHECK keeps them
non-negative), a log of every movement it booked (`alipay_bank_movements`), and a daily
settlement file listing those movements with the client's references, which Alipay's
reconciliation matches against its ledger.

Its rules, as a bank's API would enforce them:
- a debit needs an open account with the balance to cover it (one conditional UPDATE, so two
  concurrent debits cannot overdraw);
- every movement carries the client's reference, unique at the bank: repeating a call with the
  same reference and the same fields answers the first receipt and moves nothing (how clients
  retry safely after a timeout); the same reference with other fields is declined;
- each call commits in the bank's own transaction, never in the caller's: what the bank did
  stands even when the caller then fails, which is exactly what reconciliation exists to catch.

Knobs (`BankBehaviour`): latency per call, a share of calls that fail before doing anything
(unreachable), and a share whose reply is lost after the bank committed (the hard case).
Complexity: O(log n) per call (unique-index lookups); the settlement file is O(k) for the day's k
movements, read through the (value_date, id) index.
"""

from __future__ import annotations

import asyncio
import csv
import io
import random
import secrets
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from sqlalchemy import CheckConstraint, Date, ForeignKey, Index, String, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, Database, utcnow
from casebook.platform.ids import new_id
from casebook.systems.alipay.config import CURRENCY, MAX_AMOUNT
from casebook.systems.alipay.errors import BankDeclined, BankUnavailable

Direction = Literal["debit", "credit"]
SETTLEMENT_COLUMNS = (
    "bank_reference",
    "reference",
    "account_number",
    "direction",
    "amount",
    "currency",
    "booked_at",
)
"""The settlement file's header row, in order."""


class BankAccount(Base):
    """A customer's account at the bank."""

    __tablename__ = "alipay_bank_accounts"
    __table_args__ = (CheckConstraint("balance >= 0", name="balance_non_negative"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    account_number: Mapped[str] = mapped_column(String(20), unique=True)
    holder_name: Mapped[str] = mapped_column(String(100))
    balance: Mapped[int]
    """Fen."""
    closed: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BankMovement(Base):
    """One movement the bank booked on a customer account, under the client's reference."""

    __tablename__ = "alipay_bank_movements"
    __table_args__ = (Index("ix_alipay_bank_movements_value_date_id", "value_date", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    bank_reference: Mapped[str] = mapped_column(String(32), unique=True)
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("alipay_bank_accounts.id"))
    direction: Mapped[str] = mapped_column(String(6))
    amount: Mapped[int]
    value_date: Mapped[date] = mapped_column(Date)
    booked_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Receipt:
    """The bank's answer to a movement it booked."""

    bank_reference: str
    reference: str
    account_number: str
    direction: Direction
    amount: int
    booked_at: datetime


@dataclass
class BankBehaviour:
    latency_seconds: float = 0.0
    failure_rate: float = 0.0
    """Share of calls refused as unreachable before the bank does anything."""
    lost_reply_rate: float = 0.0
    """Share of calls whose reply is lost after the bank booked the movement."""


class SimulatedBank:
    """The bank's API. Every call runs in the bank's own transaction on `db`."""

    def __init__(self, db: Database, behaviour: BankBehaviour | None = None) -> None:
        self.db = db
        self.behaviour = behaviour or BankBehaviour()
        self._random = random.Random()

    async def open_account(self, holder_name: str, opening_balance: int) -> BankAccount:
        """Open an account funded with `opening_balance` fen; answers it with its number."""
        if not 0 <= opening_balance <= MAX_AMOUNT:
            raise BankDeclined("The opening balance is out of range.")
        account = BankAccount(
            account_number="62" + "".join(secrets.choice("0123456789") for _ in range(17)),
            holder_name=holder_name,
            balance=opening_balance,
        )
        async with self.db.session() as session:
            session.add(account)
        return account

    async def account(self, account_number: str) -> BankAccount | None:
        async with self.db.session() as session:
            return await session.scalar(
                select(BankAccount).where(BankAccount.account_number == account_number)
            )

    async def debit(self, account_number: str, amount: int, reference: str) -> Receipt:
        """Take `amount` fen from the account (a top-up pulling money to the client).

        Raises BankDeclined (no such account, closed, insufficient balance, reference reused for
        another movement) or BankUnavailable (simulated outage or lost reply).
        """
        return await self._move(account_number, "debit", amount, reference)

    async def credit(self, account_number: str, amount: int, reference: str) -> Receipt:
        """Pay `amount` fen into the account (a withdrawal from the client). Raises as `debit`."""
        return await self._move(account_number, "credit", amount, reference)

    async def movement(self, reference: str) -> Receipt | None:
        """The movement booked under the client's `reference`, if any (a status enquiry)."""
        async with self.db.session() as session:
            row = (
                await session.execute(
                    select(BankMovement, BankAccount.account_number)
                    .join(BankAccount, BankAccount.id == BankMovement.account_id)
                    .where(BankMovement.reference == reference)
                )
            ).first()
        return _receipt(row[0], row[1]) if row else None

    async def _move(
        self, account_number: str, direction: Direction, amount: int, reference: str
    ) -> Receipt:
        if not 0 < amount <= MAX_AMOUNT or not 0 < len(reference) <= 64:
            raise BankDeclined("Invalid amount or reference.")
        await self._travel()
        if self._random.random() < self.behaviour.failure_rate:
            raise BankUnavailable("The bank is unreachable.")
        receipt = await self._book(account_number, direction, amount, reference)
        await self._travel()
        if self._random.random() < self.behaviour.lost_reply_rate:
            raise BankUnavailable("The bank's reply was lost.")
        return receipt

    async def _travel(self) -> None:
        if self.behaviour.latency_seconds:
            await asyncio.sleep(self.behaviour.latency_seconds / 2)

    async def _book(
        self, account_number: str, direction: Direction, amount: int, reference: str
    ) -> Receipt:
        earlier = await self.movement(reference)
        if earlier is not None:
            return _same_or_declined(earlier, account_number, direction, amount)
        try:
            async with self.db.session(write=True) as session:
                change = -amount if direction == "debit" else amount
                guard = [
                    BankAccount.account_number == account_number,
                    BankAccount.closed.is_(False),
                ]
                if direction == "debit":
                    guard.append(BankAccount.balance >= amount)
                account_id = await session.scalar(
                    update(BankAccount)
                    .where(*guard)
                    .values(balance=BankAccount.balance + change)
                    .returning(BankAccount.id)
                )
                if account_id is None:
                    raise BankDeclined(
                        "Insufficient balance at the bank."
                        if direction == "debit"
                        else "The bank account does not exist or is closed."
                    )
                now = utcnow()
                movement_id = new_id()
                movement = BankMovement(
                    id=movement_id,
                    bank_reference=f"SB{movement_id}",
                    reference=reference,
                    account_id=account_id,
                    direction=direction,
                    amount=amount,
                    value_date=now.date(),
                    booked_at=now,
                )
                session.add(movement)
                await session.flush()
        except IntegrityError:
            # A concurrent call with the same reference booked first; answer as a repeat.
            earlier = await self.movement(reference)
            if earlier is None:
                raise
            return _same_or_declined(earlier, account_number, direction, amount)
        return _receipt(movement, account_number)

    async def settlement_file(self, day: date) -> str:
        """The day's settlement file: a CSV of every movement booked with value date `day`."""
        async with self.db.session() as session:
            rows = (
                await session.execute(
                    select(BankMovement, BankAccount.account_number)
                    .join(BankAccount, BankAccount.id == BankMovement.account_id)
                    .where(BankMovement.value_date == day)
                    .order_by(BankMovement.id)
                )
            ).all()
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(SETTLEMENT_COLUMNS)
        for movement, number in rows:
            writer.writerow(
                [
                    movement.bank_reference,
                    movement.reference,
                    number,
                    movement.direction,
                    movement.amount,
                    CURRENCY,
                    movement.booked_at.isoformat(),
                ]
            )
        return out.getvalue()


def _receipt(movement: BankMovement, account_number: str) -> Receipt:
    direction: Direction = "debit" if movement.direction == "debit" else "credit"
    return Receipt(
        bank_reference=movement.bank_reference,
        reference=movement.reference,
        account_number=account_number,
        direction=direction,
        amount=movement.amount,
        booked_at=movement.booked_at,
    )


def _same_or_declined(
    earlier: Receipt, account_number: str, direction: Direction, amount: int
) -> Receipt:
    if (earlier.account_number, earlier.direction, earlier.amount) != (
        account_number,
        direction,
        amount,
    ):
        raise BankDeclined("This reference was already used for a different movement.")
    return earlier
