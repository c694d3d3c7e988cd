"""Daily reconciliation: the bank's settlement file against our ledger.

Both sides list the day's bank movements under our references: the bank's file (one line per
movement it booked) and the ledger (every posted transfer on `bank-settlement`: a top-up debits
it, a posted withdrawal credits it; holds and their voids are not movements). Matching is by
reference, then amount and direction. Everything that does not match is a break:

- `missing-in-ledger`: the bank moved money we never booked (e.g. its reply was lost and nobody
  settled the order yet);
- `missing-in-bank`: we booked money the bank does not list;
- `amount-mismatch`, `direction-mismatch`: both have it, differently;
- `duplicate-in-bank`: the file lists one reference twice;
- `unreadable-line`: a line that is not a valid movement.

A day is a UTC calendar day on both sides; a movement booked by the bank just before midnight
and by us just after shows as a break on both days (a timing break, which clears when the two
days are read together). O(b + l) for b file lines and l ledger transfers of the day.
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.db import Database, utcnow
from casebook.systems.alipay import accounts
from casebook.systems.alipay.bank import SETTLEMENT_COLUMNS
from casebook.systems.alipay.config import CURRENCY
from casebook.systems.alipay.models import Reconciliation

MOVEMENT_KINDS = ("single", "post")


@dataclass(frozen=True)
class Movement:
    reference: str
    direction: str
    """debit (money left the customer's bank account: a top-up) or credit (a withdrawal)."""
    amount: int


@dataclass(frozen=True)
class Break:
    kind: str
    reference: str
    bank_amount: int | None = None
    ledger_amount: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class Report:
    day: date
    matched: int
    breaks: list[Break]

    @property
    def clean(self) -> bool:
        return not self.breaks


def parse_settlement(text: str) -> tuple[list[Movement], list[Break]]:
    """The file's movements, and a break for each line that is not one.

    Raises ValueError when the header is not the settlement file's.
    """
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None or tuple(header) != SETTLEMENT_COLUMNS:
        raise ValueError("not a settlement file: unexpected header")
    movements: list[Movement] = []
    unreadable: list[Break] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        try:
            record = dict(zip(SETTLEMENT_COLUMNS, row, strict=True))
            amount = int(record["amount"])
            if record["direction"] not in ("debit", "credit") or amount <= 0:
                raise ValueError
            if record["currency"] != CURRENCY or not record["reference"]:
                raise ValueError
        except ValueError:
            unreadable.append(
                Break("unreadable-line", row[1] if len(row) > 1 else "", detail=f"line {number}")
            )
            continue
        movements.append(Movement(record["reference"], record["direction"], amount))
    return movements, unreadable


async def ledger_movements(session: AsyncSession, day: date) -> dict[str, Movement]:
    """The day's posted transfers on `bank-settlement`, by reference."""
    settlement = await accounts.existing(
        Ledger(session), accounts.SYSTEM_OWNER, accounts.BANK_SETTLEMENT
    )
    if settlement is None:
        return {}
    start = datetime.combine(day, time(0), UTC)
    transfers = await Ledger(session).transfers_between(
        settlement.id, start, start + timedelta(days=1)
    )
    found: dict[str, Movement] = {}
    for transfer in transfers:
        if transfer.kind.value not in MOVEMENT_KINDS:
            continue
        # Our asset account debited = money arrived from the customer's bank account (the bank
        # debited them); credited = we paid out (the bank credited them).
        direction = "debit" if transfer.debit_account_id == settlement.id else "credit"
        found[transfer.reference] = Movement(transfer.reference, direction, transfer.amount)
    return found


def match(day: date, bank: list[Movement], ledger: dict[str, Movement]) -> Report:
    """Compare the two sides (pure; the rules in the module docstring)."""
    breaks: list[Break] = []
    matched = 0
    seen: set[str] = set()
    for line in bank:
        if line.reference in seen:
            breaks.append(Break("duplicate-in-bank", line.reference, bank_amount=line.amount))
            continue
        seen.add(line.reference)
        ours = ledger.get(line.reference)
        if ours is None:
            breaks.append(Break("missing-in-ledger", line.reference, bank_amount=line.amount))
        elif ours.direction != line.direction:
            breaks.append(
                Break(
                    "direction-mismatch",
                    line.reference,
                    line.amount,
                    ours.amount,
                    f"bank {line.direction}, ledger {ours.direction}",
                )
            )
        elif ours.amount != line.amount:
            breaks.append(Break("amount-mismatch", line.reference, line.amount, ours.amount))
        else:
            matched += 1
    for reference, ours in ledger.items():
        if reference not in seen:
            breaks.append(Break("missing-in-bank", reference, ledger_amount=ours.amount))
    return Report(day=day, matched=matched, breaks=breaks)


async def reconcile(db: Database, day: date, settlement_file: str) -> Report:
    """Match `settlement_file` (the bank's CSV for `day`) to the ledger and store the report
    (one per day; a re-run replaces it). Raises ValueError for a file without the header."""
    movements, unreadable = parse_settlement(settlement_file)
    async with db.session() as session:
        ours = await ledger_movements(session, day)
    report = match(day, movements, ours)
    report = Report(day=day, matched=report.matched, breaks=unreadable + report.breaks)
    digest = hashlib.sha256(settlement_file.encode()).hexdigest()
    stored: list[dict[str, Any]] = [asdict(b) for b in report.breaks]
    async with db.session(write=True) as session:
        row = await session.scalar(
            select(Reconciliation).where(Reconciliation.day == day).with_for_update()
        )
        if row is None:
            session.add(
                Reconciliation(day=day, file_sha256=digest, matched=report.matched, breaks=stored)
            )
        else:
            row.file_sha256 = digest
            row.matched = report.matched
            row.breaks = stored
            row.ran_at = utcnow()
    return report
