"""`/api/url-shortener`: shorten, expand, manage links, read analytics, bring your own domain.

The seed's endpoints map here (docs/systems/url-shortener.md has the table): `POST /shorten` and
`POST /data/shorten` → `POST /links`; `GET /<code>` and `GET /redirect/<short_url>` → the redirect
at `/s/<code>` (served by the fast path, not this router) or `GET /links/{code}/expand`;
`GET /analytics?short_url=` → `GET /analytics?short_url=` here (or `/links/{code}/analytics`).

Credentials: a session (token or cookie) may do everything; an API key needs
`url-shortener:write` to create, change or delete and `url-shortener:read` to list and read
analytics. Shortening also works anonymously, with a stricter per-IP limit and no way to manage
the link afterwards. Expanding a code is public, like following it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlsplit

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.auth.deps import (
    InsufficientScope,
    Principal,
    client_ip,
    optional_principal,
    require_scope,
)
from casebook.platform.context import Platform, get_platform
from casebook.platform.db import Session, utcnow
from casebook.platform.errors import PROBLEM_JSON
from casebook.platform.idempotency import Idempotent
from casebook.platform.pagination import Page, PageQuery
from casebook.systems.url_shortener import analytics, domain_service, service
from casebook.systems.url_shortener.domains import PROOF_PATH, txt_name
from casebook.systems.url_shortener.errors import LinkNotFound
from casebook.systems.url_shortener.linkcache import target_for
from casebook.systems.url_shortener.models import MAIN_DOMAIN, Domain
from casebook.systems.url_shortener.runtime import Shortener, shortener
from casebook.systems.url_shortener.schemas import (
    Analytics,
    Bucket,
    Count,
    DomainCreate,
    DomainOut,
    Expansion,
    LinkCreate,
    LinkOut,
    LinkUpdate,
)

READ = "url-shortener:read"
WRITE = "url-shortener:write"

router = APIRouter()

PlatformDep = Annotated[Platform, Depends(get_platform)]
Caller = Annotated[Principal | None, Depends(optional_principal)]
Reader = Annotated[Principal, Depends(require_scope(READ))]
Writer = Annotated[Principal, Depends(require_scope(WRITE))]
Code = Annotated[str, Path(pattern=r"^[A-Za-z0-9_-]{1,32}$", description="Short code or alias.")]
OnDomain = Annotated[
    str | None,
    Query(max_length=253, description="The custom domain the link lives on (default: main)."),
]
Host = Annotated[str, Path(max_length=253)]


async def get_shortener(platform: PlatformDep) -> Shortener:
    # async: FastAPI runs a plain-function dependency in a worker thread.
    return shortener(platform)


State = Annotated[Shortener, Depends(get_shortener)]

_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "The credential lacks the needed scope",
    404: "No such link or domain (or not yours)",
    409: "Taken",
    410: "The link expired or was deleted",
    422: "Invalid input or a URL that may not be shortened",
    429: "Too many requests; see Retry-After",
}


def _problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"description": _MEANINGS[status], "content": {PROBLEM_JSON: {}}}
        for status in statuses
    }


def link_out(state: Shortener, view: service.LinkView) -> LinkOut:
    link = view.link
    now = utcnow()
    target = target_for(link, now, state.config.inactivity_days, state.config.cache_ttl_seconds)
    return LinkOut(
        id=link.id,
        code=link.code,
        short_url=state.short_url(link.code, view.domain_host),
        url=link.target_url,
        domain=view.domain_host,
        is_alias=link.is_alias,
        redirect_type=link.redirect_type,
        created_at=link.created_at,
        updated_at=link.updated_at,
        expires_at=link.expires_at,
        inactivity_days=link.inactivity_days,
        expired=bool(target.expires_at and target.expires_at <= now.timestamp()),
        click_count=link.click_count,
        last_click_at=link.last_click_at,
    )


@router.post(
    "/links",
    status_code=201,
    response_model=LinkOut,
    dependencies=[Idempotent],
    responses=_problems(401, 403, 409, 422, 429),
)
async def create_link(
    body: LinkCreate,
    request: Request,
    caller: Caller,
    platform: PlatformDep,
    state: State,
) -> LinkOut:
    """Shorten a URL (the seed's `POST /shorten` and `POST /data/shorten`).

    Answers the link with its `short_url`. Without credentials the link is anonymous: generated
    code, main host, no alias, no later management, and a limit of 10 per minute per IP. Signed
    in: 120 per minute per IP, plus 600 per minute per API key. Accepts `Idempotency-Key`.
    """
    if caller is not None and not caller.has_scope(WRITE):
        raise InsufficientScope(f"This needs the {WRITE!r} scope.", required_scope=WRITE)
    await service.enforce_shorten_limits(
        platform,
        state.config,
        client_ip(request),
        signed_in=caller is not None,
        api_key_id=caller.api_key_id if caller else None,
    )
    view = await service.shorten(
        state,
        caller.user_id if caller else None,
        body.url,
        alias=body.alias,
        domain=body.domain,
        redirect_type=body.redirect_type,
        expires_at=body.expires_at,
        inactivity_days=body.inactivity_days,
    )
    return link_out(state, view)


@router.get("/links", response_model=Page[LinkOut], responses=_problems(401, 403, 422))
async def list_links(
    principal: Reader, page: PageQuery, session: Session, state: State
) -> Page[LinkOut]:
    """Your links, newest first, by cursor (`?cursor=&limit=`)."""
    views, cursor = await service.list_links(session, principal.user_id, page)
    return Page[LinkOut](items=[link_out(state, v) for v in views], next_cursor=cursor)


@router.get("/links/{code}", response_model=LinkOut, responses=_problems(401, 403, 404))
async def get_link(
    code: Code, principal: Reader, session: Session, state: State, domain: OnDomain = None
) -> LinkOut:
    """One of your links. Another user's link is a 404, like a missing one."""
    return link_out(state, await service.owned_link(session, principal.user_id, code, domain))


@router.patch("/links/{code}", response_model=LinkOut, responses=_problems(401, 403, 404, 422))
async def update_link(
    code: Code,
    body: LinkUpdate,
    principal: Writer,
    session: Session,
    state: State,
    domain: OnDomain = None,
) -> LinkOut:
    """Change the target URL, redirect type, expiry or inactivity period of your link. The
    change applies to the next redirect (its cache entry is dropped)."""
    changes = {k: getattr(body, k) for k in body.model_fields_set}
    if "url" in changes and changes["url"] is None:
        del changes["url"]
    if "redirect_type" in changes and changes["redirect_type"] is None:
        del changes["redirect_type"]
    view = await service.update_link(session, state, principal.user_id, code, changes, domain)
    return link_out(state, view)


@router.delete("/links/{code}", status_code=204, responses=_problems(401, 403, 404))
async def delete_link(
    code: Code, principal: Writer, session: Session, state: State, domain: OnDomain = None
) -> Response:
    """Delete your link. Its short URL answers 410 from then on and its code is never reused."""
    await service.delete_link(session, state, principal.user_id, code, domain)
    return Response(status_code=204)


async def _domain_id(session: AsyncSession, host: str | None) -> int:
    if host is None:
        return MAIN_DOMAIN
    domain_id = await domain_service.verified_domain_id(session, host)
    if domain_id is None:
        raise LinkNotFound(f"{host} is not a short domain of this service.")
    return domain_id


def _expansion(state: Shortener, code: str, host: str | None, target: Any) -> Expansion:
    return Expansion(
        code=code,
        short_url=state.short_url(code, host),
        url=target.location.decode("ascii"),
        redirect_type=target.status,
        expires_at=datetime.fromtimestamp(target.expires_at, tz=utcnow().tzinfo)
        if target.expires_at
        else None,
    )


@router.get("/links/{code}/expand", response_model=Expansion, responses=_problems(404, 410))
async def expand_link(
    code: Code, session: Session, state: State, domain: OnDomain = None
) -> Expansion:
    """The long URL behind a code, without redirecting (pyshorteners' `expand`). Public."""
    domain_id = await _domain_id(session, domain)
    target = await service.expand(state, domain_id, code)
    return _expansion(state, code, domain, target)


def parse_short_url(state: Shortener, short_url: str) -> tuple[str, str | None]:
    """(code, custom domain host or None) of a short URL of this service, or of a bare code.

    Raises LinkNotFound for a URL that is not one of our short URLs.
    """
    value = short_url.strip()
    if "/" not in value:
        return value, None
    parts = urlsplit(value if "://" in value else f"{state.scheme}://{value}")
    host = (parts.hostname or "").lower()
    path = parts.path
    if host in state.main_hosts and path.startswith("/s/") and path.count("/") == 2:
        return path[3:], None
    if host not in state.main_hosts and path.count("/") == 1 and len(path) > 1:
        return path[1:], host
    raise LinkNotFound(f"{short_url!r} is not a short URL of this service.")


ShortUrl = Annotated[
    str,
    Query(
        min_length=1,
        max_length=300,
        description="A short URL of this service (or just its code).",
        examples=["http://127.0.0.1:8000/s/aZ3k9Qx"],
    ),
]


@router.get("/expand", response_model=Expansion, responses=_problems(404, 410))
async def expand_short_url(short_url: ShortUrl, session: Session, state: State) -> Expansion:
    """The long URL behind a full short URL (the seed's `GET /redirect/<short_url>`, without
    redirecting). Public."""
    code, host = parse_short_url(state, short_url)
    if not service.ALIAS_PATTERN.match(code) or len(code) > service.ALIAS_MAX_LENGTH:
        raise LinkNotFound(f"{short_url!r} is not a short URL of this service.")
    domain_id = await _domain_id(session, host)
    return _expansion(state, code, host, await service.expand(state, domain_id, code))


Granularity = Annotated[analytics.Granularity, Query(description="Bucket size.")]
Since = Annotated[datetime | None, Query(description="Start (default: 48 h or 30 days back).")]
Until = Annotated[datetime | None, Query(description="End (default: now).")]


async def _analytics(
    session: AsyncSession,
    state: Shortener,
    owner_id: int,
    code: str,
    domain: str | None,
    bucket: analytics.Granularity,
    since: datetime | None,
    until: datetime | None,
) -> Analytics:
    view = await service.owned_link(session, owner_id, code, domain)
    stats = await analytics.click_stats(session, view.link.id, bucket, since, until)
    return Analytics(
        code=view.link.code,
        short_url=state.short_url(view.link.code, view.domain_host),
        bucket=bucket,
        since=stats.since,
        until=stats.until,
        total_clicks=view.link.click_count,
        clicks_in_range=stats.clicks_in_range,
        series=[Bucket(start=start, clicks=n) for start, n in stats.series],
        referrers=[Count(value=v, clicks=n) for v, n in stats.referrers],
        countries=[Count(value=v, clicks=n) for v, n in stats.countries],
        agents=[Count(value=v, clicks=n) for v, n in stats.agents],
    )


@router.get(
    "/links/{code}/analytics", response_model=Analytics, responses=_problems(401, 403, 404, 422)
)
async def link_analytics(
    code: Code,
    principal: Reader,
    session: Session,
    state: State,
    domain: OnDomain = None,
    bucket: Granularity = "day",
    since: Since = None,
    until: Until = None,
) -> Analytics:
    """Clicks of your link per hour or day, and its top referrers, countries and agents. Only
    the owner may read them (404 for anyone else)."""
    return await _analytics(session, state, principal.user_id, code, domain, bucket, since, until)


@router.get("/analytics", response_model=Analytics, responses=_problems(401, 403, 404, 422))
async def analytics_by_short_url(
    short_url: ShortUrl,
    principal: Reader,
    session: Session,
    state: State,
    bucket: Granularity = "day",
    since: Since = None,
    until: Until = None,
) -> Analytics:
    """The seed's `GET /analytics?short_url=`: the same as `/links/{code}/analytics`."""
    code, host = parse_short_url(state, short_url)
    return await _analytics(session, state, principal.user_id, code, host, bucket, since, until)


def domain_out(state: Shortener, domain: Domain) -> DomainOut:
    return DomainOut(
        id=domain.id,
        host=domain.host,
        verified=domain.verified_at is not None,
        verified_at=domain.verified_at,
        created_at=domain.created_at,
        verification_token=domain.verification_token,
        txt_name=txt_name(domain.host),
        proof_url=f"http://{domain.host}{PROOF_PATH}",
    )


@router.post(
    "/domains", status_code=201, response_model=DomainOut, responses=_problems(401, 403, 409, 422)
)
async def create_domain(
    body: DomainCreate, principal: Writer, session: Session, state: State
) -> DomainOut:
    """Claim a custom short domain. Publish the returned `verification_token` as a TXT record at
    `txt_name`, or serve it at `proof_url`, then call `POST /domains/{host}/verify`. Claiming
    again returns the existing claim."""
    domain = await domain_service.claim_domain(session, state, principal.user_id, body.host)
    return domain_out(state, domain)


@router.get("/domains", response_model=list[DomainOut], responses=_problems(401, 403))
async def list_domains(principal: Reader, session: Session, state: State) -> list[DomainOut]:
    """Your custom domains (at most 20), verified or not."""
    domains = await domain_service.list_domains(session, principal.user_id)
    return [domain_out(state, d) for d in domains]


@router.post(
    "/domains/{host}/verify", response_model=DomainOut, responses=_problems(401, 403, 404, 409, 422)
)
async def verify_domain(host: Host, principal: Writer, session: Session, state: State) -> DomainOut:
    """Look up the TXT record `_casebook-verify.{host}`, then (if that fails) fetch
    `http://{host}/.well-known/casebook-verify`; if either holds the token, the domain is
    verified and serves `/<code>` for your links on it. A 422 says what each proof found."""
    domain = await domain_service.verify_domain(session, state, principal.user_id, host)
    return domain_out(state, domain)


@router.delete("/domains/{host}", status_code=204, responses=_problems(401, 403, 404))
async def delete_domain(host: Host, principal: Writer, session: Session, state: State) -> Response:
    """Remove your domain and every link on it."""
    await domain_service.delete_domain(session, state, principal.user_id, host)
    return Response(status_code=204)
