"""All-or-nothing settlement at the deadline, exactly once in effect however often it runs.

`settle_project` moves a project past its deadline through three steps, each its own transaction
that takes the project's row lock first (the same lock every pledge change takes):

1. `live` → `settling`. From here no pledge can change, so the pledged total is final and the
   outcome is fixed: goal met if `pledged_total >= goal`.
2. In chunks of `CHUNK` pledges: capture every hold (POST, with the pledge's stored
   `capture_transfer_id`) if the goal was met, else void it (its stored `void_transfer_id`), and
   mark the pledges `collected` or `released` in the same transaction as the ledger batch.
3. Goal met: pay the collected total out of escrow, less the platform fee, to the creator's wallet
   and the fee to the platform's revenue account, with the project's stored transfer ids; then
   `successful` (or `failed`).

A crash between steps leaves a state the next run resumes from; and since every transfer id was
chosen before the first run, a step that is repeated (two processes, a retried job) gets `exists`
from the ledger instead of moving money again. `settle_due` is the scheduled sweep that finds the
projects whose deadline has passed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Transfer, TransferKind
from casebook.engines.ledger.errors import refusal
from casebook.platform.context import Platform
from casebook.platform.db import Database, utcnow
from casebook.systems.kickstarter import accounts
from casebook.systems.kickstarter.models import Pledge, PledgeStatus, Project, ProjectStatus

log = structlog.get_logger("casebook.kickstarter.settlement")

FEE_BASIS_POINTS = 500
"""Kickstarter's platform fee: 5 % of the funds collected."""
CHUNK = 500
"""Pledges captured or voided per transaction (bounded lock time and ledger batch size)."""
SETTLE_JOB = "kickstarter.settle-due"
SETTLE_EVERY_SECONDS = 30
FINISHED = (ProjectStatus.SUCCESSFUL.value, ProjectStatus.FAILED.value)


def platform_fee(total: int) -> int:
    """The platform fee on `total` cents, rounded down."""
    return total * FEE_BASIS_POINTS // 10_000


@dataclass(frozen=True)
class Settlement:
    project_id: int
    status: ProjectStatus
    collected: int
    fee: int


async def _locked(session: AsyncSession, project_id: int) -> Project | None:
    return await session.scalar(select(Project).where(Project.id == project_id).with_for_update())


def _result(project: Project) -> Settlement:
    return Settlement(
        project.id, ProjectStatus(project.status), project.collected_total or 0, project.fee or 0
    )


async def settle_project(
    db: Database, project_id: int, *, now: datetime | None = None
) -> Settlement | None:
    """Settle the project if its deadline has passed (see the module docstring).

    Returns the settlement (also when it was already settled), or None when the project is not
    due (draft, or live before its deadline). Raises TransferRefused if the ledger refuses a
    capture or void, which means the books and the pledges disagree (the job then retries and
    logs it). O(p) for p pledges, in ceil(p / CHUNK) + 2 transactions.
    """
    begun = await begin_settlement(db, project_id, now=now)
    if begun is not ProjectStatus.SETTLING:
        return None if begun is None else await finish_settlement(db, project_id)
    await settle_pledges(db, project_id)
    return await finish_settlement(db, project_id)


async def begin_settlement(
    db: Database, project_id: int, *, now: datetime | None = None
) -> ProjectStatus | None:
    """Step 1: close a live project whose deadline has passed to pledge changes (`settling`).

    Returns the project's status afterwards, or None if it is not due (missing, draft, or live
    before its deadline).
    """
    now = now or utcnow()
    async with db.session(write=True) as session:
        project = await _locked(session, project_id)
        if project is None or project.status == ProjectStatus.DRAFT.value:
            return None
        if project.status == ProjectStatus.LIVE.value:
            if project.deadline > now:
                return None
            project.status = ProjectStatus.SETTLING.value
            project.updated_at = now
        return ProjectStatus(project.status)


async def settle_pledges(db: Database, project_id: int) -> None:
    """Step 2: capture (goal met) or void (missed) every active pledge, CHUNK per transaction."""
    while await _settle_chunk(db, project_id):
        pass


