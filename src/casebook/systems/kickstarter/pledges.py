"""Pledges as ledger holds: place, change and cancel before the deadline.

A pledge is a PENDING transfer (a hold) of its amount from the backer's wallet to the project's
escrow: the money stays the backer's but cannot be spent elsewhere, and the project's totals count
it. Each hold comes with the ids of the POST that will capture it and the VOID that will release
it, chosen when it is placed and stored on the pledge, so settlement and cancellation can be
retried without ever moving money twice. Holds have no timeout: only settlement or the backer
resolves them (a timeout could release a pledge the settlement still has to capture).

Concurrency: every change to a project's pledges first locks the project row (PostgreSQL
`FOR UPDATE`; SQLite's write session holds the database lock), which orders it against the
settlement job, which takes the same lock before it reads the pledges. Totals and reward claims
change by single atomic statements; the ledger's own account locks and CHECK constraints keep a
wallet from ever going below zero.
"""

from __future__ import annotations

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger, Outcome, Transfer, TransferKind
from casebook.engines.ledger.errors import refusal
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.kickstarter import accounts
from casebook.systems.kickstarter.errors import (
    AlreadyBacked,
    OwnProject,
    PledgeBelowMinimum,
    PledgeClosed,
    PledgeNotFound,
    ProjectNotLive,
    RewardNotFound,
    RewardSoldOut,
)
from casebook.systems.kickstarter.models import (
    Pledge,
    PledgeStatus,
    Project,
    ProjectStatus,
    RewardTier,
)
from casebook.systems.kickstarter.projects import add_to_totals, visible_project

MIN_PLEDGE = 100
"""$1, Kickstarter's smallest pledge."""
MAX_PLEDGE = 100_000_000
"""$1,000,000 per pledge."""
NEWEST = Keyset(Pledge.id)


def _reference(pledge_id: int) -> str:
    return f"kickstarter:pledge:{pledge_id}"


def _open_for_pledges(project: Project) -> None:
    if project.status != ProjectStatus.LIVE.value or utcnow() >= project.deadline:
        raise ProjectNotLive("The project is not accepting pledges (not launched, or ended).")


