"""Request and response bodies of the Kickstarter API. Money is integer cents of USD."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl

from casebook.platform.ids import IdStr
from casebook.systems.kickstarter.models import (
    MAX_BLURB,
    MAX_DESCRIPTION,
    MAX_TITLE,
    MAX_UPDATE_BODY,
)
from casebook.systems.kickstarter.pledges import MAX_PLEDGE, MIN_PLEDGE
from casebook.systems.kickstarter.projects import CATEGORIES
from casebook.systems.kickstarter.wallets import MAX_TOP_UP, MIN_TOP_UP

Category = Literal[CATEGORIES]  # type: ignore[valid-type]
MAX_GOAL = 10_000_000_000
"""$100 million."""


class ProjectCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    blurb: str = Field("", max_length=MAX_BLURB, description="A one-line summary.")
    description: str = Field("", max_length=MAX_DESCRIPTION)
    category: Category
    goal: int = Field(ge=100, le=MAX_GOAL, description="Funding goal in cents (at least $1).")
    deadline: AwareDatetime = Field(
        description="When pledging ends; at launch it must be 1 hour to 60 days ahead."
    )
    video_url: HttpUrl | None = Field(None, description="A link to the project video.")


class ProjectEdit(BaseModel):
    """Fields to change; omitted ones stay. `goal` and `deadline` only before launch."""

    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(None, min_length=1, max_length=MAX_TITLE)
    blurb: str | None = Field(None, max_length=MAX_BLURB)
    description: str | None = Field(None, max_length=MAX_DESCRIPTION)
    category: Category | None = None
    goal: int | None = Field(None, ge=100, le=MAX_GOAL)
    deadline: AwareDatetime | None = None
    video_url: HttpUrl | None = None


class ProjectOut(BaseModel):
    id: IdStr
    creator_id: IdStr
    title: str
    blurb: str
    description: str
    category: str
    video_url: str | None
    image_url: str | None
    goal: int
    currency: str
    deadline: datetime
    status: str
    pledged: int
    backers: int
    percent_funded: int
    seconds_left: int
    collected: int | None = Field(description="Captured at settlement (null before).")
    fee: int | None = Field(description="Platform fee taken at settlement (null before).")
    created_at: datetime
    launched_at: datetime | None
    settled_at: datetime | None


class RewardTierCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    description: str = Field("", max_length=2000)
    minimum: int = Field(ge=MIN_PLEDGE, le=MAX_PLEDGE, description="Smallest pledge, cents.")
    quantity: int | None = Field(None, ge=1, le=1_000_000, description="Null: unlimited.")


class RewardTierOut(BaseModel):
    id: IdStr
    project_id: IdStr
    title: str
    description: str
    minimum: int
    quantity: int | None
    claimed: int
    remaining: int | None


class ImageOut(BaseModel):
    image_url: str = Field(description="Where the image is served.")
    size: int = Field(description="Bytes stored.")
    media_type: str


class PledgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=MIN_PLEDGE, le=MAX_PLEDGE, description="Cents (any amount ≥ $1).")
    reward_tier_id: IdStr | None = Field(None, description="A reward of this project, or none.")


class PledgeOut(BaseModel):
    id: IdStr
    project_id: IdStr
    backer_id: IdStr
    amount: int
    reward_tier_id: IdStr | None
    status: str
    hold_transfer_id: IdStr = Field(description="The ledger hold behind the pledge.")
    created_at: datetime
    updated_at: datetime


class BackerOut(BaseModel):
    pledge_id: IdStr
    backer_id: IdStr
    display_name: str
    amount: int
    reward_tier_id: IdStr | None
    status: str
    pledged_at: datetime


class UpdateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    title: str = Field(min_length=1, max_length=MAX_TITLE)
    body: str = Field(min_length=1, max_length=MAX_UPDATE_BODY)


class UpdateOut(BaseModel):
    id: IdStr
    project_id: IdStr
    title: str
    body: str
    created_at: datetime


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    number: str = Field(min_length=12, max_length=19, pattern=r"^[0-9]+$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(min_length=3, max_length=4, pattern=r"^[0-9]+$")


class TopUpCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: int = Field(ge=MIN_TOP_UP, le=MAX_TOP_UP, description="Cents to add.")
    card: CardIn


class TopUpOut(BaseModel):
    id: IdStr
    amount: int
    card_last4: str
    authorization_code: str
    created_at: datetime


class WalletOut(BaseModel):
    account_id: IdStr
    currency: str
    balance: int = Field(description="Cents in the wallet.")
    held: int = Field(description="Cents reserved by open pledges.")
    available: int


class SettlementOut(BaseModel):
    project_id: IdStr
    status: str
    collected: int
    fee: int
