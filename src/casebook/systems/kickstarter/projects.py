"""Projects, reward tiers and updates: creation, creator-only edits, launch, discovery.

Visibility: a draft is seen only by its creator (anyone else gets 404, as for a missing project);
a launched project is public. Only the creator changes a project (403 for anyone else on a public
one), and its goal and deadline freeze at launch.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Ledger
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.systems.kickstarter import accounts
from casebook.systems.kickstarter.errors import (
    InvalidProject,
    NotTheCreator,
    ProjectFrozen,
    ProjectNotFound,
)
from casebook.systems.kickstarter.models import (
    Project,
    ProjectStatus,
    ProjectUpdate,
    RewardTier,
)

CATEGORIES = (
    "art",
    "comics",
    "crafts",
    "dance",
    "design",
    "fashion",
    "film",
    "food",
    "games",
    "journalism",
    "music",
    "photography",
    "publishing",
    "technology",
    "theater",
)
"""Kickstarter's top-level categories (the seed's Category table, as a fixed list)."""
MIN_CAMPAIGN = timedelta(hours=1)
MAX_CAMPAIGN = timedelta(days=60)
"""Kickstarter's longest campaign."""
MAX_TIERS = 50
FROZEN_AT_LAUNCH = frozenset({"goal", "deadline"})
PUBLIC_STATUSES = (
    ProjectStatus.LIVE.value,
    ProjectStatus.SETTLING.value,
    ProjectStatus.SUCCESSFUL.value,
    ProjectStatus.FAILED.value,
)

POPULAR = Keyset(Project.backers_count, Project.pledged_total, Project.id)
NEWEST = Keyset(Project.id)
UPDATES_NEWEST = Keyset(ProjectUpdate.id)
Sort = Literal["popular", "newest"]


async def create_project(session: AsyncSession, creator_id: int, fields: dict[str, Any]) -> Project:
    """A new draft project of `creator_id` (fields validated by the schema). O(1)."""
    now = utcnow()
    project = Project(
        id=new_id(),
        creator_id=creator_id,
        payout_transfer_id=new_id(),
        fee_transfer_id=new_id(),
        status=ProjectStatus.DRAFT.value,
        pledged_total=0,
        backers_count=0,
        created_at=now,
        updated_at=now,
        **fields,
    )
    session.add(project)
    await session.flush()
    return project


async def visible_project(
    session: AsyncSession, project_id: int, viewer_id: int | None, *, lock: bool = False
) -> Project:
    """The project if `viewer_id` may see it (public, or their own draft); else ProjectNotFound.

    `lock` takes the row lock (PostgreSQL FOR UPDATE) for a check-then-change.
    """
    query = select(Project).where(Project.id == project_id)
    if lock:
        query = query.with_for_update()
    project = await session.scalar(query)
    if project is None or (
        project.status == ProjectStatus.DRAFT.value and project.creator_id != viewer_id
    ):
        raise ProjectNotFound(f"There is no project {project_id}.")
    return project


async def own_project(session: AsyncSession, project_id: int, user_id: int) -> Project:
    """The project, locked, if `user_id` created it; ProjectNotFound or NotTheCreator otherwise."""
    project = await visible_project(session, project_id, user_id, lock=True)
    if project.creator_id != user_id:
        raise NotTheCreator("Only the project's creator may change it.")
    return project


async def edit_project(
    session: AsyncSession, user_id: int, project_id: int, changes: dict[str, Any]
) -> Project:
    """Apply `changes` to the creator's project. Goal and deadline change only before launch
    (ProjectFrozen after). Raises ProjectNotFound, NotTheCreator, ProjectFrozen."""
    project = await own_project(session, project_id, user_id)
    frozen = FROZEN_AT_LAUNCH & changes.keys()
    if frozen and project.status != ProjectStatus.DRAFT.value:
        raise ProjectFrozen(
            f"{', '.join(sorted(frozen))} cannot change after launch.", fields=sorted(frozen)
        )
    for name, value in changes.items():
        setattr(project, name, value)
    project.updated_at = utcnow()
    await session.flush()
    return project


def check_campaign(deadline: datetime, now: datetime) -> None:
    """Raise InvalidProject unless `deadline` is MIN_CAMPAIGN to MAX_CAMPAIGN after `now`."""
    if deadline < now + MIN_CAMPAIGN or deadline > now + MAX_CAMPAIGN:
        raise InvalidProject(
            "The deadline must be between 1 hour and 60 days after launch.", field="deadline"
        )


