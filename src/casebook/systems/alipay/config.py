"""Alipay's own settings (`CASEBOOK_ALIPAY_*` environment variables): every limit it enforces."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

CURRENCY = "CNY"
"""Every amount is in fen (1/100 yuan)."""
MAX_AMOUNT = 10_000_000_000
"""Largest single money movement: 100 million yuan, in fen."""


class AlipaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_ALIPAY_", extra="ignore")

    qr_default_ttl_seconds: int = Field(300, ge=10, le=86_400)
    """How long a merchant's QR code can be paid when the merchant does not say."""
    qr_max_ttl_seconds: int = Field(86_400, ge=10, le=7 * 86_400)
    payment_hold_seconds: int = Field(900, ge=10, le=86_400)
    """How long an initiated (not yet verified) payment reserves the payer's funds."""
    withdrawal_hold_seconds: int = Field(7 * 86_400, ge=60, le=30 * 86_400)
    """How long a withdrawal's hold waits for the bank; longer than a settlement cycle, so a
    bank confirmation that our side missed shows up in reconciliation before the hold lapses."""
    fund_annual_yield_bp: int = Field(180, ge=0, le=5_000)
    """The money-market fund's annualised yield in basis points (1.80 %), paid daily."""
    bank_opening_balance_max: int = Field(100_000_000, ge=0)
    """Largest opening balance of a sandbox bank account (1 million yuan)."""
    bank_latency_seconds: float = Field(0.0, ge=0, le=5)
    """Simulated round trip to the bank."""
    bank_failure_rate: float = Field(0.0, ge=0, le=1)
    """Share of bank calls that fail as if the bank were unreachable."""