async def _claim_reward(session: AsyncSession, project_id: int, tier_id: int, amount: int) -> None:
    """Claim one of the tier's rewards by one conditional UPDATE, so two backers can never both
    take the last one. Raises RewardNotFound, PledgeBelowMinimum, RewardSoldOut."""
    tier = await session.scalar(
        select(RewardTier).where(RewardTier.id == tier_id, RewardTier.project_id == project_id)
    )
    if tier is None:
        raise RewardNotFound(f"Project {project_id} has no reward tier {tier_id}.")
    if amount < tier.minimum:
        raise PledgeBelowMinimum(
            f"This reward needs a pledge of at least {tier.minimum} cents.", minimum=tier.minimum
        )
    claimed = await session.execute(
        update(RewardTier)
        .where(
            RewardTier.id == tier_id,
            or_(RewardTier.quantity.is_(None), RewardTier.claimed < RewardTier.quantity),
        )
        .values(claimed=RewardTier.claimed + 1)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise RewardSoldOut("Every one of this reward has been claimed.")


async def _release_reward(session: AsyncSession, tier_id: int | None) -> None:
    if tier_id is None:
        return
    await session.execute(
        update(RewardTier)
        .where(RewardTier.id == tier_id, RewardTier.claimed > 0)
        .values(claimed=RewardTier.claimed - 1)
        .execution_options(synchronize_session=False)
    )


async def place_pledge(
    session: AsyncSession, backer_id: int, project_id: int, amount: int, reward_tier_id: int | None
) -> Pledge:
    """Pledge `amount` cents to a live project, optionally for a reward: one hold on the backer's
    wallet. Raises ProjectNotFound, ProjectNotLive, OwnProject, AlreadyBacked, RewardNotFound,
    PledgeBelowMinimum, RewardSoldOut, InsufficientFunds (409, nothing changes)."""
    project = await visible_project(session, project_id, backer_id, lock=True)
    if project.creator_id == backer_id:
        raise OwnProject("Creators cannot back their own project.")
    _open_for_pledges(project)
    existing = await session.scalar(
        select(Pledge.id).where(
            Pledge.project_id == project_id,
            Pledge.backer_id == backer_id,
            Pledge.status == PledgeStatus.ACTIVE.value,
        )
    )
    if existing is not None:
        raise AlreadyBacked("You already back this project.", pledge_id=str(existing))
    if reward_tier_id is not None:
        await _claim_reward(session, project_id, reward_tier_id, amount)
    ledger = Ledger(session)
    wallet = await accounts.wallet(ledger, backer_id)
    assert project.escrow_account_id is not None  # opened at launch
    pledge_id = new_id()
    pledge = Pledge(
        id=pledge_id,
        project_id=project_id,
        backer_id=backer_id,
        amount=amount,
        reward_tier_id=reward_tier_id,
        status=PledgeStatus.ACTIVE.value,
        hold_transfer_id=new_id(),
        capture_transfer_id=new_id(),
        void_transfer_id=new_id(),
        created_at=utcnow(),
        updated_at=utcnow(),
    )
    await ledger.transfer(
        Transfer(
            id=pledge.hold_transfer_id,
            debit_account_id=wallet.id,
            credit_account_id=project.escrow_account_id,
            amount=amount,
            kind=TransferKind.PENDING,
            code="pledge",
            reference=_reference(pledge_id),
        )
    )
    session.add(pledge)
    await session.flush()
    await add_to_totals(session, project_id, amount, 1)
    return pledge


async def _own_active_pledge(
    session: AsyncSession, backer_id: int, pledge_id: int
) -> tuple[Project, Pledge]:
    """The backer's active pledge and its project, both locked (project first, the settlement's
    order). Raises PledgeNotFound (also for someone else's pledge), PledgeClosed,
    ProjectNotLive."""
    project_id = await session.scalar(
        select(Pledge.project_id).where(Pledge.id == pledge_id, Pledge.backer_id == backer_id)
    )
    if project_id is None:
        raise PledgeNotFound(f"You have no pledge {pledge_id}.")
    project = await session.scalar(
        select(Project).where(Project.id == project_id).with_for_update()
    )
    pledge = await session.scalar(select(Pledge).where(Pledge.id == pledge_id).with_for_update())
    assert project is not None and pledge is not None  # rows are deleted only by cascade
    if pledge.status != PledgeStatus.ACTIVE.value:
        raise PledgeClosed(f"Pledge {pledge_id} is {pledge.status}; it can no longer change.")
    _open_for_pledges(project)
    return project, pledge


async def change_pledge(
    session: AsyncSession,
    backer_id: int,
    pledge_id: int,
    amount: int,
    reward_tier_id: int | None,
) -> Pledge:
    """Change the backer's pledge before the deadline: the old hold is voided and the new one
    placed in ONE linked ledger batch, so the backer is never held twice and, if the new amount
    does not fit the wallet, nothing changes (InsufficientFunds). Raises as `place_pledge`."""
    project, pledge = await _own_active_pledge(session, backer_id, pledge_id)
    if reward_tier_id != pledge.reward_tier_id:
        if reward_tier_id is not None:
            await _claim_reward(session, project.id, reward_tier_id, amount)
        await _release_reward(session, pledge.reward_tier_id)
    elif reward_tier_id is not None:
        minimum = await session.scalar(
            select(RewardTier.minimum).where(RewardTier.id == reward_tier_id)
        )
        if minimum is not None and amount < minimum:
            raise PledgeBelowMinimum(
                f"This reward needs a pledge of at least {minimum} cents.", minimum=minimum
            )
    if amount != pledge.amount:
        new_hold = new_id()
        assert project.escrow_account_id is not None
        ledger = Ledger(session)
        wallet = await accounts.wallet(ledger, backer_id)
        outcomes = await ledger.create_transfers(
            [
                Transfer(
                    id=pledge.void_transfer_id,
                    kind=TransferKind.VOID,
                    pending_id=pledge.hold_transfer_id,
                    linked=True,
                    code="pledge-change",
                    reference=_reference(pledge.id),
                ),
                Transfer(
                    id=new_hold,
                    debit_account_id=wallet.id,
                    credit_account_id=project.escrow_account_id,
                    amount=amount,
                    kind=TransferKind.PENDING,
                    code="pledge",
                    reference=_reference(pledge.id),
                ),
            ]
        )
        failed = [o for o in outcomes if not o.succeeded and o is not Outcome.LINKED_EVENT_FAILED]
        if failed:
            raise refusal(failed[0])
        await add_to_totals(session, project.id, amount - pledge.amount, 0)
        pledge.amount = amount
        pledge.hold_transfer_id = new_hold
        pledge.capture_transfer_id = new_id()
        pledge.void_transfer_id = new_id()
    pledge.reward_tier_id = reward_tier_id
    pledge.updated_at = utcnow()
    await session.flush()
    return pledge


async def cancel_pledge(session: AsyncSession, backer_id: int, pledge_id: int) -> Pledge:
    """Withdraw the backer's pledge before the deadline: void its hold, give back its reward.
    Raises PledgeNotFound, ProjectNotLive."""
    project, pledge = await _own_active_pledge(session, backer_id, pledge_id)
    await Ledger(session).transfer(
        Transfer(
            id=pledge.void_transfer_id,
            kind=TransferKind.VOID,
            pending_id=pledge.hold_transfer_id,
            code="pledge-cancel",
            reference=_reference(pledge.id),
        )
    )
    await _release_reward(session, pledge.reward_tier_id)
    await add_to_totals(session, project.id, -pledge.amount, -1)
    pledge.status = PledgeStatus.CANCELLED.value
    pledge.updated_at = utcnow()
    await session.flush()
    return pledge


async def active_pledge(session: AsyncSession, backer_id: int, project_id: int) -> Pledge | None:
    """The backer's open pledge on the project, if any (one index lookup)."""
    return await session.scalar(
        select(Pledge).where(
            Pledge.project_id == project_id,
            Pledge.backer_id == backer_id,
            Pledge.status == PledgeStatus.ACTIVE.value,
        )
    )


async def backer_pledges(
    session: AsyncSession, backer_id: int, page: PageParams
) -> tuple[list[Pledge], str | None]:
    """The backer's own pledges, any status, newest first."""
    return await NEWEST.fetch(session, select(Pledge).where(Pledge.backer_id == backer_id), page)


async def project_backers(
    session: AsyncSession, project: Project, page: PageParams
) -> tuple[list[Pledge], str | None]:
    """The project's backers: its pledges that were not cancelled, newest first."""
    statuses = (
        PledgeStatus.ACTIVE.value,
        PledgeStatus.COLLECTED.value,
        PledgeStatus.RELEASED.value,
    )
    query = select(Pledge).where(Pledge.project_id == project.id, Pledge.status.in_(statuses))
    return await NEWEST.fetch(session, query, page)
