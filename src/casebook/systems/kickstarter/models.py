"""Kickstarter tables (`kickstarter_*`).

- `kickstarter_projects`: a project, its frozen-at-launch goal and deadline, the running pledged
  total and backer count (changed only by atomic increments), its escrow ledger account and the
  transfer ids of its payout and platform fee, chosen once at launch so settlement can be re-run.
- `kickstarter_reward_tiers`: a project's rewards; `claimed` only ever moves by one conditional
  UPDATE, so a limited tier is never oversold.
- `kickstarter_pledges`: one backer's pledge; the ledger hold behind it and the ids of the capture
  and void that will resolve it (chosen when the hold is placed).
- `kickstarter_updates`: creators' progress posts.
- `kickstarter_top_ups`: card payments that fund a backer's wallet.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

CURRENCY = "USD"
MAX_TITLE = 120
MAX_BLURB = 300
MAX_DESCRIPTION = 20_000
MAX_UPDATE_BODY = 20_000


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    """Being prepared; only the creator sees it and may change anything."""
    LIVE = "live"
    """Launched: accepting pledges until the deadline; goal and deadline are frozen."""
    SETTLING = "settling"
    """Past the deadline; the settlement job is capturing or voiding the pledges."""
    SUCCESSFUL = "successful"
    FAILED = "failed"


class PledgeStatus(StrEnum):
    ACTIVE = "active"
    """Its hold is open; counts towards the goal."""
    CANCELLED = "cancelled"
    """Withdrawn by the backer before the deadline; the hold was voided."""
    COLLECTED = "collected"
    """Captured at settlement (goal met)."""
    RELEASED = "released"
    """Voided at settlement (goal missed): the backer paid nothing."""


class Project(Base):
    __tablename__ = "kickstarter_projects"
    __table_args__ = (
        CheckConstraint("goal > 0", name="goal_positive"),
        CheckConstraint("pledged_total >= 0", name="pledged_non_negative"),
        CheckConstraint("backers_count >= 0", name="backers_non_negative"),
        Index("ix_kickstarter_projects_creator_id_id", "creator_id", "id"),
        Index(
            "ix_kickstarter_projects_popularity",
            "status",
            "category",
            "backers_count",
            "pledged_total",
            "id",
        ),
        Index("ix_kickstarter_projects_status_deadline", "status", "deadline"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    creator_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    blurb: Mapped[str] = mapped_column(String(MAX_BLURB), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    category: Mapped[str] = mapped_column(String(32))
    video_url: Mapped[str | None] = mapped_column(String(2048))
    image_key: Mapped[str | None] = mapped_column(String(200))
    """Blob-store key of the project image, if one was uploaded."""
    goal: Mapped[int]
    """Funding goal in cents."""
    currency: Mapped[str] = mapped_column(String(3), default=CURRENCY)
    deadline: Mapped[datetime]
    status: Mapped[str] = mapped_column(String(16), default=ProjectStatus.DRAFT.value)
    pledged_total: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    backers_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    escrow_account_id: Mapped[int | None]
    payout_transfer_id: Mapped[int]
    fee_transfer_id: Mapped[int]
    collected_total: Mapped[int | None]
    fee: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    launched_at: Mapped[datetime | None]
    settled_at: Mapped[datetime | None]


class RewardTier(Base):
    __tablename__ = "kickstarter_reward_tiers"
    __table_args__ = (
        CheckConstraint("minimum > 0", name="minimum_positive"),
        CheckConstraint(
            "claimed >= 0 AND (quantity IS NULL OR claimed <= quantity)", name="never_oversold"
        ),
        Index("ix_kickstarter_reward_tiers_project_id_minimum", "project_id", "minimum"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("kickstarter_projects.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    description: Mapped[str] = mapped_column(String(2000), default="")
    minimum: Mapped[int]
    """Smallest pledge (cents) that earns this reward."""
    quantity: Mapped[int | None]
    """How many exist; NULL for unlimited."""
    claimed: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Pledge(Base):
    __tablename__ = "kickstarter_pledges"
    __table_args__ = (
        CheckConstraint("amount > 0", name="amount_positive"),
        # One open pledge per backer and project; a cancelled one may be followed by a new one.
        Index(
            "uq_kickstarter_pledges_active_backer",
            "project_id",
            "backer_id",
            unique=True,
            sqlite_where=text("status = 'active'"),
            postgresql_where=text("status = 'active'"),
        ),
        Index("ix_kickstarter_pledges_project_id_status_id", "project_id", "status", "id"),
        Index("ix_kickstarter_pledges_backer_id_id", "backer_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("kickstarter_projects.id", ondelete="CASCADE")
    )
    backer_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    amount: Mapped[int]
    reward_tier_id: Mapped[int | None] = mapped_column(
        ForeignKey("kickstarter_reward_tiers.id", ondelete="SET NULL")
    )
    status: Mapped[str] = mapped_column(String(16), default=PledgeStatus.ACTIVE.value)
    hold_transfer_id: Mapped[int]
    """The open ledger hold (backer wallet → project escrow) for `amount`."""
    capture_transfer_id: Mapped[int]
    """Id of the POST that captures the hold at settlement; chosen with the hold."""
    void_transfer_id: Mapped[int]
    """Id of the VOID that releases the hold (cancel, edit or a missed goal); chosen with it."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProjectUpdate(Base):
    __tablename__ = "kickstarter_updates"
    __table_args__ = (Index("ix_kickstarter_updates_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("kickstarter_projects.id", ondelete="CASCADE")
    )
    title: Mapped[str] = mapped_column(String(MAX_TITLE))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TopUp(Base):
    __tablename__ = "kickstarter_top_ups"
    __table_args__ = (Index("ix_kickstarter_top_ups_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    amount: Mapped[int]
    card_last4: Mapped[str] = mapped_column(String(4))
    authorization_code: Mapped[str] = mapped_column(String(32))
    transfer_id: Mapped[int]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
