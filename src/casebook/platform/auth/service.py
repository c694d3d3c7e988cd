"""Identity use cases: register, log in, rotate and revoke refresh tokens, manage API keys.

Plain async functions taking the `AsyncSession` of the caller's unit of work; the JSON API
(`auth/api.py`) and the web login pages call the same functions. Errors are `Problem`s.

Refresh-token rotation follows the OAuth 2.0 Security BCP: every refresh token is used once. It is
claimed by one conditional UPDATE (`used_at IS NULL`), so of two requests presenting the same token
exactly one wins, whatever the backend. Presenting a token that was already used means two parties
hold it (a thief and the owner), so the whole family — every token descended from that login — is
revoked and both must log in again.
"""

from __future__ import annotations

import hashlib
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CursorResult, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth import passwords, tokens
from casebook.platform.auth.models import ApiKey, RefreshToken, User
from casebook.platform.auth.scopes import normalize_scopes
from casebook.platform.db import utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound, TooManyRequests, Unauthorized
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.platform.ratelimit import RateLimit, RateLimiter
from casebook.platform.settings import Settings

EMAIL_MAX_LENGTH = 254
NAME_MAX_LENGTH = 100
API_KEYS_NEWEST_FIRST = Keyset(ApiKey.id)
"""API keys list newest first; ids are time-ordered, so the id alone is the key."""


class InvalidEmail(InvalidInput):
    type_ = "invalid-email"
    title = "The e-mail address is not valid"


class InvalidName(InvalidInput):
    type_ = "invalid-name"
    title = "The name is not valid"


class EmailTaken(Conflict):
    type_ = "email-taken"
    title = "An account with this e-mail address exists"


class InvalidCredentials(Unauthorized):
    type_ = "invalid-credentials"
    title = "Wrong e-mail address or password"


class InvalidRefreshToken(Unauthorized):
    type_ = "invalid-refresh-token"
    title = "The refresh token is not valid"


class UnknownUser(Unauthorized):
    type_ = "unknown-user"
    title = "The account no longer exists"


class ApiKeyNotFound(NotFound):
    type_ = "api-key-not-found"
    title = "No such API key"


@dataclass(frozen=True)
class TokenPair:
    """What a login or refresh hands out. `expires_in` is the access token's lifetime in seconds."""

    access_token: str
    refresh_token: str
    expires_in: int


