"""Demo data for the embedded server: a creator, four backers, live projects in four categories
with reward tiers and pledges, and one campaign that ended funded and was settled.

Sign in at /login as `kickstarter-backer1@example.com` (…2, 3, 4) or
`kickstarter-creator@example.com`, password `casebook-demo`. Every backer's wallet holds $500
from a top-up through the card-network simulator, less what they pledged.

Loading is idempotent: everything but the settlement is created in ONE write transaction,
skipped when the creator already exists, so a crash leaves nothing half-made and a restart adds
nothing. The finished campaign is created live (launch only accepts deadlines 1 hour to 60 days
ahead), its deadline then moved into the past as if the campaign had run, and settled through
the real settlement; settling it again on a later run is a no-op (the ledger answers `exists`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.kickstarter import pledges, projects, settlement, wallets
from casebook.systems.kickstarter.cardnetwork import Card
from casebook.systems.kickstarter.models import Project

PASSWORD = "casebook-demo"
CREATOR_EMAIL = "kickstarter-creator@example.com"
BACKER_EMAILS = tuple(f"kickstarter-backer{n}@example.com" for n in range(1, 5))
WALLET_TOP_UP = 50_000
"""$500 per backer."""
DEMO_CARD = Card(number="4242424242424242", exp_month=12, exp_year=2099, cvc="123")
FINISHED_TITLE = "Tidepool: a field guide to rock pools"


@dataclass(frozen=True)
class DemoTier:
    title: str
    minimum: int
    quantity: int | None


@dataclass(frozen=True)
class DemoProject:
    title: str
    blurb: str
    category: str
    goal: int
    days_left: int
    tiers: tuple[DemoTier, ...]
    pledges: tuple[tuple[int, int, int | None], ...]
    """(backer index, cents, tier index or None)."""


DEMO_PROJECTS = (
    DemoProject(
        "Orrery: a clockwork solar system",
        "A brass desk orrery you assemble yourself.",
        "design",
        120_000,
        21,
        (DemoTier("Thank-you postcard", 500, None), DemoTier("Orrery kit", 9_000, 25)),
        ((0, 9_000, 1), (1, 1_500, 0), (2, 9_000, 1)),
    ),
    DemoProject(
        "Night Ferry (a board game)",
        "Smuggle lanterns across a river before dawn; 2-5 players.",
        "games",
        300_000,
        35,
        (DemoTier("Print and play", 1_000, None), DemoTier("Boxed game", 4_500, 3)),
        ((0, 4_500, 1), (3, 4_500, 1), (1, 2_000, 0)),
    ),
    DemoProject(
        "Salt & Smoke: a fishing-village cookbook",
        "Recipes from twelve harbour kitchens.",
        "food",
        80_000,
        9,
        (DemoTier("E-book", 1_500, None), DemoTier("Signed hardback", 3_500, None)),
        ((2, 3_500, 1),),
    ),
    DemoProject(
        FINISHED_TITLE,
        "An illustrated guide to the creatures of the tide line.",
        "publishing",
        20_000,
        1,
        (DemoTier("Pocket edition", 2_000, None), DemoTier("Print of a plate", 6_000, 10)),
        ((0, 6_000, 1), (1, 6_000, 1), (2, 2_000, 0), (3, 10_000, None)),
    ),
)


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo accounts, projects and pledges, and the settled campaign."""
    async with platform.db.session(write=True) as session:
        exists = await session.scalar(select(User.id).where(User.email == CREATOR_EMAIL))
        if exists is None:
            await _create(session, platform)
    async with platform.db.session() as session:
        finished = await session.scalar(
            select(Project.id)
            .join(User, User.id == Project.creator_id)
            .where(User.email == CREATOR_EMAIL, Project.title == FINISHED_TITLE)
        )
    if finished is not None:
        await settlement.settle_project(platform.db, finished)


async def _create(session: AsyncSession, platform: Platform) -> None:
    creator = await register_user(
        session, CREATOR_EMAIL, PASSWORD, "Demo creator", settings=platform.settings
    )
    backer_ids = []
    for number, email in enumerate(BACKER_EMAILS, start=1):
        backer = await register_user(
            session, email, PASSWORD, f"Demo backer {number}", settings=platform.settings
        )
        await wallets.top_up(
            session, wallets.card_network(platform), backer.id, DEMO_CARD, WALLET_TOP_UP
        )
        backer_ids.append(backer.id)
    now = utcnow()
    for spec in DEMO_PROJECTS:
        project = await projects.create_project(
            session,
            creator.id,
            {
                "title": spec.title,
                "blurb": spec.blurb,
                "description": f"{spec.blurb} A demo project of Casebook's Kickstarter.",
                "category": spec.category,
                "goal": spec.goal,
                "deadline": now + timedelta(days=spec.days_left),
            },
        )
        tier_ids = []
        for tier in spec.tiers:
            added = await projects.add_reward_tier(
                session,
                creator.id,
                project.id,
                {"title": tier.title, "minimum": tier.minimum, "quantity": tier.quantity},
            )
            tier_ids.append(added.id)
        await projects.launch_project(session, creator.id, project.id)
        for backer_index, amount, tier_index in spec.pledges:
            tier_id = None if tier_index is None else tier_ids[tier_index]
            await pledges.place_pledge(
                session, backer_ids[backer_index], project.id, amount, tier_id
            )
        if spec.title == FINISHED_TITLE:
            # The campaign has run its course: it launched a month ago and ended an hour ago.
            await session.execute(
                update(Project)
                .where(Project.id == project.id)
                .values(launched_at=now - timedelta(days=30), deadline=now - timedelta(hours=1))
            )
