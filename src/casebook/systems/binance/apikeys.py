"""Binance API keys: an `apiKey` (public, sent as `X-MBX-APIKEY`) and a `secretKey` the client
signs requests with (HMAC-SHA256). The server must recompute the HMAC, so the secret is stored
sealed (AES-256-GCM under a key derived from the platform's signing key, the api key as
associated data), never in clear; it is shown once, at creation.

Costs: `create` O(log n); `resolve` one indexed read, O(log n).
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import LargeBinary, String, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from casebook.platform.db import Base, utcnow
from casebook.platform.errors import InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.binance import keys

KEY_LENGTH = 64
MAX_KEYS_PER_USER = 30
_NONCE = 12


class BinanceApiKey(Base):
    __tablename__ = "binance_api_keys"

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    user_id: Mapped[int] = mapped_column(index=True)
    api_key: Mapped[str] = mapped_column(String(KEY_LENGTH), unique=True)
    sealed_secret: Mapped[bytes] = mapped_column(LargeBinary)
    label: Mapped[str] = mapped_column(String(64))
    can_trade: Mapped[bool]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


@dataclass(frozen=True)
class ResolvedKey:
    id: int
    user_id: int
    secret: str
    can_trade: bool


def _box(signing_key: str) -> AESGCM:
    return AESGCM(keys.derived_key(signing_key, "api-secret-encryption"))


def _seal(signing_key: str, api_key: str, secret: str) -> bytes:
    nonce = os.urandom(_NONCE)
    return nonce + _box(signing_key).encrypt(nonce, secret.encode(), api_key.encode())


def _unseal(signing_key: str, api_key: str, sealed: bytes) -> str | None:
    try:
        return (
            _box(signing_key).decrypt(sealed[:_NONCE], sealed[_NONCE:], api_key.encode()).decode()
        )
    except (InvalidTag, ValueError):
        return None


def _token() -> str:
    # Binance keys are 64 alphanumeric characters.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    return "".join(secrets.choice(alphabet) for _ in range(KEY_LENGTH))


async def create(
    session: AsyncSession, signing_key: str, user_id: int, label: str, can_trade: bool
) -> tuple[BinanceApiKey, str]:
    """A new key pair for the user: (row, secretKey in clear, shown once). InvalidInput past
    MAX_KEYS_PER_USER live keys."""
    live = await session.scalars(
        select(BinanceApiKey.id).where(
            BinanceApiKey.user_id == user_id, BinanceApiKey.revoked_at.is_(None)
        )
    )
    if len(list(live)) >= MAX_KEYS_PER_USER:
        raise InvalidInput(f"A user holds at most {MAX_KEYS_PER_USER} API keys.")
    api_key, secret = _token(), _token()
    row = BinanceApiKey(
        id=new_id(),
        user_id=user_id,
        api_key=api_key,
        sealed_secret=_seal(signing_key, api_key, secret),
        label=label,
        can_trade=can_trade,
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row, secret


async def list_keys(session: AsyncSession, user_id: int) -> list[BinanceApiKey]:
    """The user's live keys, newest first."""
    return list(
        await session.scalars(
            select(BinanceApiKey)
            .where(BinanceApiKey.user_id == user_id, BinanceApiKey.revoked_at.is_(None))
            .order_by(BinanceApiKey.id.desc())
        )
    )


async def revoke(session: AsyncSession, user_id: int, key_id: int) -> None:
    """Revoke one of the user's keys; NotFound for another user's or an unknown key."""
    done = await session.execute(
        update(BinanceApiKey)
        .where(
            BinanceApiKey.id == key_id,
            BinanceApiKey.user_id == user_id,
            BinanceApiKey.revoked_at.is_(None),
        )
        .values(revoked_at=utcnow())
    )
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise NotFound(f"There is no API key {key_id}.")


async def resolve(session: AsyncSession, signing_key: str, api_key: str) -> ResolvedKey | None:
    """The live key `api_key` with its secret, or None."""
    row = await session.scalar(
        select(BinanceApiKey).where(
            BinanceApiKey.api_key == api_key, BinanceApiKey.revoked_at.is_(None)
        )
    )
    if row is None:
        return None
    secret = _unseal(signing_key, api_key, row.sealed_secret)
    if secret is None:
        return None
    return ResolvedKey(row.id, row.user_id, secret, row.can_trade)
