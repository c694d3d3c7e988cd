"""Request and response bodies of the URL Shortener API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import AliasChoices, AwareDatetime, BaseModel, ConfigDict, Field

from casebook.platform.ids import IdStr

MAX_SUBMITTED_URL = 8192
"""Longer bodies are refused by validation; URLs up to it get the safety rule's explanation."""

RedirectType = Literal[301, 302]


class LinkCreate(BaseModel):
    """A link to create. `url` also accepts the seed's names `long_url`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str = Field(
        min_length=1,
        max_length=MAX_SUBMITTED_URL,
        validation_alias=AliasChoices("url", "long_url"),
        description="The long URL (http or https, at most 2,048 characters once normalised).",
        examples=["https://example.com/a/very/long/path?with=query"],
    )
    alias: str | None = Field(
        None,
        max_length=64,
        description="A custom alias, 3-32 of A-Z a-z 0-9 - _; case-insensitive (stored lower "
        "case). Signed-in callers only.",
        examples=["spring-sale"],
    )
    domain: str | None = Field(
        None,
        max_length=253,
        description="One of your verified custom domains; the main short host when omitted.",
    )
    redirect_type: RedirectType = Field(
        302, description="302 (default) counts every click; 301 is cached by browsers."
    )
    expires_at: AwareDatetime | None = Field(None, description="When the link stops working.")
    inactivity_days: int | None = Field(
        None,
        ge=1,
        le=36_500,
        description="Expire after this many days without a click (default: the service's, 365).",
    )


class LinkUpdate(BaseModel):
    """Fields to change; omitted fields stay. `expires_at`/`inactivity_days` null clears them."""

    model_config = ConfigDict(extra="forbid")

    url: str | None = Field(None, min_length=1, max_length=MAX_SUBMITTED_URL)
    redirect_type: RedirectType | None = None
    expires_at: AwareDatetime | None = None
    inactivity_days: int | None = Field(None, ge=1, le=36_500)


class LinkOut(BaseModel):
    id: IdStr
    code: str
    short_url: str
    url: str
    domain: str | None
    is_alias: bool
    redirect_type: int
    created_at: datetime
    updated_at: datetime
    expires_at: datetime | None
    inactivity_days: int | None
    expired: bool
    """True when the link answers 410 (explicit expiry or inactivity)."""
    click_count: int
    """Clicks recorded so far (flushed about once a second)."""
    last_click_at: datetime | None


class Expansion(BaseModel):
    code: str
    short_url: str
    url: str
    redirect_type: int
    expires_at: datetime | None


class Bucket(BaseModel):
    start: datetime
    clicks: int


class Count(BaseModel):
    value: str | None
    """The referrer host, country code or agent family; null when unknown (e.g. no referrer)."""
    clicks: int


class Analytics(BaseModel):
    code: str
    short_url: str
    bucket: Literal["hour", "day"]
    since: datetime
    until: datetime
    total_clicks: int
    """Clicks ever recorded for the link."""
    clicks_in_range: int
    series: list[Bucket]
    referrers: list[Count]
    countries: list[Count]
    agents: list[Count]


class DomainCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1, max_length=253, examples=["go.example.com"])


class DomainOut(BaseModel):
    id: IdStr
    host: str
    verified: bool
    verified_at: datetime | None
    created_at: datetime
    verification_token: str
    txt_name: str
    """Either publish `verification_token` as a TXT record at this DNS name…"""
    proof_url: str
    """…or serve it as the body of this URL; then call verify."""
