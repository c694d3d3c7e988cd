"""Who is calling: FastAPI dependencies that turn request credentials into a `Principal`.

Credentials are tried in this order; the first one present decides:

1. `Authorization: Bearer <JWT access token>` — the user's own session, scopes `{"*"}`;
2. `Authorization: Bearer cbk_…` or `X-API-Key: cbk_…` — an API key, with the key's scopes;
3. the `casebook_access` cookie (HttpOnly, SameSite=Lax, set by the web login page) — a session.

A credential in a header that is wrong, expired or revoked is refused with 401 even where
authentication is optional: a client that sends credentials wants to know they failed. A stale
cookie, which the browser sends on its own, makes `optional_principal` anonymous instead.

Cost per request: a JWT is checked in memory (one HMAC). An API key is one SHA-256 and a dict
probe in this process's `ApiKeyCache`; only when the key is not cached (first use, or its entry
is older than `API_KEY_CACHE_SECONDS` = 1 s) is it one index probe on `auth_api_keys.key_hash`,
and then `last_used_at` is written at most once a minute per key, by a conditional UPDATE in the
same short transaction. Revocation therefore takes effect at once in the process that revoked
the key (`forget_api_keys`, called after the revocation commits) and within 1 s in every other.

Endpoints use them as

    async def create_link(principal: CurrentPrincipal, ...)   # any authenticated caller

    CanWrite = Annotated[Principal, Depends(require_scope("url-shortener:write"))]
    async def create_link(principal: CanWrite, ...)           # a session, or a key with the scope
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyCookie, APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import or_, select, update

from casebook.platform.auth import scopes as scope_rules
from casebook.platform.auth import tokens
from casebook.platform.auth.cookies import ACCESS_COOKIE
from casebook.platform.auth.models import ApiKey
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, Unauthorized

LAST_USED_RESOLUTION = timedelta(minutes=1)
"""`ApiKey.last_used_at` is at most this stale; it bounds key-usage writes to one a minute."""
API_KEY_CACHE_SECONDS = 1.0
"""How long a process trusts a key it looked up without asking the database again: the bound on
how late another process's revocation takes effect here."""
API_KEY_CACHE_ENTRIES = 10_000
_CACHE_STATE_KEY = "platform.auth.api-keys"

_bearer = HTTPBearer(auto_error=False, description="A JWT access token or a `cbk_` API key.")
_api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="A `cbk_` API key.")
_access_cookie = APIKeyCookie(
    name=ACCESS_COOKIE, auto_error=False, description="Set by the web login page."
)


class InvalidApiKey(Unauthorized):
    type_ = "invalid-api-key"
    title = "The API key is not valid"


class InsufficientScope(Forbidden):
    type_ = "insufficient-scope"
    title = "The credential lacks a required scope"


@dataclass(frozen=True)
class Principal:
    """The authenticated caller: a user, acting through a session or through one API key."""

    user_id: int
    scopes: frozenset[str]
    """`{"*"}` for the user's own session; the API key's scopes otherwise."""
    api_key_id: int | None = None

    def has_scope(self, scope: str) -> bool:
        """Whether this principal may act under `scope`; `*` and parent scopes grant it."""
        return scope_rules.grants(self.scopes, scope)

    @property
    def is_session(self) -> bool:
        """True for a logged-in user (token or cookie), False for an API key."""
        return self.api_key_id is None


def client_ip(request: Request) -> str | None:
    """The caller's IP address as the ASGI server reports it (behind a proxy, run the server with
    `--proxy-headers` and `--forwarded-allow-ips` so this is the client, not the proxy)."""
    return request.client.host if request.client else None


class ApiKeyCache:
    """This process's memo of live API keys: key digest → Principal, each entry trusted for
    `ttl` seconds. Unknown and revoked keys are never cached.

    `get` and `put` are O(1). `clear` (after a revocation) also bumps a generation number, and a
    lookup that started before it cannot store its (possibly pre-revocation) answer after it.
    At `max_entries` the memo is emptied rather than evicted entry by entry: it only saves reads.
    """

    def __init__(
        self, ttl: float = API_KEY_CACHE_SECONDS, max_entries: int = API_KEY_CACHE_ENTRIES
    ) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.generation = 0
        self._entries: dict[str, tuple[float, Principal]] = {}
        self.lookups: dict[str, asyncio.Future[Principal]] = {}
        """Database lookups in flight, by digest (see `_api_key_principal`)."""

    def get(self, digest: str) -> Principal | None:
        """The cached principal of `digest`, unless absent or older than `ttl`."""
        entry = self._entries.get(digest)
        if entry is None or entry[0] <= time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, principal: Principal, generation: int) -> None:
        """Remember `principal`, looked up while `self.generation` was `generation`."""
        if generation != self.generation:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()
        self._entries[digest] = (time.monotonic() + self.ttl, principal)

    def clear(self) -> None:
        """Forget every entry; lookups already in flight are neither stored nor joined."""
        self.generation += 1
        self._entries.clear()
        self.lookups.clear()


def api_key_cache(platform: Platform) -> ApiKeyCache:
    """`platform`'s API-key cache, created on first use."""
    cache = platform.state.get(_CACHE_STATE_KEY)
    if cache is None:
        cache = platform.state[_CACHE_STATE_KEY] = ApiKeyCache()
    assert isinstance(cache, ApiKeyCache)
    return cache


