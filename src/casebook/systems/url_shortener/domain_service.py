"""Custom short domain use cases: claim, verify, list, delete (see `domains` for the proof).

Anyone may claim any host; a claim only matters once verified, and at most one claim per host can
ever be verified: a partial unique index on verified hosts decides a race between two accounts.
"""

from __future__ import annotations

import secrets

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.ids import new_id
from casebook.systems.url_shortener.errors import DomainLimit, DomainNotFound, DomainTaken
from casebook.systems.url_shortener.models import Domain, Link, dialect_insert
from casebook.systems.url_shortener.runtime import Shortener
from casebook.systems.url_shortener.safety import InvalidHost, normalize_host


async def claim_domain(
    session: AsyncSession, state: Shortener, owner_id: int, raw_host: str
) -> Domain:
    """Claim `raw_host` for `owner_id` (or return the owner's existing claim). Commits.

    Raises InvalidHost (422) for a malformed host or one of the service's own hosts, and
    DomainLimit (409) past `domains_per_user`.
    """
    host = normalize_host(raw_host)
    if host in state.main_hosts:
        raise InvalidHost(f"{host} is this service's own host.")
    existing = await _owned(session, owner_id, host)
    if existing is not None:
        return existing
    count = await session.scalar(select(func.count()).where(Domain.owner_id == owner_id))
    if (count or 0) >= state.config.domains_per_user:
        raise DomainLimit(f"An account may have at most {state.config.domains_per_user} domains.")
    await session.execute(
        dialect_insert(session.get_bind().dialect.name, Domain)
        .values(
            id=new_id(),
            owner_id=owner_id,
            host=host,
            verification_token=f"casebook-verify-{secrets.token_urlsafe(24)}",
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["owner_id", "host"])
    )
    await session.commit()
    domain = await _owned(session, owner_id, host)
    assert domain is not None
    return domain


async def _owned(session: AsyncSession, owner_id: int, host: str) -> Domain | None:
    return await session.scalar(
        select(Domain).where(Domain.owner_id == owner_id, Domain.host == host)
    )


async def owned_domain(session: AsyncSession, owner_id: int, raw_host: str) -> Domain:
    """`owner_id`'s claim on `raw_host`; raises DomainNotFound (also for other users' claims)."""
    host = raw_host.strip().rstrip(".").lower()
    domain = await _owned(session, owner_id, host)
    if domain is None:
        raise DomainNotFound(f"You have no domain {host}.")
    return domain


async def list_domains(session: AsyncSession, owner_id: int) -> list[Domain]:
    """`owner_id`'s domains, newest first."""
    rows = await session.scalars(
        select(Domain).where(Domain.owner_id == owner_id).order_by(Domain.id.desc())
    )
    return list(rows)


async def verify_domain(
    session: AsyncSession, state: Shortener, owner_id: int, raw_host: str
) -> Domain:
    """Check the domain's proof and mark it verified; commits and updates the host table.

    Raises DomainNotFound, VerificationFailed (422) and DomainTaken (409) when another account
    verified the host first.
    """
    domain = await owned_domain(session, owner_id, raw_host)
    if domain.verified_at is not None:
        return domain
    await state.verifier.check(domain.host, domain.verification_token)
    domain_id, host = domain.id, domain.host  # the rollback below expires the loaded row
    try:
        await session.execute(
            update(Domain).where(Domain.id == domain_id).values(verified_at=utcnow())
        )
        await session.commit()
    except IntegrityError:
        await session.rollback()
        raise DomainTaken(f"{host} is already verified by another account.") from None
    await state.hosts.reload()
    verified = await session.get(Domain, domain_id, populate_existing=True)
    assert verified is not None
    return verified


async def delete_domain(
    session: AsyncSession, state: Shortener, owner_id: int, raw_host: str
) -> None:
    """Delete the owner's domain and every link on it (their clicks go by cascade). Commits,
    then drops the links' cache entries and updates the host table. Raises DomainNotFound."""
    domain = await owned_domain(session, owner_id, raw_host)
    codes = list(await session.scalars(select(Link.code).where(Link.domain_id == domain.id)))
    await session.execute(delete(Link).where(Link.domain_id == domain.id))
    await session.execute(delete(Domain).where(Domain.id == domain.id))
    await session.commit()
    for code in codes:
        await state.links.invalidate(domain.id, code)
    await state.hosts.reload()


async def verified_domain_id(session: AsyncSession, raw_host: str) -> int | None:
    """The id of the verified custom domain `raw_host`, if there is one."""
    host = raw_host.strip().rstrip(".").lower()
    domain_id: int | None = await session.scalar(
        select(Domain.id).where(Domain.host == host, Domain.verified_at.is_not(None))
    )
    return domain_id