def normalize_email(email: str) -> str:
    """The validated, lower-cased address; raises `InvalidEmail`. No DNS lookup is made."""
    try:
        result = validate_email(email.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from exc
    normalized = result.normalized.lower()
    if len(normalized) > EMAIL_MAX_LENGTH:
        raise InvalidEmail(f"An e-mail address has at most {EMAIL_MAX_LENGTH} characters.")
    return normalized


def clean_name(value: str, what: str) -> str:
    """`value` stripped, 1 to 100 characters, no control characters; raises `InvalidName`."""
    name = unicodedata.normalize("NFC", value).strip()
    if not name or len(name) > NAME_MAX_LENGTH:
        raise InvalidName(f"The {what} must have 1 to {NAME_MAX_LENGTH} characters.")
    if any(unicodedata.category(ch).startswith("C") for ch in name):
        raise InvalidName(f"The {what} must not contain control characters.")
    return name


def _insert(session: AsyncSession, entity: type[Any]) -> Any:
    """An INSERT for the session's backend, which both spell with ON CONFLICT DO NOTHING."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    return module.insert(entity)


async def register_user(
    session: AsyncSession,
    email: str,
    password: str,
    display_name: str,
    *,
    settings: Settings | None = None,
) -> User:
    """Create an account. The password is hashed with the argon2 cost of `settings` (production
    strength when omitted; pass `platform.settings`).

    Raises `InvalidEmail`, `InvalidPassword`, `InvalidName` (422) or `EmailTaken` (409). Two
    concurrent registrations of one address cannot both succeed: the unique index decides.
    """
    address = normalize_email(email)
    name = clean_name(display_name, "display name")
    secret = passwords.check_password(password, address)
    password_hash = await passwords.hash_password(
        secret, passwords.HashCost.from_settings(settings)
    )
    stmt = (
        _insert(session, User)
        .values(email=address, display_name=name, password_hash=password_hash)
        .on_conflict_do_nothing(index_elements=[User.email])
        .returning(User)
    )
    user: User | None = (await session.scalars(stmt)).one_or_none()
    if user is None:
        raise EmailTaken(f"{address} already has an account.")
    return user


async def get_user(session: AsyncSession, user_id: int) -> User:
    """The user with `user_id`; raises `UnknownUser` (401) when the account is gone."""
    user = await session.get(User, user_id)
    if user is None:
        raise UnknownUser()
    return user


async def _throttle_login(
    limiter: RateLimiter, settings: Settings, email: str, client_ip: str | None
) -> None:
    """Count one attempt against the client's IP, then, if that allows it, the address.

    In that order so that attempts refused for their IP spend nothing of the addresses they
    name: one client spraying addresses cannot lock other people out of their accounts. Checking
    the keys one after the other (not both, then deciding) also keeps the admitted attempts exact
    when many race: every attempt the address admits already passed the IP.
    """
    limit = RateLimit.per_minute(settings.login_attempts_per_minute)
    # The address is hashed so the limiter's keys (in Redis, in cluster mode) hold no addresses.
    keys = ["auth:login:email:" + hashlib.sha256(email.encode()).hexdigest()[:32]]
    if client_ip:
        keys.insert(0, "auth:login:ip:" + client_ip)
    for key in keys:
        decision = await limiter.hit(key, limit)
        if not decision.allowed:
            raise TooManyRequests(
                decision.retry_after, "Too many login attempts; wait before trying again."
            )


def _login_name(email: str) -> str:
    """The address as registration stored it; a malformed one is kept (it matches nobody)."""
    try:
        return normalize_email(email)
    except InvalidEmail:
        return email.strip().lower()


async def authenticate(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    *,
    limiter: RateLimiter,
    client_ip: str | None,
) -> TokenPair:
    """Log in: check the password and start a new refresh-token family.

    Every attempt counts against `settings.login_attempts_per_minute` for the address and for
    `client_ip` (pass `platform.rate_limiter`); past either limit it raises `TooManyRequests`
    before any password work. A wrong password and an unknown address both cost one argon2
    verification and raise the same `InvalidCredentials`, so neither the answer nor its timing
    tells whether an account exists. A hash made with older parameters is upgraded on success.
    """
    address = _login_name(email)
    await _throttle_login(limiter, settings, address, client_ip)
    cost = passwords.HashCost.from_settings(settings)
    user = (await session.scalars(select(User).where(User.email == address))).one_or_none()
    if user is None:
        await passwords.burn_verification(password, cost)
        raise InvalidCredentials()
    if not await passwords.verify_password(user.password_hash, password, cost):
        raise InvalidCredentials()
    if passwords.needs_rehash(user.password_hash, cost):
        user.password_hash = await passwords.hash_password(
            passwords.normalize_password(password), cost
        )
    now = utcnow()
    return await _issue_tokens(session, settings, user.id, family_id=new_id(), now=now)


async def _issue_tokens(
    session: AsyncSession, settings: Settings, user_id: int, *, family_id: int, now: datetime
) -> TokenPair:
    refresh_token = tokens.new_refresh_token()
    session.add(
        RefreshToken(
            family_id=family_id,
            user_id=user_id,
            token_hash=tokens.secret_digest(refresh_token),
            created_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    await session.flush()
    return TokenPair(
        access_token=tokens.issue_access_token(settings, user_id, now),
        refresh_token=refresh_token,
        expires_in=settings.access_token_ttl_seconds,
    )


async def _revoke_family(session: AsyncSession, family_id: int, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )


async def refresh(session: AsyncSession, settings: Settings, refresh_token: str) -> TokenPair:
    """Exchange a live refresh token for a new pair in the same family; the old one is used up.

    Raises `InvalidRefreshToken` for an unknown, expired or revoked token. For a token that was
    already used it first revokes the whole family and commits that (so the revocation survives
    the error response), then raises `InvalidRefreshToken`.
    """
    if not tokens.looks_like_refresh_token(refresh_token):
        raise InvalidRefreshToken()
    digest = tokens.secret_digest(refresh_token)
    now = utcnow()
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.used_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(used_at=now)
            .returning(RefreshToken.family_id, RefreshToken.user_id)
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if claimed is not None:
        family_id, user_id = claimed
        return await _issue_tokens(session, settings, user_id, family_id=family_id, now=now)
    token = (
        await session.scalars(select(RefreshToken).where(RefreshToken.token_hash == digest))
    ).one_or_none()
    if token is None:
        raise InvalidRefreshToken()
    if token.used_at is not None:
        await _revoke_family(session, token.family_id, now)
        await session.commit()
        raise InvalidRefreshToken(
            "This refresh token was already used; every session of that login is now revoked."
        )
    if token.revoked_at is not None:
        raise InvalidRefreshToken("The refresh token has been revoked.")
    raise InvalidRefreshToken("The refresh token has expired.")


async def logout(session: AsyncSession, refresh_token: str) -> None:
    """Revoke the family of `refresh_token` (its login on every device that refreshed from it).

    An unknown token is ignored, so logging out twice is harmless. Access tokens already issued
    stay valid until they expire (at most `access_token_ttl_seconds`).
    """
    if not tokens.looks_like_refresh_token(refresh_token):
        return
    digest = tokens.secret_digest(refresh_token)
    family_id = await session.scalar(
        select(RefreshToken.family_id).where(RefreshToken.token_hash == digest)
    )
    if family_id is not None:
        await _revoke_family(session, family_id, utcnow())


async def create_api_key(
    session: AsyncSession, user_id: int, name: str, scopes: Sequence[str]
) -> tuple[ApiKey, str]:
    """A new API key for `user_id`: the stored row and the plaintext key, which is never stored
    and cannot be shown again. Raises `InvalidName` or `InvalidScope` (422)."""
    plaintext = tokens.new_api_key()
    key = ApiKey(
        user_id=user_id,
        name=clean_name(name, "key name"),
        prefix=tokens.api_key_display_prefix(plaintext),
        key_hash=tokens.secret_digest(plaintext),
        scopes=normalize_scopes(scopes),
    )
    session.add(key)
    await session.flush()
    return key, plaintext


async def list_api_keys(
    session: AsyncSession, user_id: int, page: PageParams
) -> tuple[list[ApiKey], str | None]:
    """One page of `user_id`'s live (unrevoked) keys, newest first, and the next cursor."""
    stmt = select(ApiKey).where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    return await API_KEYS_NEWEST_FIRST.fetch(session, stmt, page)


async def revoke_api_key(session: AsyncSession, user_id: int, key_id: int) -> None:
    """Revoke key `key_id` of `user_id`; it stops working at once.

    Raises `ApiKeyNotFound` when there is no such live key of that user, so nobody can learn
    whether another user's key id exists.
    """
    result = await session.execute(
        update(ApiKey)
        .where(ApiKey.id == key_id, ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if cast(CursorResult[Any], result).rowcount != 1:
        raise ApiKeyNotFound()