def forget_api_keys(platform: Platform) -> None:
    """Drop this process's cached API keys; call it once a revocation has committed, so the key
    stops working here at once (other processes follow within `API_KEY_CACHE_SECONDS`)."""
    api_key_cache(platform).clear()


def _session_principal(platform: Platform, token: str) -> Principal:
    claims = tokens.decode_access_token(platform.settings, token)
    return Principal(user_id=claims.user_id, scopes=frozenset({scope_rules.ALL}))


async def _api_key_principal(platform: Platform, key: str) -> Principal:
    if not tokens.looks_like_api_key(key):
        raise InvalidApiKey()
    digest = tokens.secret_digest(key)
    cache = api_key_cache(platform)
    cached = cache.get(digest)
    if cached is not None:
        return cached
    lookup = cache.lookups.get(digest)
    if lookup is None:
        # Single flight: the requests of one key that miss together share one lookup, so a
        # burst (or the entry ageing out under load) costs one query, not one per request.
        lookup = asyncio.ensure_future(_look_up_api_key(platform, cache, digest))
        cache.lookups[digest] = lookup
        lookup.add_done_callback(lambda done: _lookup_done(cache, digest, done))
    try:
        # Shielded: one caller going away must not cancel the lookup the others wait for.
        return await asyncio.shield(lookup)
    except InvalidApiKey:
        raise InvalidApiKey() from None


def _lookup_done(cache: ApiKeyCache, digest: str, lookup: asyncio.Future[Principal]) -> None:
    if cache.lookups.get(digest) is lookup:
        del cache.lookups[digest]
    if not lookup.cancelled():
        lookup.exception()  # retrieved here, so a lookup nobody awaited any more logs nothing


async def _look_up_api_key(platform: Platform, cache: ApiKeyCache, digest: str) -> Principal:
    """The live key with `digest` as a Principal (cached), bumping `last_used_at` when stale.
    Raises InvalidApiKey. One indexed SELECT, rarely a conditional UPDATE, one commit."""
    generation = cache.generation
    async with platform.db.session() as session:
        row = (
            await session.execute(
                select(ApiKey.id, ApiKey.user_id, ApiKey.scopes, ApiKey.last_used_at).where(
                    ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None)
                )
            )
        ).one_or_none()
        if row is None:
            raise InvalidApiKey()
        key_id, user_id, key_scopes, last_used_at = row
        now = utcnow()
        if _is_stale(last_used_at, now):
            # Conditional, so concurrent requests of one key write once between them.
            await session.execute(
                update(ApiKey)
                .where(
                    ApiKey.id == key_id,
                    or_(
                        ApiKey.last_used_at.is_(None),
                        ApiKey.last_used_at <= now - LAST_USED_RESOLUTION,
                    ),
                )
                .values(last_used_at=now)
                .execution_options(synchronize_session=False)
            )
    principal = Principal(user_id=user_id, scopes=frozenset(key_scopes), api_key_id=key_id)
    cache.put(digest, principal, generation)
    return principal


def _is_stale(last_used_at: datetime | None, now: datetime) -> bool:
    return last_used_at is None or now - last_used_at >= LAST_USED_RESOLUTION


async def optional_principal(
    platform: Annotated[Platform, Depends(get_platform)],
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
    access_cookie: Annotated[str | None, Depends(_access_cookie)],
) -> Principal | None:
    """Dependency: the caller, or None when the request carries no credential.

    Raises `Unauthorized` (401) for a bad credential in a header; a bad cookie counts as none.
    """
    if bearer is not None:
        credential = bearer.credentials
        if credential.startswith(tokens.API_KEY_PREFIX):
            return await _api_key_principal(platform, credential)
        return _session_principal(platform, credential)
    if api_key is not None:
        return await _api_key_principal(platform, api_key)
    if access_cookie is not None:
        try:
            return _session_principal(platform, access_cookie)
        except Unauthorized:
            return None
    return None


async def current_principal(
    principal: Annotated[Principal | None, Depends(optional_principal)],
) -> Principal:
    """Dependency: the authenticated caller; raises `Unauthorized` (401) when there is none."""
    if principal is None:
        raise Unauthorized("Log in, or send an access token or API key.")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency yielding the caller if it holds `scope`; raises `InsufficientScope` (403).

    Raises ValueError at import time when `scope` itself is malformed.
    """
    if not scope_rules.is_valid_scope(scope):
        raise ValueError(f"{scope!r} is not a valid scope")

    async def scoped_principal(principal: CurrentPrincipal) -> Principal:
        if not principal.has_scope(scope):
            raise InsufficientScope(f"This needs the {scope!r} scope.", required_scope=scope)
        return principal

    return scoped_principal


async def session_principal(principal: CurrentPrincipal) -> Principal:
    """Dependency: a logged-in user, refusing API keys (`Forbidden`, 403) — for managing
    credentials, which a leaked key must not be able to do."""
    if not principal.is_session:
        raise Forbidden("Log in to do this; API keys cannot manage credentials.")
    return principal


SessionPrincipal = Annotated[Principal, Depends(session_principal)]