async def _settle_chunk(db: Database, project_id: int) -> bool:
    """Capture or void up to CHUNK active pledges; False when none were left."""
    async with db.session(write=True) as session:
        project = await _locked(session, project_id)
        assert project is not None
        if project.status != ProjectStatus.SETTLING.value:
            return False
        pledges = list(
            await session.scalars(
                select(Pledge)
                .where(Pledge.project_id == project_id, Pledge.status == PledgeStatus.ACTIVE.value)
                .order_by(Pledge.id)
                .limit(CHUNK)
            )
        )
        if not pledges:
            return False
        goal_met = project.pledged_total >= project.goal
        transfers = [
            Transfer(
                id=p.capture_transfer_id if goal_met else p.void_transfer_id,
                kind=TransferKind.POST if goal_met else TransferKind.VOID,
                pending_id=p.hold_transfer_id,
                code="pledge-capture" if goal_met else "pledge-release",
                reference=f"kickstarter:pledge:{p.id}",
            )
            for p in pledges
        ]
        outcomes = await Ledger(session).create_transfers(transfers)
        for outcome in outcomes:
            if not outcome.succeeded:
                raise refusal(outcome)
        status = PledgeStatus.COLLECTED if goal_met else PledgeStatus.RELEASED
        for pledge in pledges:
            pledge.status = status.value
            pledge.updated_at = utcnow()
        return True


async def finish_settlement(db: Database, project_id: int) -> Settlement:
    """Step 3: pay out a funded project (creator's share and platform fee) and close it; for a
    project already closed, its settlement as recorded."""
    async with db.session(write=True) as session:
        project = await _locked(session, project_id)
        assert project is not None
        if project.status in FINISHED:
            return _result(project)
        goal_met = project.pledged_total >= project.goal
        if goal_met:
            total = project.pledged_total
            fee = platform_fee(total)
            await _pay_out(session, project, total, fee)
            project.collected_total, project.fee = total, fee
            project.status = ProjectStatus.SUCCESSFUL.value
        else:
            project.collected_total, project.fee = 0, 0
            project.status = ProjectStatus.FAILED.value
        project.settled_at = project.updated_at = utcnow()
        log.info(
            "project settled",
            project_id=project_id,
            status=project.status,
            collected=project.collected_total,
        )
        return _result(project)


async def _pay_out(session: AsyncSession, project: Project, total: int, fee: int) -> None:
    ledger = Ledger(session)
    assert project.escrow_account_id is not None
    creator = await accounts.wallet(ledger, project.creator_id)
    revenue = await accounts.fees(ledger)
    reference = f"kickstarter:project:{project.id}"
    transfers = [
        Transfer(
            id=project.payout_transfer_id,
            debit_account_id=project.escrow_account_id,
            credit_account_id=creator.id,
            amount=total - fee,
            code="payout",
            reference=reference,
            linked=fee > 0,
        )
    ]
    if fee > 0:
        transfers.append(
            Transfer(
                id=project.fee_transfer_id,
                debit_account_id=project.escrow_account_id,
                credit_account_id=revenue.id,
                amount=fee,
                code="platform-fee",
                reference=reference,
            )
        )
    for outcome in await ledger.create_transfers(transfers):
        if not outcome.succeeded:
            raise refusal(outcome)


async def settle_due(db: Database, *, now: datetime | None = None, limit: int = 100) -> list[int]:
    """Settle up to `limit` projects whose deadline has passed; returns their ids.

    One index range scan on (status, deadline) finds them: O(log n + k).
    """
    now = now or utcnow()
    async with db.session() as session:
        due = list(
            await session.scalars(
                select(Project.id)
                .where(
                    Project.status.in_((ProjectStatus.LIVE.value, ProjectStatus.SETTLING.value)),
                    Project.deadline <= now,
                )
                .order_by(Project.deadline)
                .limit(limit)
            )
        )
    settled = []
    for project_id in due:
        if await settle_project(db, project_id, now=now) is not None:
            settled.append(project_id)
    return settled


def install(platform: Platform) -> None:
    """Register the settlement sweep; call from the system's startup hook."""
    platform.jobs.register(SETTLE_JOB, _settle_job, retries=5)


async def schedule_settlement(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next sweep at the next SETTLE_EVERY_SECONDS boundary, keyed by it, so the
    processes of a cluster share one run per slot (on Redis)."""
    now = time.time() if now is None else now
    due = (int(now) // SETTLE_EVERY_SECONDS + 1) * SETTLE_EVERY_SECONDS
    return await platform.jobs.enqueue(SETTLE_JOB, {}, key=str(due), delay=due - now)


async def _settle_job(platform: Platform, payload: dict[str, Any]) -> None:
    try:
        await settle_due(platform.db)
    finally:
        await schedule_settlement(platform)
