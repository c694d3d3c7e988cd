"""URL Shortener use cases: plain async functions over an `AsyncSession` and the `Shortener`.

Functions that write commit the session themselves before invalidating the cache, so a redirect
can never re-cache the row as it was before the write. Ownership is checked on every read and
write of a link: another user's link is answered exactly like a missing one (LinkNotFound).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.platform.pagination import Keyset, PageParams
from casebook.platform.ratelimit import RateLimit, enforce, enforce_all
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.errors import (
    AliasTaken,
    DomainNotUsable,
    InvalidAlias,
    InvalidExpiry,
    LinkNotFound,
    SignInRequired,
)
from casebook.systems.url_shortener.linkcache import Target, refusal
from casebook.systems.url_shortener.models import (
    MAIN_DOMAIN,
    ClickCount,
    Domain,
    Link,
)
from casebook.systems.url_shortener.runtime import Shortener
from casebook.systems.url_shortener.safety import RejectedUrl, check_target_url

ALIAS_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
ALIAS_MIN_LENGTH = 3
ALIAS_MAX_LENGTH = 32
RESERVED_ALIASES = frozenset(
    {
        "about", "account", "accounts", "admin", "administrator", "analytics", "api", "assets",
        "auth", "console", "dashboard", "data", "delete", "docs", "domains", "edit", "expand",
        "favicon", "health", "healthz", "help", "link", "links", "login", "logout", "metrics",
        "new", "openapi", "ready", "redirect", "register", "root", "s", "settings", "shorten",
        "signin", "signup", "static", "support", "system", "systems", "url-shortener", "user",
        "users", "well-known", "ws", "www",
    }
)  # fmt: skip
"""Aliases nobody may take: the seed's `admin`, `settings`, `dashboard`, and every path segment
this site uses or may use."""
MAX_EXPIRY = timedelta(days=100 * 365)
GENERATION_ATTEMPTS = 8
NEWEST_FIRST = Keyset(Link.id)


@dataclass(frozen=True)
class LinkView:
    """A link with the host it lives on (None: the main short host)."""

    link: Link
    domain_host: str | None


def normalize_alias(alias: str) -> str:
    """The stored form of a custom alias: lower case (aliases are case-insensitive).

    Raises InvalidAlias (reason length, charset or reserved).
    """
    if not ALIAS_MIN_LENGTH <= len(alias) <= ALIAS_MAX_LENGTH:
        raise InvalidAlias(
            f"An alias has {ALIAS_MIN_LENGTH} to {ALIAS_MAX_LENGTH} characters; "
            f"{alias[:40]!r} has {len(alias)}.",
            "length",
        )
    if not ALIAS_PATTERN.match(alias):
        raise InvalidAlias(
            "An alias may contain only letters A-Z and a-z, digits, '-' and '_'.", "charset"
        )
    folded = alias.lower()
    if folded in RESERVED_ALIASES:
        raise InvalidAlias(f"{folded!r} is a reserved word.", "reserved")
    return folded


async def enforce_shorten_limits(
    platform: Platform,
    config: ShortenerSettings,
    ip: str | None,
    *,
    signed_in: bool,
    api_key_id: int | None,
) -> None:
    """Count one shorten against the caller's limits; raises TooManyRequests (429) past one.

    Anonymous: `shorten_per_minute_anonymous` per IP. Signed in: `shorten_per_minute_ip` per IP,
    and with an API key also `shorten_per_minute_api_key` per key. All the caller's limits are
    checked in one call (one Redis round trip), all or nothing: a shorten refused by one limit
    spends nothing of the other. O(1) per limit (GCRA).
    """
    address = ip or "unknown"
    if not signed_in:
        limit = RateLimit.per_minute(config.shorten_per_minute_anonymous)
        await enforce(platform, f"url-shortener:shorten:anonymous:{address}", limit)
        return
    hits = [
        (f"url-shortener:shorten:ip:{address}", RateLimit.per_minute(config.shorten_per_minute_ip))
    ]
    if api_key_id is not None:
        limit = RateLimit.per_minute(config.shorten_per_minute_api_key)
        hits.append((f"url-shortener:shorten:key:{api_key_id}", limit))
    await enforce_all(platform, hits)


def check_expiry(expires_at: datetime | None, now: datetime) -> None:
    """Raise InvalidExpiry unless `expires_at` is None or within (now, now + 100 years]."""
    if expires_at is None:
        return
    if expires_at <= now:
        raise InvalidExpiry("expires_at must be in the future.")
    if expires_at > now + MAX_EXPIRY:
        raise InvalidExpiry("expires_at must be within 100 years.")


def check_url_rules(state: Shortener, url: str) -> str:
    """The target URL normalised, if it passes the rules that need no database (see
    `safety.check_target_url`). Raises RejectedUrl."""
    return check_target_url(
        url, blocked_domains=state.config.blocked_domains, own_hosts=state.main_hosts
    )


async def check_not_custom_domain(session: AsyncSession, normalized: str) -> None:
    """Raise RejectedUrl (loop) when the URL's host is a verified custom short domain."""
    host = (urlsplit(normalized).hostname or "").lower()
    verified = await session.scalar(
        select(Domain.id).where(Domain.host == host, Domain.verified_at.is_not(None)).limit(1)
    )
    if verified is not None:
        raise RejectedUrl(
            f"{host} is a short domain of this service; a link to it would loop.", "loop"
        )


