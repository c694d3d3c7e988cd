"""Request and response bodies of `/api/stock-exchange`. Ids are strings in JSON (`IdStr`);
prices are decimal strings in the quote currency AND int ticks; quantities are int shares."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.ids import IdStr

Name = Field(min_length=1, max_length=100)


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


class SeedRegisterIn(_In):
    username: str = Field(min_length=3, max_length=254, description="Your e-mail address")
    password: str = Field(min_length=1, max_length=1024)


class SeedRegisterOut(BaseModel):
    message: str
    user_id: IdStr
    member_id: IdStr
    account_id: IdStr


class SeedLoginIn(_In):
    username: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class SeedLoginOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class MemberIn(_In):
    name: str = Name


class MemberOut(BaseModel):
    id: IdStr
    name: str
    kind: str
    created_at: datetime


class TraderIn(_In):
    user_id: IdStr


class TraderOut(BaseModel):
    user_id: IdStr
    member_id: IdStr
    role: str


class AccountIn(_In):
    label: str = Field(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9-]*$")


class AccountOut(BaseModel):
    account_id: IdStr
    member_id: IdStr
    label: str


class MeOut(BaseModel):
    user_id: IdStr
    member: MemberOut | None
    role: str | None
    accounts: list[AccountOut]
    kyc_status: str | None
    staff: bool


class KycIn(_In):
    legal_name: str = Name
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")
    document_number: str = Field(min_length=4, max_length=40, pattern=r"^[A-Za-z0-9-]+$")


class KycEventOut(BaseModel):
    action: str
    actor_id: IdStr
    note: str
    at: datetime


class KycOut(BaseModel):
    user_id: IdStr
    legal_name: str
    country: str
    status: str
    submitted_at: datetime
    decided_at: datetime | None
    trail: list[KycEventOut] = []


class KycDecisionIn(_In):
    verdict: Literal["verified", "rejected"]
    note: str = Field(default="", max_length=500)


class AmlFlagOut(BaseModel):
    id: IdStr
    transfer_id: IdStr
    account_id: IdStr
    rule: str
    detail: str
    status: str
    reviewed_by: IdStr | None
    review_note: str
    created_at: datetime


class AmlReviewIn(_In):
    decision: Literal["clear", "freeze"]
    note: str = Field(default="", max_length=500)


class AlertOut(BaseModel):
    id: IdStr
    kind: str
    symbol: str
    account_id: IdStr | None
    detail: dict[str, Any]
    created_at: datetime


class StaffIn(_In):
    user_id: IdStr


class SettlementLineOut(BaseModel):
    member_id: IdStr
    member_name: str
    symbol: str
    base_asset: str
    quote_asset: str
    securities_in: int
    securities_out: int
    net_securities: int
    cash_paid: int
    cash_received: int
    net_cash: int
    fees: int
    trades: int


class DailySummaryOut(BaseModel):
    symbol: str
    open: str
    high: str
    low: str
    close: str
    vwap: str
    volume: int
    quote_volume: int
    trades: int


class MemberActivityOut(BaseModel):
    member_id: IdStr
    member_name: str
    orders: int
    orders_by_status: dict[str, int]
    trades: int
    volume: int


class TransferIn(_In):
    asset: str = Field(pattern=r"^[A-Z0-9]{1,10}$")
    amount: int = Field(gt=0, le=10**15, description="Minor units (cents; shares for a stock)")
    account: str = Field(default="main", max_length=40)


class TransferOut(BaseModel):
    transfer_id: IdStr
    account_id: IdStr
    direction: str
    asset: str
    amount: int
    flagged: list[str]


class ListingIn(_In):
    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    company_name: str = Name
    reference_price: Decimal = Field(gt=0, max_digits=14, decimal_places=2)


class ListingOut(BaseModel):
    symbol: str
    company_name: str
    instrument_id: IdStr
    status: str
    reference_price: str | None


class OrderIn(_In):
    """The seed's order (`{"symbol":"AAPL","side":"buy","quantity":10,"price":150.50}`), plus the
    order types of the hard core."""

    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9]{0,9}$")
    side: Literal["buy", "sell"]
    quantity: int = Field(gt=0, le=10**9)
    price: Decimal | None = Field(default=None, gt=0, max_digits=14, decimal_places=2)
    type: Literal["limit", "market"] = "limit"
    time_in_force: Literal["gtc", "day", "ioc", "fok"] = "gtc"
    client_order_id: str | None = Field(default=None, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    account: str = Field(default="main", max_length=40)


class OrderOut(BaseModel):
    id: IdStr
    symbol: str
    account_id: IdStr
    client_order_id: str | None
    side: str
    type: str
    time_in_force: str
    price: str | None
    price_ticks: int
    quantity: int
    filled_quantity: int
    open_quantity: int
    average_price: str | None
    notional_filled: int
    fees_paid: int
    status: str
    reason: str | None
    created_at: datetime
    updated_at: datetime


class BalanceOut(BaseModel):
    asset: str
    total: int
    locked: int
    available: int


class AccountBalanceOut(BaseModel):
    account_id: IdStr
    label: str
    cash: list[BalanceOut]
    holdings: list[BalanceOut]
