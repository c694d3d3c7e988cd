"""Razorpay's own settings (`CASEBOOK_RAZORPAY_*` environment variables), stated once."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RazorpaySettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_RAZORPAY_", extra="ignore")

    gateway_seed: int = 0
    """Seed of the simulated gateways' and the router's random draws (reproducible runs)."""
    gateway_latency_seconds: float = Field(0.0, ge=0, le=30)
    """Latency of every simulated gateway attempt (each gateway's knob can be changed apart)."""
    routing_window: int = Field(100, ge=1, le=10_000)
    """Recent attempts per (gateway, method, currency) the router scores a gateway by."""
    routing_timeout_seconds: float = Field(5.0, gt=0)
    """A gateway that has not answered within this is failed over."""
    routing_explore: float = Field(0.05, ge=0, le=1)
    """Share of payments first sent to a random eligible gateway, so recovered ones are noticed."""
    authorization_hold_seconds: int = Field(5 * 24 * 3600, ge=60)
    """An authorized payment not captured within this is released (Razorpay: 5 days)."""
    fee_basis_points: int = Field(200, ge=0, le=10_000)
    """Razorpay's fee on a captured payment (2 %), plus GST on the fee."""
    gst_basis_points: int = Field(1800, ge=0, le=10_000)
    webhook_attempts: int = Field(8, ge=1, le=50)
    """Deliveries of one event to one URL before it is marked failed."""
    webhook_backoff_seconds: float = Field(5.0, gt=0)
    """Wait after the first failed delivery; doubles after each further failure."""
    webhook_backoff_max_seconds: float = Field(3600.0, gt=0)
    webhook_timeout_seconds: float = Field(5.0, gt=0)
    webhooks_per_merchant: int = Field(10, ge=1)
    subscription_charge_attempts: int = Field(4, ge=1, le=20)
    """Failed charges of one cycle before a subscription is halted."""
    subscription_retry_seconds: float = Field(86_400.0, gt=0)
    """Wait after a cycle's first failed charge; doubles after each further failure."""