async def check_url(session: AsyncSession, state: Shortener, url: str) -> str:
    """The target URL normalised, after every safety rule. Raises RejectedUrl."""
    normalized = check_url_rules(state, url)
    await check_not_custom_domain(session, normalized)
    return normalized


async def usable_domain(session: AsyncSession, owner_id: int, host: str) -> Domain:
    """`owner_id`'s verified domain `host`; raises DomainNotUsable otherwise."""
    domain = await session.scalar(
        select(Domain).where(
            Domain.owner_id == owner_id,
            Domain.host == host.strip().rstrip(".").lower(),
            Domain.verified_at.is_not(None),
        )
    )
    if domain is None:
        raise DomainNotUsable(f"{host!r} is not a verified domain of your account.")
    return domain


async def shorten(
    state: Shortener,
    owner_id: int | None,
    url: str,
    *,
    alias: str | None = None,
    domain: str | None = None,
    redirect_type: int = 302,
    expires_at: datetime | None = None,
    inactivity_days: int | None = None,
) -> LinkView:
    """Create a short link for `url`; returns once it is committed.

    The INSERT goes through the process's group-commit writer (`writer.LinkWriter`), which also
    applies the loop rule (the target may not be a verified short domain) in the same
    transaction; so a plain create opens no session of its own. Only a custom `domain` costs one
    read (is it the caller's verified domain?). A generated code comes from this process's
    counter block through the keyed permutation; the (domain, code) unique constraint is the
    final guard (a generated code can equal an existing alias), on which the next counter value
    is tried. An alias is inserted as is: if the constraint refuses it, it is taken. Anonymous
    callers (`owner_id` None) get generated codes on the main host only. Raises RejectedUrl,
    InvalidAlias, InvalidExpiry, DomainNotUsable (422), SignInRequired (401), AliasTaken (409),
    WriterClosed (503, during shutdown).
    """
    if owner_id is None and (alias is not None or domain is not None):
        raise SignInRequired("Sign in to choose an alias or a custom domain.")
    now = utcnow()
    check_expiry(expires_at, now)
    target = check_url_rules(state, url)
    target_host = (urlsplit(target).hostname or "").lower()
    code = normalize_alias(alias) if alias is not None else None
    domain_id, domain_host = MAIN_DOMAIN, None
    if domain is not None and owner_id is not None:
        async with state.platform.db.session() as session:
            found = await usable_domain(session, owner_id, domain)
        domain_id, domain_host = found.id, found.host
    values: dict[str, Any] = {
        "domain_id": domain_id,
        "owner_id": owner_id,
        "target_url": target,
        "redirect_type": redirect_type,
        "created_at": now,
        "updated_at": now,
        "expires_at": expires_at,
        "inactivity_days": inactivity_days,
        "last_click_at": None,
        "click_count": 0,
        "deleted_at": None,
    }
    if code is not None:
        link = await state.writer.insert(
            {**values, "id": new_id(), "code": code, "is_alias": True}, target_host
        )
        if link is None:
            raise AliasTaken(f"The alias {code!r} is taken; choose another.")
    else:
        for _ in range(GENERATION_ATTEMPTS):
            code = state.codes.code_for(await state.allocator.next_value())
            link = await state.writer.insert(
                {**values, "id": new_id(), "code": code, "is_alias": False}, target_host
            )
            if link is not None:
                break
        else:
            raise RuntimeError("no free generated code after several counter values")
    await state.links.invalidate(domain_id, code)
    return LinkView(link, domain_host)


