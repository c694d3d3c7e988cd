"""Request and response bodies of the Alipay API. Amounts are integer fen (CNY)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from casebook.platform.ids import IdStr
from casebook.systems.alipay.config import CURRENCY, MAX_AMOUNT

Amount = Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="Fen (1/100 yuan).")]
Username = Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9_]{2,31}$", examples=["li_lei"])]
Phone = Annotated[str, Field(pattern=r"^\+[1-9][0-9]{6,14}$", examples=["+8613800138000"])]
Handle = Annotated[
    str,
    Field(min_length=1, max_length=254, description="A username, phone (+…) or e-mail address."),
]
MerchantCategory = Literal["shop", "utility", "phone", "credit-card"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RegisterIn(Strict):
    username: Username
    email: str = Field(min_length=3, max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    phone: Phone


class ProfileIn(Strict):
    username: Username
    phone: Phone


class UserOut(BaseModel):
    id: IdStr
    username: str
    phone: str
    email: str | None = None


class LoginIn(Strict):
    username: str = Field(min_length=1, max_length=254, description="Username or e-mail.")
    password: str = Field(min_length=1, max_length=1024)


class TokenOut(BaseModel):
    access_token: str
    refresh_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class WalletOut(BaseModel):
    currency: str = CURRENCY
    balance: int
    """Posted fen."""
    available: int
    """Balance less money reserved by initiated payments and pending withdrawals."""
    held: int
    fund_holding: int


class MerchantIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    category: MerchantCategory = "shop"


class MerchantOut(BaseModel):
    id: IdStr
    name: str
    category: str
    balance: int
    created_at: datetime


class PaymentIn(Strict):
    amount: Amount
    recipient: IdStr = Field(description="The merchant's id.")
    description: str = Field("", max_length=200)


class PaymentOut(BaseModel):
    id: IdStr
    payer_id: IdStr
    merchant_id: IdStr
    amount: int
    currency: str = CURRENCY
    description: str
    status: Literal["initiated", "completed", "cancelled", "expired"]
    qr_code_id: IdStr | None
    transaction_id: IdStr
    """The ledger transfer that settles (or cancels) the payment."""
    created_at: datetime
    hold_expires_at: datetime | None
    completed_at: datetime | None
    payer: str | None = None


class QrIn(Strict):
    amount: Amount | None = Field(None, description="Fixed amount; omit to let the payer enter it.")
    ttl_seconds: int | None = Field(None, ge=10, description="Lifetime (default 300 s).")


class QrOut(BaseModel):
    id: IdStr
    merchant_id: IdStr
    amount: int | None
    payload: str
    expires_at: datetime
    paid: bool
    payment_id: IdStr | None
    png_url: str
    svg_url: str


class QrPayIn(Strict):
    payload: str = Field(min_length=1, max_length=300, description="The scanned text.")
    amount: Amount | None = Field(None, description="Required when the code has no amount.")


class TransferIn(Strict):
    to: Handle
    amount: Amount
    memo: str = Field("", max_length=140)


class TransferOut(BaseModel):
    id: IdStr
    sender_id: IdStr
    recipient_id: IdStr
    amount: int
    currency: str = CURRENCY
    memo: str
    created_at: datetime


class BillIn(Strict):
    payer: Handle
    amount: Amount
    due_date: date
    description: str = Field("", max_length=200)


class BillOut(BaseModel):
    id: IdStr
    merchant_id: IdStr
    biller: str
    payer_id: IdStr
    category: str
    amount: int
    currency: str = CURRENCY
    due_date: date
    description: str
    status: Literal["due", "overdue", "paid"]
    paid_at: datetime | None
    created_at: datetime


class BankAccountIn(Strict):
    holder_name: str = Field(min_length=1, max_length=100)
    opening_balance: int = Field(0, ge=0, le=MAX_AMOUNT, description="Sandbox funds, in fen.")


class BankAccountOut(BaseModel):
    id: IdStr
    account_number: str
    holder_name: str
    bank_balance: int
    """The balance the bank reports for the account."""
    created_at: datetime


class BankOrderIn(Strict):
    bank_account_id: IdStr
    amount: Amount


class BankOrderOut(BaseModel):
    id: IdStr
    kind: Literal["top-up", "withdrawal"]
    bank_account_id: IdStr
    amount: int
    currency: str = CURRENCY
    status: Literal["pending", "completed", "failed"]
    reference: str
    bank_reference: str | None
    failure: str | None
    created_at: datetime
    completed_at: datetime | None


class FundOrderIn(Strict):
    amount: Amount


class FundOut(BaseModel):
    holding: int
    """Units; one unit is worth one yuan fen-for-fen, so this is also the value in fen."""
    value: int
    total_yield: int
    last_yield: int
    last_yield_day: date | None
    annual_yield_bp: int


class TransactionOut(BaseModel):
    transfer_id: IdStr
    kind: str
    status: Literal["pending", "completed", "released"]
    amount: int
    held: int
    counterparty: str
    balance: int
    created_at: datetime


class NotificationOut(BaseModel):
    id: IdStr
    kind: str
    message: str
    created_at: datetime
    read: bool
