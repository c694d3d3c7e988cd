"""Tables of the shared identity: users, refresh-token families and API keys (prefix `auth_`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.ids import new_id


class User(Base):
    __tablename__ = "auth_users"

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    """Lower-cased and validated; the login name."""
    display_name: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))
    """argon2id PHC string (parameters, salt and hash)."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """One refresh token. Tokens rotated from one login share a `family_id`.

    A token is live while `used_at`, `revoked_at` are null and `expires_at` is ahead. Presenting
    a token whose `used_at` is set means it was stolen or replayed: the whole family is revoked.
    """

    __tablename__ = "auth_refresh_tokens"

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    family_id: Mapped[int] = mapped_column(index=True)
    user_id: Mapped[int] = mapped_column(
        ForeignKey("auth_users.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the token; the token itself is never stored."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class ApiKey(Base):
    """A long-lived credential of one user, limited to `scopes`. Revoked keys are kept for audit."""

    __tablename__ = "auth_api_keys"
    __table_args__ = (Index("ix_auth_api_keys_user_id_id", "user_id", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True, default=new_id)
    user_id: Mapped[int] = mapped_column(ForeignKey("auth_users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))
    """The key's first characters (`cbk_` + 8), not secret, shown so people can tell keys apart."""
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    """Hex SHA-256 of the key; the key itself is shown once and never stored."""
    scopes: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None]
    """Updated at most once a minute per key, so using a key is not a write per request."""
    revoked_at: Mapped[datetime | None]