async def domain_hosts(session: AsyncSession, domain_ids: Iterable[int]) -> dict[int, str]:
    """Host names of the given custom domain ids (the main domain is left out)."""
    ids = {d for d in domain_ids if d != MAIN_DOMAIN}
    if not ids:
        return {}
    rows = await session.execute(select(Domain.id, Domain.host).where(Domain.id.in_(ids)))
    return {domain_id: host for domain_id, host in rows}


async def owned_link(
    session: AsyncSession, owner_id: int, code: str, domain: str | None = None
) -> LinkView:
    """`owner_id`'s live link `code` (on custom domain `domain`, else the main host).

    Raises LinkNotFound when there is no such link, it is deleted, or it belongs to anyone else.
    """
    domain_id, domain_host = MAIN_DOMAIN, None
    if domain is not None:
        host = domain.strip().rstrip(".").lower()
        found = await session.scalar(
            select(Domain.id).where(Domain.owner_id == owner_id, Domain.host == host)
        )
        if found is None:
            raise LinkNotFound(f"You have no link {code!r} on {host}.")
        domain_id, domain_host = found, host
    rows = (
        await session.scalars(
            select(Link).where(
                Link.domain_id == domain_id,
                Link.code.in_({code, code.lower()}),
                Link.owner_id == owner_id,
                Link.deleted_at.is_(None),
            )
        )
    ).all()
    link = next((r for r in rows if r.code == code), rows[0] if rows else None)
    if link is None:
        raise LinkNotFound(f"You have no link {code!r}.")
    return LinkView(link, domain_host)


async def list_links(
    session: AsyncSession, owner_id: int, page: PageParams
) -> tuple[list[LinkView], str | None]:
    """One page of `owner_id`'s live links, newest first, and the next page's cursor."""
    statement = select(Link).where(Link.owner_id == owner_id, Link.deleted_at.is_(None))
    links, cursor = await NEWEST_FIRST.fetch(session, statement, page)
    hosts = await domain_hosts(session, (link.domain_id for link in links))
    return [LinkView(link, hosts.get(link.domain_id)) for link in links], cursor


UPDATABLE = frozenset({"url", "redirect_type", "expires_at", "inactivity_days"})


async def update_link(
    session: AsyncSession,
    state: Shortener,
    owner_id: int,
    code: str,
    changes: Mapping[str, Any],
    domain: str | None = None,
) -> LinkView:
    """Apply `changes` (any of url, redirect_type, expires_at, inactivity_days; expires_at and
    inactivity_days may be None to clear them) to the owner's link, commit, invalidate its cache
    entry. Raises LinkNotFound, RejectedUrl, InvalidExpiry; ValueError for an unknown field."""
    unknown = set(changes) - UPDATABLE
    if unknown:
        raise ValueError(f"cannot update {', '.join(sorted(unknown))}")
    view = await owned_link(session, owner_id, code, domain)
    link, now = view.link, utcnow()
    if "url" in changes:
        link.target_url = await check_url(session, state, changes["url"])
    if "redirect_type" in changes:
        link.redirect_type = changes["redirect_type"]
    if "expires_at" in changes:
        check_expiry(changes["expires_at"], now)
        link.expires_at = changes["expires_at"]
    if "inactivity_days" in changes:
        link.inactivity_days = changes["inactivity_days"]
    link.updated_at = now
    await session.commit()
    await state.links.invalidate(link.domain_id, link.code)
    return view


async def delete_link(
    session: AsyncSession, state: Shortener, owner_id: int, code: str, domain: str | None = None
) -> None:
    """Delete the owner's link: its clicks go, and the row stays as a tombstone that answers 410
    and keeps the code from ever being reused. Commits; raises LinkNotFound."""
    link = (await owned_link(session, owner_id, code, domain)).link
    link.deleted_at = utcnow()
    link.target_url = ""
    await session.execute(delete(ClickCount).where(ClickCount.link_id == link.id))
    await session.commit()
    await state.links.invalidate(link.domain_id, link.code)


async def expand(state: Shortener, domain_id: int, code: str) -> Target:
    """The live target of `code`, through the same cache as the redirect.

    Raises LinkNotFound (404), LinkDeleted or LinkExpired (410).
    """
    target = await state.links.resolve(domain_id, code)
    return live_target(target, code, time.time())


def live_target(target: Target | None, code: str, now: float) -> Target:
    """`target` if it may be followed at `now`; raises LinkNotFound, LinkDeleted, LinkExpired."""
    problem = refusal(target, code, now)
    if problem is not None or target is None:
        raise problem or LinkNotFound(f"There is no short link {code!r}.")
    return target
