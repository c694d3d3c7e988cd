"""Request and response bodies of `/api/substack`."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, Field

from casebook.platform.ids import IdStr

MAX_BODY = 200_000
"""Characters of Markdown in one post."""


class PublicationCreate(BaseModel):
    slug: str = Field(pattern=r"^[a-z0-9](?:[a-z0-9-]{1,38}[a-z0-9])$")
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=500)
    monthly_price: int | None = Field(default=None, ge=100, le=100_000)
    annual_price: int | None = Field(default=None, ge=100, le=1_000_000)


class PublicationOut(BaseModel):
    id: IdStr
    slug: str
    name: str
    description: str
    owner_id: IdStr
    currency: str
    monthly_price: int | None
    annual_price: int | None
    subscriber_count: int
    created_at: datetime


class AuthorAdd(BaseModel):
    user_id: IdStr


class PostCreate(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    subtitle: str = Field(default="", max_length=300)
    body: str = Field(max_length=MAX_BODY)
    audience: Literal["everyone", "paid"] = "everyone"
    send_email: bool = True
    publish: Literal["draft", "now", "schedule"] = "draft"
    scheduled_at: datetime | None = None


class PostUpdate(BaseModel):
    title: str | None = Field(default=None, min_length=1, max_length=200)
    subtitle: str | None = Field(default=None, max_length=300)
    body: str | None = Field(default=None, max_length=MAX_BODY)
    audience: Literal["everyone", "paid"] | None = None
    send_email: bool | None = None


class PublishRequest(BaseModel):
    scheduled_at: datetime | None = None
    """Empty: publish now; a future time: schedule."""


class PostOut(BaseModel):
    id: IdStr
    publication_id: IdStr
    author_id: IdStr
    title: str
    subtitle: str
    audience: str
    status: str
    scheduled_at: datetime | None
    published_at: datetime | None
    email_status: str
    html: str
    """The whole post, or the preview when `paywalled`."""
    paywalled: bool
    url: str


class SubscriptionOut(BaseModel):
    publication_id: IdStr
    status: str
    email_enabled: bool
    created_at: datetime
    paid_plan: str | None = None
    paid_status: str | None = None
    paid_until: datetime | None = None


class Preferences(BaseModel):
    email_enabled: bool


class PaidSubscribe(BaseModel):
    plan: Literal["monthly", "annual"]


class PaidSubscriptionOut(BaseModel):
    id: IdStr
    publication_id: IdStr
    plan: str
    amount: int
    currency: str
    status: str
    current_period_end: datetime


class CardIn(BaseModel):
    number: str = Field(pattern=r"^[0-9]{12,19}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvc: str = Field(pattern=r"^[0-9]{3,4}$")


class TopUpIn(BaseModel):
    amount: int = Field(ge=100, le=10_000_000)
    card: CardIn


class WalletOut(BaseModel):
    balance: int
    currency: str = "USD"


class ContributionIn(BaseModel):
    amount: int = Field(ge=100, le=10_000_000)


class ChargeOut(BaseModel):
    id: IdStr
    kind: str
    amount: int
    fee: int


class GrowthOut(BaseModel):
    day: date
    subscribed: int
    unsubscribed: int


class PostStatsOut(BaseModel):
    post_id: IdStr
    title: str
    sent: int
    opened: int
    clicked: int
    open_rate: float
    click_rate: float


class AnalyticsOut(BaseModel):
    subscribers: int
    paid_subscribers: int
    earnings: int
    growth: list[GrowthOut]
    posts: list[PostStatsOut]


class BounceOut(BaseModel):
    delivery_id: IdStr
    action: str
    status: str
    hard: bool
