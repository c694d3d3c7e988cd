"""Merchant accounts, their API key pairs, and HTTP Basic authentication with them.

A merchant is a Casebook user (signed up and signed in through `/api/auth`) who opened a
merchant account here. The account has key pairs: a public `rzp_test_…` key id and a secret
shown once; the secret's SHA-256 is stored (it is 24 random bytes, so a fast hash is as good as
a slow one) and compared in constant time. The `/v1` API authenticates with
`Authorization: Basic base64(key_id:key_secret)`, as Razorpay's SDKs send it.

Ledger accounts per merchant and currency: `razorpay:merchant:<id>` / `balance` (LIABILITY:
what Razorpay owes the merchant, never negative). Money enters it from a gateway's clearing
account (`razorpay:gateway:<name>` / `clearing`, ASSET allowed negative: what the acquirer owes
Razorpay) and leaves it as fees (`razorpay` / `fees`, REVENUE) and refunds (back to the
clearing account).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import Account, AccountKind, Ledger
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.razorpay.errors import AuthenticationFailed, MerchantExists, NoMerchant
from casebook.systems.razorpay.models import ApiKeyPair, Merchant

KEY_ID_PREFIX = "rzp_test_"
MAX_KEYS_PER_MERCHANT = 10


@dataclass(frozen=True)
class MerchantCaller:
    """A merchant authenticated by one of its key pairs."""

    merchant_id: int
    key_id: str


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


async def open_merchant(session: AsyncSession, user_id: int, name: str) -> Merchant:
    """Open `user_id`'s merchant account; raises MerchantExists if it has one. O(log n)."""
    merchant = Merchant(id=new_id(), user_id=user_id, name=name)
    session.add(merchant)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise MerchantExists("You already have a merchant account.") from None
    return merchant


async def merchant_of_user(session: AsyncSession, user_id: int) -> Merchant:
    """The merchant account of `user_id`; raises NoMerchant."""
    merchant = await session.scalar(select(Merchant).where(Merchant.user_id == user_id))
    if merchant is None:
        raise NoMerchant("Open a merchant account first: POST /api/razorpay/merchants.")
    return merchant


async def create_key(session: AsyncSession, merchant_id: int) -> tuple[ApiKeyPair, str]:
    """A new key pair for the merchant: (row, plaintext secret, shown only now)."""
    live = await session.scalars(
        select(ApiKeyPair.id).where(
            ApiKeyPair.merchant_id == merchant_id, ApiKeyPair.revoked_at.is_(None)
        )
    )
    if len(list(live)) >= MAX_KEYS_PER_MERCHANT:
        raise MerchantExists(f"A merchant has at most {MAX_KEYS_PER_MERCHANT} live keys.")
    secret = secrets.token_urlsafe(18)
    key = ApiKeyPair(
        id=new_id(),
        merchant_id=merchant_id,
        key_id=KEY_ID_PREFIX + secrets.token_urlsafe(10).replace("-", "A").replace("_", "z"),
        secret_hash=_digest(secret),
    )
    session.add(key)
    await session.flush()
    return key, secret


async def revoke_key(session: AsyncSession, merchant_id: int, key_id: str) -> bool:
    """Revoke the merchant's key `key_id`; False when it has no such live key."""
    key = await session.scalar(
        select(ApiKeyPair).where(
            ApiKeyPair.merchant_id == merchant_id,
            ApiKeyPair.key_id == key_id,
            ApiKeyPair.revoked_at.is_(None),
        )
    )
    if key is None:
        return False
    key.revoked_at = utcnow()
    return True


def parse_basic(header: str | None) -> tuple[str, str]:
    """(key_id, secret) from an `Authorization: Basic …` header; raises AuthenticationFailed."""
    if not header:
        raise AuthenticationFailed("Send your key id and secret with HTTP Basic authentication.")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        raise AuthenticationFailed("Send your key id and secret with HTTP Basic authentication.")
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise AuthenticationFailed("The Basic credentials are not valid base64.") from None
    key_id, sep, secret = decoded.partition(":")
    if not sep or not key_id or len(key_id) > 40 or len(secret) > 200:
        raise AuthenticationFailed("The Basic credentials must be key_id:key_secret.")
    return key_id, secret


async def authenticate(session: AsyncSession, key_id: str, secret: str) -> MerchantCaller:
    """The merchant whose live key is (key_id, secret); raises AuthenticationFailed. One index
    probe; the comparison takes constant time whatever the secret."""
    row = (
        await session.execute(
            select(ApiKeyPair.merchant_id, ApiKeyPair.secret_hash).where(
                ApiKeyPair.key_id == key_id, ApiKeyPair.revoked_at.is_(None)
            )
        )
    ).one_or_none()
    expected = row.secret_hash if row is not None else _digest(secrets.token_hex(8))
    if not hmac.compare_digest(expected, _digest(secret)) or row is None:
        raise AuthenticationFailed("The API key id or secret is wrong, or the key was revoked.")
    return MerchantCaller(merchant_id=row.merchant_id, key_id=key_id)


async def basic_merchant(
    request: Request, platform: Annotated[Platform, Depends(get_platform)]
) -> MerchantCaller:
    """Dependency: the merchant authenticated by HTTP Basic key id and secret. Uses its own short
    session, so the endpoint's transaction does not start before its own work."""
    key_id, secret = parse_basic(request.headers.get("authorization"))
    async with platform.db.session() as session:
        return await authenticate(session, key_id, secret)


BasicMerchant = Annotated[MerchantCaller, Depends(basic_merchant)]


def merchant_owner(merchant_id: int) -> str:
    return f"razorpay:merchant:{merchant_id}"


async def balance_account(ledger: Ledger, merchant_id: int, currency: str) -> Account:
    return await ledger.open_account(
        owner=merchant_owner(merchant_id),
        name="balance",
        currency=currency,
        kind=AccountKind.LIABILITY,
    )


async def clearing_account(ledger: Ledger, gateway: str, currency: str) -> Account:
    return await ledger.open_account(
        owner=f"razorpay:gateway:{gateway}",
        name="clearing",
        currency=currency,
        kind=AccountKind.ASSET,
        allow_negative=True,
    )


async def fees_account(ledger: Ledger, currency: str) -> Account:
    return await ledger.open_account(
        owner="razorpay", name="fees", currency=currency, kind=AccountKind.REVENUE
    )


async def live_key_ids(session: AsyncSession, merchant_id: int) -> list[str]:
    return list(
        await session.scalars(
            select(ApiKeyPair.key_id)
            .where(ApiKeyPair.merchant_id == merchant_id, ApiKeyPair.revoked_at.is_(None))
            .order_by(ApiKeyPair.id)
        )
    )
