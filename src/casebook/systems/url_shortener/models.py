"""URL Shortener tables (`urlshortener_*`).

- `urlshortener_links`: one row per short link. `(domain_id, code)` is unique: `domain_id` 0 is the
  main short host, otherwise the id of a verified custom domain. Deleted links stay as tombstones
  (`deleted_at` set, target forgotten) so a shared alias can never be re-pointed by someone else.
- `urlshortener_clicks`: one row per recorded click, written in batches off the redirect path.
- `urlshortener_domains`: custom short domains and their verification state.
- `urlshortener_counters`: the code counter whose blocks processes reserve atomically.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
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


class Click(Base):
    __tablename__ = "urlshortener_clicks"
    __table_args__ = (Index("ix_urlshortener_clicks_link_id_hour", "link_id", "hour"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    link_id: Mapped[int] = mapped_column(ForeignKey("urlshortener_links.id", ondelete="CASCADE"))
    clicked_at: Mapped[datetime]
    hour: Mapped[int]
    """Hours since the Unix epoch, so SQL buckets by hour (`hour`) or day (`hour / 24`)."""
    referrer_host: Mapped[str | None] = mapped_column(String(MAX_HOST_LENGTH))
    country: Mapped[str | None] = mapped_column(String(2))
    agent: Mapped[str] = mapped_column(String(16))
    """User-agent family (chrome, firefox, safari, edge, opera, bot, cli, other)."""


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
