"""The URL Shortener's own settings (`CASEBOOK_URL_SHORTENER_*` environment variables).

Every limit the system enforces is stated here once, with the default the docs describe.
"""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from casebook.systems.url_shortener.domains import parse_nameserver


class ShortenerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CASEBOOK_URL_SHORTENER_", extra="ignore")

    code_block_size: int = Field(1000, ge=1, le=1_000_000)
    """Counter values a process reserves at once (one UPDATE per block)."""

    cache_ttl_seconds: float = Field(300.0, gt=0)
    """How long a resolved code stays cached (the seed's Flask-Caching used 300 s)."""
    negative_cache_ttl_seconds: float = Field(5.0, gt=0)
    """How long an unknown code is remembered as unknown, so floods of bad codes skip the DB."""
    local_cache_ttl_seconds: float = Field(1.0, gt=0)
    """With a shared (Redis) cache, each process also keeps entries it read in memory this long:
    hot codes then cost no network round trip, and another process's edit is seen within it."""
    cache_redelete_seconds: float = Field(1.0, gt=0)
    """After a write, a link's cache entry is dropped again this much later, in case a redirect
    that read the old row just before the commit cached it just after the first drop."""

    click_flush_interval_seconds: float = Field(1.0, gt=0)
    click_flush_keys: int = Field(10_000, ge=1)
    """Distinct buffered counters (link, hour, referrer, country, agent) that trigger a flush
    before the interval is up. A flush costs O(counters), not O(clicks), so this bounds one
    flush's work; the interval bounds what a crash loses."""
    click_buffer_limit: int = Field(100_000, ge=1)
    """Clicks kept in memory while the database is unreachable; older ones beyond it are dropped."""

    inactivity_days: int = Field(365, ge=1, le=36_500)
    """A link nobody clicked for this many days expires (the seed: one year of inactivity)."""

    blocked_domains: list[str] = Field(default_factory=list)
    """Target domains refused when shortening; each also blocks its subdomains."""
    short_hosts: list[str] = Field(default_factory=list)
    """Extra host names this deployment answers short links on (besides `base_url`'s host)."""

    shorten_per_minute_anonymous: int = Field(10, ge=1)
    """Shortens per minute from one IP address without signing in."""
    shorten_per_minute_ip: int = Field(120, ge=1)
    """Shortens per minute from one IP address, signed in."""
    shorten_per_minute_api_key: int = Field(600, ge=1)
    """Shortens per minute per API key (in addition to the per-IP limit)."""

    redirect_port: int | None = Field(None, ge=0, le=65535)
    """A port on which every process also answers short links from the redirect listener
    (`edge.py`); None: off. 0 picks a free port (tests)."""
    redirect_host: str = "127.0.0.1"

    domain_verify_timeout_seconds: float = Field(3.0, gt=0)
    dns_nameservers: list[str] = Field(default_factory=list)
    """DNS servers (`address[:port]`) asked for `_casebook-verify` TXT proofs; empty: the
    system resolver's (`/etc/resolv.conf`)."""
    domains_per_user: int = Field(20, ge=1)

    @field_validator("dns_nameservers")
    @classmethod
    def _nameservers(cls, value: list[str]) -> list[str]:
        for spec in value:
            parse_nameserver(spec)  # ValueError names the bad entry
        return value
