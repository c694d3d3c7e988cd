"""Request and response bodies of `/api/robinhood`. Shares and dollars travel as decimal strings
(never floats): shares to 6 places (a micro-share), dollars and prices to 2 (a cent)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.ids import IdStr


class OnboardingIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    country: str = Field(min_length=2, max_length=2, pattern="^[A-Z]{2}$")
    tax_id: str = Field(min_length=9, max_length=9, pattern="^[0-9]{9}$", description="SSN")


class OnboardingOut(BaseModel):
    status: str
    reason: str
    legal_name: str
    tax_id_last4: str
    decided_at: datetime


class TransferIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    direction: Literal["deposit", "withdrawal"]
    amount: Decimal = Field(gt=0, le=Decimal("10000000"), decimal_places=2, description="USD")


class OrderIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    type: Literal["market", "limit"] = "market"
    shares: Decimal | None = Field(default=None, gt=0, le=10_000_000, decimal_places=6)
    dollars: Decimal | None = Field(default=None, gt=0, le=10_000_000, decimal_places=2)
    limit_price: Decimal | None = Field(default=None, gt=0, le=10_000_000, decimal_places=2)
    time_in_force: Literal["gtc", "day"] = "gtc"


class OrderOut(BaseModel):
    id: IdStr
    symbol: str
    side: str
    type: str
    time_in_force: str
    shares: str
    dollars: str | None
    limit_price: str | None
    filled_shares: str
    average_price: str | None
    amount: str
    """Dollars paid (buy) or received (sell); no commission."""
    commission: str
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


class OrderPage(BaseModel):
    orders: list[OrderOut]
    next_cursor: str | None


class PositionOut(BaseModel):
    symbol: str
    shares: str
    price: str
    value: str


class AccountOut(BaseModel):
    cash: str
    reserved: str
    equity: str
    total: str
    positions: list[PositionOut]


class QuoteOut(BaseModel):
    symbol: str
    name: str
    last_price: str | None
    bid: str | None
    ask: str | None


class NewsOut(BaseModel):
    id: IdStr
    headline: str
    body: str
    source: str
    published_at: datetime


class StockOut(QuoteOut):
    news: list[NewsOut]


class CandleOut(BaseModel):
    start: int
    open: str
    high: str
    low: str
    close: str
    volume: int


class WatchlistOut(BaseModel):
    symbols: list[QuoteOut]


class PointOut(BaseModel):
    at: datetime
    cash: str
    equity: str
    total: str


class StatementLineOut(BaseModel):
    transfer_id: IdStr
    code: str
    amount: str
    balance: str
    at: datetime
