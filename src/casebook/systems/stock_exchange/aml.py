"""Anti-money-laundering: rules over deposits and withdrawals, and the review queue they feed.

The rules (`evaluate`) are a pure function of one new movement and the account's recent movements,
so they are tested without a database:

- `large-transfer`: one movement of at least the asset's reporting threshold (by default
  USD 10,000.00, the US currency-transaction-report line; INR 10,00,000.00, India's cash line).
- `structuring`: the new movement and earlier ones of the same account, asset and direction within
  `structuring_window`, each "just under" the threshold (at least `structuring_floor` of it and
  below it), number `structuring_count` or more — the classic way to dodge the report.

Assets without a threshold (securities moved in from a depository) are not screened: AML here is
about cash. A flag does not stop the movement; it waits in the review queue (`review_queue`) until
a compliance officer `review`s it: `clear` closes it, `freeze` also freezes the account (no
trading — `kyc.can_trade` — and no withdrawals). Lifting a freeze is not built
(docs/systems/stock-exchange.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.errors import InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange.errors import AlreadyDecided
from casebook.systems.stock_exchange.models import AccountFreeze, AmlFlag, TransferRecord

Direction = Literal["deposit", "withdrawal"]
Decision = Literal["clear", "freeze"]

DEFAULT_THRESHOLDS = {"USD": 1_000_000, "INR": 100_000_000}
"""Reporting thresholds in minor units per cash asset."""


@dataclass(frozen=True)
class Movement:
    """A deposit or withdrawal as the rules see it."""

    account_id: int
    direction: Direction
    asset: str
    amount: int
    at: datetime


@dataclass(frozen=True)
class AmlRules:
    thresholds: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_THRESHOLDS))
    structuring_floor: float = 0.8
    """A movement is "just under" from this fraction of the threshold up to the threshold."""
    structuring_count: int = 3
    structuring_window: timedelta = timedelta(hours=24)


@dataclass(frozen=True)
class Finding:
    rule: str
    detail: str


def _just_under(rules: AmlRules, threshold: int, amount: int) -> bool:
    return threshold * rules.structuring_floor <= amount < threshold


def evaluate(rules: AmlRules, movement: Movement, recent: Sequence[Movement]) -> list[Finding]:
    """The AML findings for `movement` given the account's earlier movements `recent` (any order;
    movements of other accounts, assets, directions or outside the window are ignored).

    O(len(recent))."""
    threshold = rules.thresholds.get(movement.asset)
    if threshold is None:
        return []
    findings = []
    if movement.amount >= threshold:
        findings.append(
            Finding(
                "large-transfer",
                f"{movement.direction} of {movement.amount} {movement.asset} minor units is at "
                f"or above the reporting threshold of {threshold}",
            )
        )
    elif _just_under(rules, threshold, movement.amount):
        since = movement.at - rules.structuring_window
        earlier = [
            m
            for m in recent
            if m.account_id == movement.account_id
            and m.asset == movement.asset
            and m.direction == movement.direction
            and since <= m.at <= movement.at
            and _just_under(rules, threshold, m.amount)
        ]
        count = len(earlier) + 1
        if count >= rules.structuring_count:
            total = movement.amount + sum(m.amount for m in earlier)
            findings.append(
                Finding(
                    "structuring",
                    f"{count} {movement.direction}s just under the threshold of {threshold} "
                    f"{movement.asset} within {rules.structuring_window}, {total} in all",
                )
            )
    return findings


async def record_movement(
    session: AsyncSession,
    rules: AmlRules,
    transfer_id: int,
    account_id: int,
    direction: Direction,
    asset: str,
    amount: int,
) -> list[AmlFlag]:
    """Record a deposit/withdrawal (the caller moves the money in the same transaction, under the
    same `transfer_id`) and flag it for review when a rule fires; returns the new flags.

    The caller holds the account's write lock (the endpoint locks the account row), so two
    concurrent movements of one account cannot both miss each other for structuring."""
    now = utcnow()
    movement = Movement(account_id, direction, asset, amount, now)
    recent_rows = (
        await session.scalars(
            select(TransferRecord).where(
                TransferRecord.account_id == account_id,
                TransferRecord.asset == asset,
                TransferRecord.direction == direction,
                TransferRecord.at >= now - rules.structuring_window,
            )
        )
    ).all()
    recent = [Movement(r.account_id, r.direction, r.asset, r.amount, r.at) for r in recent_rows]  # type: ignore[arg-type]
    session.add(
        TransferRecord(
            id=transfer_id,
            account_id=account_id,
            direction=direction,
            asset=asset,
            amount=amount,
            at=now,
        )
    )
    await session.flush()
    flags = [
        AmlFlag(
            id=new_id(),
            transfer_id=transfer_id,
            account_id=account_id,
            rule=finding.rule,
            detail=finding.detail,
            status="open",
            created_at=now,
        )
        for finding in evaluate(rules, movement, recent)
    ]
    session.add_all(flags)
    await session.flush()
    return flags


async def review_queue(
    session: AsyncSession, *, status: str = "open", after_id: int | None = None, limit: int = 50
) -> list[AmlFlag]:
    """Flags with `status`, oldest first (the queue order), after `after_id`."""
    stmt = select(AmlFlag).where(AmlFlag.status == status)
    if after_id is not None:
        stmt = stmt.where(AmlFlag.id > after_id)
    return list((await session.scalars(stmt.order_by(AmlFlag.id).limit(limit))).all())


async def review(
    session: AsyncSession, flag_id: int, officer_id: int, decision: Decision, note: str
) -> AmlFlag:
    """Close an open flag: `clear` it, or `freeze` its account as well.

    Raises NotFound (no such flag), AlreadyDecided (reviewed before), InvalidInput (decision)."""
    if decision not in ("clear", "freeze"):
        raise InvalidInput("decision must be 'clear' or 'freeze'")
    flag = await session.scalar(select(AmlFlag).where(AmlFlag.id == flag_id).with_for_update())
    if flag is None:
        raise NotFound("No such AML flag.")
    if flag.status != "open":
        raise AlreadyDecided(f"The flag was already reviewed ({flag.status}).")
    flag.status = "cleared" if decision == "clear" else "frozen"
    flag.reviewed_by = officer_id
    flag.reviewed_at = utcnow()
    flag.review_note = note
    if decision == "freeze" and await session.get(AccountFreeze, flag.account_id) is None:
        session.add(
            AccountFreeze(account_id=flag.account_id, flag_id=flag.id, frozen_by=officer_id)
        )
    await session.flush()
    return flag


async def is_frozen(session: AsyncSession, account_id: int) -> bool:
    return await session.get(AccountFreeze, account_id) is not None
