"""Request and response bodies of Zerodha's own endpoints (the Kite API has its own shapes)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from casebook.platform.ids import IdStr


class OnboardIn(BaseModel):
    legal_name: str = Field(min_length=2, max_length=120)
    pan: str = Field(min_length=10, max_length=10, description="Permanent Account Number")


class ClientOut(BaseModel):
    user_id: IdStr
    client_code: str
    account_id: IdStr
    legal_name: str
    onboarded_at: datetime


class FundsIn(BaseModel):
    amount: int = Field(ge=1, le=10**13, description="paise")


class FundsOut(BaseModel):
    total: int
    blocked: int
    available: int
    currency: str = "INR"


class AppIn(BaseModel):
    name: str = Field(min_length=1, max_length=80)
    redirect_url: str = Field(min_length=8, max_length=500)


class AppOut(BaseModel):
    api_key: str
    api_secret: str
    name: str
    redirect_url: str


class ChargeOut(BaseModel):
    order_id: IdStr
    product: str
    side: str
    turnover: int
    brokerage: int
    stt: int
    exchange_txn: int
    sebi: int
    stamp_duty: int
    gst: int
    total: int
    collected: int
    at: datetime


class OrderIn(BaseModel):
    symbol: str = Field(min_length=1, max_length=20)
    side: Literal["buy", "sell"]
    quantity: int = Field(ge=1, le=1_000_000)
    product: Literal["CNC", "MIS"] = "CNC"
    order_type: Literal["LIMIT", "MARKET"] = "LIMIT"
    price: int | None = Field(default=None, ge=1, le=10**12, description="paise")


class OrderOut(BaseModel):
    order_id: IdStr
    symbol: str
    side: str
    quantity: int
    product: str
    order_type: str
    price: int
    status: str
    """Kite's: OPEN, COMPLETE, CANCELLED, REJECTED."""
    filled_quantity: int
    average_price: int
    """paise per share (floor)."""
    created_at: datetime


class HoldingOut(BaseModel):
    symbol: str
    quantity: int
    t1_quantity: int
    average_price: int
    last_price: int
    pnl: int


class PositionOut(BaseModel):
    symbol: str
    product: str
    quantity: int
    buy_quantity: int
    buy_value: int
    sell_quantity: int
    sell_value: int
    last_price: int
    pnl: int


class PortfolioOut(BaseModel):
    holdings: list[HoldingOut]
    positions: list[PositionOut]


class InstrumentOut(BaseModel):
    symbol: str
    company_name: str
    instrument_id: IdStr
    last_price: int
    """paise"""
