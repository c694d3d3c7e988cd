"""URL Shortener tables (`urlshortener_*`).

- `urlshortener_links`: one row per short link. `(domain_id, code)` is unique: `domain_id` 0 is the
  main short host, otherwise the id of a verified custom domain. Deleted links stay as tombstones
  (`deleted_at` set, target forgotten) so a shared alias can never be re-pointed by someone else.
- `urlshortener_click_counts`: clicks rolled up per (link, hour, referrer host, country, agent),
  added to in batches off the redirect path.
- `urlshortener_domains`: custom short domains and their verification state.
- `urlshortener_counters`: the code counter whose blocks processes reserve atomically.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow

MAX_URL_LENGTH = 2048
MAX_CODE_LENGTH = 32
MAX_HOST_LENGTH = 253
MAIN_DOMAIN = 0
"""`domain_id` of links on the main short host."""


class Link(Base):
    __tablename__ = "urlshortener_links"
    __table_args__ = (
        UniqueConstraint("domain_id", "code"),
        Index("ix_urlshortener_links_owner_id_id", "owner_id", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    domain_id: Mapped[int] = mapped_column(default=MAIN_DOMAIN)
    code: Mapped[str] = mapped_column(String(MAX_CODE_LENGTH))
    is_alias: Mapped[bool] = mapped_column(Boolean, default=False)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    """The user who owns the link; NULL for anonymous links, which nobody can manage."""
    target_url: Mapped[str] = mapped_column(String(MAX_URL_LENGTH))
    redirect_type: Mapped[int] = mapped_column(SmallInteger, default=302)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime | None]
    inactivity_days: Mapped[int | None]
    """Per-link inactivity period; NULL means the global default."""
    last_click_at: Mapped[datetime | None]
    click_count: Mapped[int] = mapped_column(default=0, server_default=text("0"))
    deleted_at: Mapped[datetime | None]


class ClickCount(Base):
    """Clicks of one link in one UTC hour from one (referrer host, country, agent family).

    Analytics only ever ask for clicks per hour or day and the top referrers, countries and
    agents over a range, so clicks are stored rolled up, as analytics stores do, rather than one
    row per click: a flush writes one row per distinct key of its batch (an upsert adding to
    `clicks`), so its cost and the table's growth follow the variety of the traffic, not its
    volume. The key columns use '' for "none" (a unique key cannot rely on NULLs being equal).
    """

    __tablename__ = "urlshortener_click_counts"

    link_id: Mapped[int] = mapped_column(
        ForeignKey("urlshortener_links.id", ondelete="CASCADE"), primary_key=True
    )
    hour: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    """Hours since the Unix epoch, so SQL buckets by hour (`hour`) or day (`hour / 24`)."""
    referrer_host: Mapped[str] = mapped_column(String(MAX_HOST_LENGTH), primary_key=True)
    """The Referer's host, lower case; '' when there was none (or it did not parse)."""
    country: Mapped[str] = mapped_column(String(2), primary_key=True)
    """ISO 3166 alpha-2 code from the trusted edge header; '' when unknown."""
    agent: Mapped[str] = mapped_column(String(16), primary_key=True)
    """User-agent family (chrome, firefox, safari, edge, opera, bot, cli, other)."""
    clicks: Mapped[int] = mapped_column(BigInteger)


class Domain(Base):
    __tablename__ = "urlshortener_domains"
    __table_args__ = (
        UniqueConstraint("owner_id", "host"),
        # Anyone may claim a host; only one claim can ever be verified, and the database decides
        # the race between two verifications.
        Index(
            "uq_urlshortener_domains_verified_host",
            "host",
            unique=True,
            sqlite_where=text("verified_at IS NOT NULL"),
            postgresql_where=text("verified_at IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    owner_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    host: Mapped[str] = mapped_column(String(MAX_HOST_LENGTH))
    verification_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None]


class CodeCounter(Base):
    __tablename__ = "urlshortener_counters"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    next_value: Mapped[int]


def dialect_insert(dialect: str, model: type[Base]) -> postgresql.Insert | sqlite.Insert:
    """An INSERT into `model` in `dialect` ("sqlite" or "postgresql"), which offers
    `on_conflict_do_nothing` on both."""
    if dialect == "sqlite":
        return sqlite.insert(model)
    return postgresql.insert(model)
