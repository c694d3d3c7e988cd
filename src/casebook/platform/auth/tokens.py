"""Credentials as strings: JWT access tokens, opaque refresh tokens and API keys.

- Access token: a JWT signed HS256 with `settings.signing_key`, claims `sub` (user id as a
  string), `iat`, `exp`, `jti` and `typ="access"`. Verifying one needs no database: it is valid
  until it expires, which is why it lives only `settings.access_token_ttl_seconds`.
- Refresh token: 256 random bits, `cbr_` + base64url. Only its SHA-256 is stored.
- API key: 256 random bits, `cbk_` + base64url. Only its SHA-256 is stored, plus the first
  characters (`prefix`) so a person can tell keys apart.

SHA-256 without salt or stretching is the right hash for these two: they are random with 256 bits
of entropy, so there is nothing to guess and a lookup by hash stays one index probe.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import jwt

from casebook.platform.errors import Unauthorized
from casebook.platform.settings import Settings

ALGORITHM = "HS256"
ACCESS_TYPE = "access"
API_KEY_PREFIX = "cbk_"
REFRESH_TOKEN_PREFIX = "cbr_"
API_KEY_DISPLAY_LENGTH = 12
"""Characters of an API key kept in clear for display: `cbk_` plus 8 random characters."""
_RANDOM_BYTES = 32
_TOKEN_BODY_LENGTH = 43  # base64url of 32 bytes, unpadded
_API_KEY_LENGTH = len(API_KEY_PREFIX) + _TOKEN_BODY_LENGTH
_REFRESH_TOKEN_LENGTH = len(REFRESH_TOKEN_PREFIX) + _TOKEN_BODY_LENGTH


class InvalidAccessToken(Unauthorized):
    type_ = "invalid-token"
    title = "The access token is not valid"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    issued_at: datetime
    expires_at: datetime
    token_id: str


def issue_access_token(settings: Settings, user_id: int, now: datetime) -> str:
    """A signed access token for `user_id`, valid `settings.access_token_ttl_seconds` from `now`."""
    claims = {
        "sub": str(user_id),
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_seconds),
        "jti": uuid.uuid4().hex,
        "typ": ACCESS_TYPE,
    }
    return jwt.encode(claims, settings.signing_key, algorithm=ALGORITHM)


def decode_access_token(settings: Settings, token: str) -> AccessClaims:
    """The claims of a valid access token.

    Raises `InvalidAccessToken` when the signature, algorithm, expiry, type or subject is wrong.
    The algorithm is pinned to HS256, so a token claiming `alg: none` or RS256 is refused.
    """
    try:
        claims = jwt.decode(
            token,
            settings.signing_key,
            algorithms=[ALGORITHM],
            options={"require": ["sub", "iat", "exp", "jti", "typ"]},
        )
    except jwt.ExpiredSignatureError as exc:
        raise InvalidAccessToken("The access token has expired.") from exc
    except jwt.PyJWTError as exc:
        raise InvalidAccessToken() from exc
    subject = claims["sub"]
    if claims["typ"] != ACCESS_TYPE or not isinstance(subject, str) or not subject.isdigit():
        raise InvalidAccessToken()
    return AccessClaims(
        user_id=int(subject),
        issued_at=datetime.fromtimestamp(claims["iat"], tz=UTC),
        expires_at=datetime.fromtimestamp(claims["exp"], tz=UTC),
        token_id=str(claims["jti"]),
    )


def secret_digest(secret: str) -> str:
    """The hex SHA-256 of a refresh token or API key, as stored."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def new_refresh_token() -> str:
    return REFRESH_TOKEN_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(_RANDOM_BYTES)


def looks_like_api_key(value: str) -> bool:
    """Whether `value` has the shape of an API key (checked before touching the database)."""
    return value.startswith(API_KEY_PREFIX) and len(value) == _API_KEY_LENGTH


def looks_like_refresh_token(value: str) -> bool:
    return value.startswith(REFRESH_TOKEN_PREFIX) and len(value) == _REFRESH_TOKEN_LENGTH


def api_key_display_prefix(key: str) -> str:
    return key[:API_KEY_DISPLAY_LENGTH]
