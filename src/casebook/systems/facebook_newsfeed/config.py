"""Facebook Newsfeed settings (`CASEBOOK_FACEBOOK_NEWSFEED_*` environment variables).

The knobs of the system on top of the feed engine: where ad slots go, how often one person may
see the same ad, and how far back interests are learned from engagement.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class NewsfeedSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_FACEBOOK_NEWSFEED_", extra="ignore")

    ad_cadence: int = Field(5, ge=1, le=100)
    """An ad slot follows every `ad_cadence` posts of the home feed, counted across pages."""
    frequency_cap: int = Field(3, ge=1, le=1000)
    """Impressions of one ad one person may get per `frequency_window_hours`."""
    frequency_window_hours: float = Field(24.0, gt=0, le=24 * 365)
    learned_interest_window: int = Field(100, ge=0, le=1000)
    """Latest reactions and comments a person made whose posts' hashtags become learned
    interests."""
    declared_interest_weight: float = Field(3.0, gt=0, le=100)
    """Weight of a declared interest; each learned signal (a hashtag of a post one reacted to or
    commented on, an interest of an ad one clicked) weighs 1."""
