"""Hacker News settings (`CASEBOOK_HACKER_NEWS_*` environment variables).

Every threshold and limit the system enforces is stated here once. Defaults follow what Hacker
News is known to do (gravity 1.8, downvoting from 501 karma, flagging from 31 karma, "green"
accounts for their first two weeks); the penalties are this implementation's choices, named so a
deployment can tune them.
"""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HackerNewsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_HACKER_NEWS_", extra="ignore")

    gravity: float = Field(1.8, gt=0, le=10)
    """Exponent of the age term in rank = (score - 1) / (age_hours + 2) ** gravity x penalty."""
    rank_window_hours: float = Field(72.0, gt=0)
    """Stories older than this leave the ranked lists (their rank is near zero anyway)."""
    rerank_interval_seconds: float = Field(30.0, gt=0)
    """How often the ranked lists are rebuilt from the database (ages move on; a bus message
    another process published and this one missed is healed)."""

    no_url_penalty: float = Field(0.4, gt=0, le=1)
    """Rank factor for text stories that are neither Ask HN nor Show HN."""
    flag_penalty: float = Field(0.8, gt=0, le=1)
    """Rank factor per flag a live story carries (flags push a story down before they kill it)."""
    penalized_domains: list[str] = Field(default_factory=list)
    domain_penalty: float = Field(0.25, gt=0, le=1)
    """Rank factor for links to `penalized_domains` (and their subdomains)."""

    downvote_karma: int = Field(501, ge=0)
    """Karma a user needs before they may downvote."""
    flag_karma: int = Field(31, ge=0)
    """Karma a user needs before they may flag."""
    kill_flags: int = Field(4, ge=1)
    """Flags that kill an item: it leaves every list and shows as [flagged]."""

    dupe_window_days: float = Field(365.0, gt=0)
    """A URL submitted again within this window is refused as a duplicate of the first story."""

    new_account_days: float = Field(14.0, ge=0)
    """Accounts younger than this are "new" and get the stricter limits below."""
    new_stories_per_hour: int = Field(2, ge=1)
    new_comments_per_hour: int = Field(10, ge=1)
    stories_per_hour: int = Field(10, ge=1)
    comments_per_hour: int = Field(120, ge=1)
    votes_per_minute: int = Field(60, ge=1)
    flags_per_hour: int = Field(30, ge=1)

    edit_window_hours: float = Field(2.0, ge=0)
    """How long after posting an author may edit or delete their story or comment (HN: 2 h)."""

    max_comment_depth: int = Field(64, ge=1, le=200)
    list_size: int = Field(500, ge=1, le=500)
    """Ids in /v0/topstories and newstories (the official API answers up to 500)."""
    ask_show_size: int = Field(200, ge=1, le=500)
    """Ids in /v0/askstories and showstories (the official API answers up to 200)."""
