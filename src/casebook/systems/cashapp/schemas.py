"""Request and response bodies of `/api/cashapp`. Amounts are integer cents (USD)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from casebook.platform.ids import IdStr
from casebook.systems.cashapp.models import MAX_MERCHANT_ID, MAX_NOTE

MAX_TRANSFER = 1_000_000_00
"""Largest single payment, top-up or cash-out: one million dollars, in cents."""

Cents = Annotated[int, Field(gt=0, le=MAX_TRANSFER, description="Amount in cents (USD).")]
Handle = Annotated[
    str,
    Field(
        min_length=2,
        max_length=254,
        description="Whom: a $cashtag, an E.164 phone number (+15551234567) or an e-mail.",
    ),
]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileIn(Strict):
    cashtag: str = Field(
        pattern=r"^\$?[A-Za-z0-9]{1,20}$", description="$ and 1-20 letters or digits."
    )
    phone: str | None = Field(default=None, pattern=r"^\+[1-9][0-9]{7,14}$")
    email: EmailStr | None = None
    is_business: bool = False


class ProfileOut(BaseModel):
    user_id: IdStr
    cashtag: str
    phone: str | None
    email: str | None
    is_business: bool
    created_at: datetime


class PartyOut(BaseModel):
    user_id: IdStr
    cashtag: str
    display_name: str
    is_business: bool


class BalanceOut(BaseModel):
    user_id: IdStr
    currency: str
    balance: int = Field(description="Posted balance, cents.")
    held: int = Field(description="Reserved by card authorizations not yet captured.")
    available: int = Field(description="What may be spent now: balance less held.")


class AmountIn(Strict):
    amount: Cents


class PaymentIn(Strict):
    to: Handle
    amount: Cents
    note: str = Field(default="", max_length=MAX_NOTE)


class RequestIn(Strict):
    from_: Handle = Field(alias="from")
    amount: Cents
    note: str = Field(default="", max_length=MAX_NOTE)


class PaymentOut(BaseModel):
    id: IdStr
    kind: str
    direction: str = Field(description="`in` or `out` for the caller.")
    payer: PartyOut | None
    payee: PartyOut | None
    amount: int
    currency: str
    note: str
    status: str
    created_at: datetime
    resolved_at: datetime | None


class ActivityOut(BaseModel):
    transfer_id: IdStr
    kind: str
    description: str
    amount: int
    held: int
    balance: int
    created_at: datetime


class CardOut(BaseModel):
    id: IdStr
    last4: str
    exp_month: int
    exp_year: int
    status: str
    boost_id: str | None


class IssuedCardOut(CardOut):
    pan: str = Field(description="The full card number, shown this once and never stored.")
    cvv: str = Field(description="The security code, shown this once.")


class BoostOut(BaseModel):
    id: str
    merchant_id: str
    title: str
    percent: float
    max_discount: int


class BoostIn(Strict):
    boost_id: str = Field(min_length=1, max_length=32)


class PurchaseOut(BaseModel):
    id: IdStr
    merchant_id: str
    merchant_name: str
    amount: int
    discount: int
    charged: int = Field(description="What the wallet pays (or holds): amount less discount.")
    boost_id: str | None
    status: str
    decline_reason: str | None
    captured_amount: int | None
    created_at: datetime


class MerchantOut(BaseModel):
    id: str
    name: str
    mcc: str


class TerminalAuthorizationIn(Strict):
    merchant_id: str = Field(min_length=1, max_length=MAX_MERCHANT_ID)
    pan: str = Field(pattern=r"^[0-9]{12,19}$")
    exp_month: int = Field(ge=1, le=12)
    exp_year: int = Field(ge=2000, le=2100)
    cvv: str | None = Field(default=None, pattern=r"^[0-9]{3}$")
    amount: Cents


class TerminalCaptureIn(Strict):
    merchant_id: str = Field(min_length=1, max_length=MAX_MERCHANT_ID)
    amount: Cents | None = None


class TerminalReverseIn(Strict):
    merchant_id: str = Field(min_length=1, max_length=MAX_MERCHANT_ID)


class NetworkResponseOut(BaseModel):
    network_ref: str
    approved: bool
    code: str = Field(description="ISO 8583 response code: 00 approved, 51 insufficient funds…")
    reason: str
    amount: int
    discount: int