async def launch_project(session: AsyncSession, user_id: int, project_id: int) -> Project:
    """Launch the creator's draft: from now it takes pledges and its goal and deadline are
    frozen. Opens the project's escrow account. Raises ProjectNotFound, NotTheCreator,
    ProjectFrozen (already launched), InvalidProject (deadline out of range)."""
    project = await own_project(session, project_id, user_id)
    if project.status != ProjectStatus.DRAFT.value:
        raise ProjectFrozen("The project has already launched.")
    now = utcnow()
    check_campaign(project.deadline, now)
    escrow = await accounts.escrow(Ledger(session), project.id)
    project.escrow_account_id = escrow.id
    project.status = ProjectStatus.LIVE.value
    project.launched_at = now
    project.updated_at = now
    await session.flush()
    return project


async def discover(
    session: AsyncSession, category: str | None, sort: Sort, page: PageParams
) -> tuple[list[Project], str | None]:
    """Public projects, optionally of one category, most backed (then most pledged) or newest
    first, by cursor. One index range scan per page: O(log n + limit)."""
    query = select(Project).where(Project.status.in_(PUBLIC_STATUSES))
    if category is not None:
        query = query.where(Project.category == category)
    keyset = POPULAR if sort == "popular" else NEWEST
    return await keyset.fetch(session, query, page)


async def creator_projects(
    session: AsyncSession, creator_id: int, viewer_id: int | None, page: PageParams
) -> tuple[list[Project], str | None]:
    """A creator's projects, newest first; drafts only when the creator asks."""
    query = select(Project).where(Project.creator_id == creator_id)
    if viewer_id != creator_id:
        query = query.where(Project.status.in_(PUBLIC_STATUSES))
    return await NEWEST.fetch(session, query, page)


# Reward tiers


async def add_reward_tier(
    session: AsyncSession, user_id: int, project_id: int, fields: dict[str, Any]
) -> RewardTier:
    """Add a reward tier to the creator's project (draft or live, like Kickstarter).

    Raises ProjectNotFound, NotTheCreator, ProjectFrozen (after the deadline), InvalidProject
    (over MAX_TIERS)."""
    project = await own_project(session, project_id, user_id)
    if project.status not in (ProjectStatus.DRAFT.value, ProjectStatus.LIVE.value):
        raise ProjectFrozen("Rewards cannot be added after the deadline.")
    count = len(await reward_tiers(session, project_id))
    if count >= MAX_TIERS:
        raise InvalidProject(f"A project has at most {MAX_TIERS} reward tiers.")
    tier = RewardTier(id=new_id(), project_id=project_id, claimed=0, created_at=utcnow(), **fields)
    session.add(tier)
    await session.flush()
    return tier


async def reward_tiers(session: AsyncSession, project_id: int) -> list[RewardTier]:
    """The project's tiers, cheapest first."""
    rows = await session.scalars(
        select(RewardTier)
        .where(RewardTier.project_id == project_id)
        .order_by(RewardTier.minimum, RewardTier.id)
    )
    return list(rows)


# Updates


async def post_update(
    session: AsyncSession, user_id: int, project_id: int, title: str, body: str
) -> ProjectUpdate:
    """A progress update on the creator's launched project. Raises ProjectNotFound,
    NotTheCreator, InvalidProject (a draft has no backers to tell)."""
    project = await own_project(session, project_id, user_id)
    if project.status == ProjectStatus.DRAFT.value:
        raise InvalidProject("Launch the project before posting updates.")
    item = ProjectUpdate(
        id=new_id(), project_id=project_id, title=title, body=body, created_at=utcnow()
    )
    session.add(item)
    await session.flush()
    return item


async def list_updates(
    session: AsyncSession, project_id: int, page: PageParams
) -> tuple[list[ProjectUpdate], str | None]:
    query = select(ProjectUpdate).where(ProjectUpdate.project_id == project_id)
    return await UPDATES_NEWEST.fetch(session, query, page)


async def add_to_totals(session: AsyncSession, project_id: int, pledged: int, backers: int) -> None:
    """Change the running totals by one atomic UPDATE (never a value computed in Python)."""
    await session.execute(
        update(Project)
        .where(Project.id == project_id)
        .values(
            pledged_total=Project.pledged_total + pledged,
            backers_count=Project.backers_count + backers,
        )
    )
