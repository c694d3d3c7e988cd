"""Kite Connect's login flow and access tokens.

A developer (a Zerodha client) registers an app (`create_app`: api_key + api_secret + redirect
URL). A user signed in to Casebook opens `/connect/login?api_key=…&v=3`; we issue a one-time
`request_token` (5 minutes) and redirect to the app's URL with `request_token=…&action=login&
status=success`. The app exchanges it at `POST /session/token` with
`checksum = sha256(api_key + request_token + api_secret)` for an `access_token`, then sends
`Authorization: token api_key:access_token`. Access tokens are stored as sha256 and expire at
the next 06:00 IST, as Kite's do. Comparisons of secrets are constant-time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, InvalidInput
from casebook.systems.zerodha.models import ZerodhaApp, ZerodhaRequestToken, ZerodhaSession

IST = ZoneInfo("Asia/Kolkata")
REQUEST_TOKEN_TTL = timedelta(minutes=5)


class TokenError(Forbidden):
    """Kite's TokenException (403)."""

    type_ = "zerodha/token"
    title = "Invalid or expired token"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


async def create_app(
    session: AsyncSession, user_id: int, name: str, redirect_url: str
) -> ZerodhaApp:
    """A new Kite Connect app of `user_id`. InvalidInput for a bad name or URL."""
    if not 1 <= len(name) <= 80:
        raise InvalidInput("name is 1-80 characters.", field="name")
    if not redirect_url.startswith(("http://", "https://")) or len(redirect_url) > 500:
        raise InvalidInput("redirect_url is an http(s) URL.", field="redirect_url")
    app = ZerodhaApp(
        api_key=secrets.token_hex(8),
        api_secret=secrets.token_hex(16),
        user_id=user_id,
        name=name,
        redirect_url=redirect_url,
    )
    session.add(app)
    await session.flush()
    return app


async def issue_request_token(session: AsyncSession, api_key: str, user_id: int) -> str:
    """A one-time request_token for `user_id` logging in to app `api_key`; TokenError for an
    unknown app."""
    if await session.get(ZerodhaApp, api_key) is None:
        raise TokenError("Invalid api_key.")
    token = secrets.token_urlsafe(24)
    session.add(
        ZerodhaRequestToken(
            token=token,
            api_key=api_key,
            user_id=user_id,
            expires_at=utcnow() + REQUEST_TOKEN_TTL,
            used_at=None,
        )
    )
    await session.flush()
    return token


def _next_expiry(now: datetime) -> datetime:
    local = now.astimezone(IST)
    expiry = datetime.combine(local.date(), time(6, 0), IST)
    if expiry <= local:
        expiry += timedelta(days=1)
    return expiry


async def exchange(
    session: AsyncSession, api_key: str, request_token: str, checksum: str
) -> tuple[ZerodhaApp, int, str]:
    """(app, user id, access_token) for a valid, unused request_token and checksum; TokenError
    otherwise. The token is consumed by one conditional UPDATE, so two exchanges of one token
    cannot both succeed."""
    app = await session.get(ZerodhaApp, api_key)
    if app is None:
        raise TokenError("Invalid api_key.")
    expected = _sha(api_key + request_token + app.api_secret)
    if not hmac.compare_digest(expected, checksum):
        raise TokenError("Invalid checksum.")
    now = utcnow()
    consumed = await session.execute(
        update(ZerodhaRequestToken)
        .where(
            ZerodhaRequestToken.token == request_token,
            ZerodhaRequestToken.api_key == api_key,
            ZerodhaRequestToken.used_at.is_(None),
            ZerodhaRequestToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(ZerodhaRequestToken.user_id)
    )
    user_id = consumed.scalar()
    if user_id is None:
        raise TokenError("Token is invalid or has expired.")
    access_token = secrets.token_urlsafe(24)
    session.add(
        ZerodhaSession(
            token_hash=_sha(access_token),
            api_key=api_key,
            user_id=user_id,
            created_at=now,
            expires_at=_next_expiry(now),
        )
    )
    await session.flush()
    return app, int(user_id), access_token


async def authenticate(session: AsyncSession, authorization: str | None) -> tuple[str, int]:
    """(api_key, user id) of `Authorization: token api_key:access_token`; TokenError."""
    if not authorization or not authorization.startswith("token "):
        raise TokenError("Missing or invalid Authorization header (token api_key:access_token).")
    api_key, _, access_token = authorization[6:].partition(":")
    found = await session.get(ZerodhaSession, _sha(access_token)) if access_token else None
    if found is None or found.api_key != api_key or found.expires_at <= utcnow():
        raise TokenError("Incorrect `api_key` or `access_token`.")
    return api_key, found.user_id


async def invalidate(session: AsyncSession, api_key: str, access_token: str) -> bool:
    """Log the session out; True if it existed."""
    found = await session.get(ZerodhaSession, _sha(access_token))
    if found is None or found.api_key != api_key:
        return False
    await session.delete(found)
    return True
