"""Know your customer: identity records, the decisions on them, and the trading gate.

A user submits their identity (`submit`): the record is `pending` until a compliance officer
decides it (`decide`: `verified` or `rejected`). Every submission and decision is kept as an event
(who, what, when, why) — the audit trail regulators ask for; a rejected user may submit again.
An officer never decides their own record (four eyes).

`can_trade(session, account_id)` is the venue's gate (`VenueConfig.can_trade`): the account must
be one of ours, its trader's KYC verified, and the account not frozen by an AML review. It runs
before an order is accepted, so an unverified account never reaches the book.
"""

from __future__ import annotations

from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.platform.db import utcnow
from casebook.platform.errors import Forbidden, InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange.aml import is_frozen
from casebook.systems.stock_exchange.errors import AccountFrozen, AlreadyDecided, KycRequired
from casebook.systems.stock_exchange.models import (
    MAX_NOTE,
    ExchangeAccount,
    KycEvent,
    KycRecord,
)

Verdict = Literal["verified", "rejected"]


async def submit(
    session: AsyncSession, user_id: int, legal_name: str, country: str, document_number: str
) -> KycRecord:
    """Submit (or, after a rejection, resubmit) the user's identity for review; it becomes pending.

    Raises AlreadyDecided (409) when the user is already verified."""
    record = await session.scalar(
        select(KycRecord).where(KycRecord.user_id == user_id).with_for_update()
    )
    if record is not None and record.status == "verified":
        raise AlreadyDecided("Your identity is already verified.")
    now = utcnow()
    if record is None:
        record = KycRecord(user_id=user_id)
        session.add(record)
    record.legal_name = legal_name
    record.country = country
    record.document_number = document_number
    record.status = "pending"
    record.decided_by = None
    record.decided_at = None
    record.submitted_at = now
    session.add(
        KycEvent(id=new_id(), user_id=user_id, action="submitted", actor_id=user_id, at=now)
    )
    await session.flush()
    return record


async def decide(
    session: AsyncSession, user_id: int, officer_id: int, verdict: Verdict, note: str
) -> KycRecord:
    """A compliance officer's decision on a pending record (the caller checked they are staff).

    Raises NotFound (no record), AlreadyDecided (not pending), Forbidden (own record),
    InvalidInput (verdict)."""
    if verdict not in ("verified", "rejected"):
        raise InvalidInput("verdict must be 'verified' or 'rejected'")
    if officer_id == user_id:
        raise Forbidden("An officer does not decide their own KYC record.")
    record = await session.scalar(
        select(KycRecord).where(KycRecord.user_id == user_id).with_for_update()
    )
    if record is None:
        raise NotFound("That user has submitted no KYC record.")
    if record.status != "pending":
        raise AlreadyDecided(f"The record is already {record.status}.")
    now = utcnow()
    record.status = verdict
    record.decided_by = officer_id
    record.decided_at = now
    session.add(
        KycEvent(
            id=new_id(), user_id=user_id, action=verdict, actor_id=officer_id, note=note, at=now
        )
    )
    await session.flush()
    return record


async def record_of(session: AsyncSession, user_id: int) -> KycRecord | None:
    return await session.get(KycRecord, user_id)


async def audit_trail(session: AsyncSession, user_id: int) -> list[KycEvent]:
    """The user's KYC events, oldest first."""
    stmt = select(KycEvent).where(KycEvent.user_id == user_id).order_by(KycEvent.id)
    return list((await session.scalars(stmt)).all())


async def pending(session: AsyncSession, limit: int = 100) -> list[KycRecord]:
    """Records waiting for a decision, oldest submission first."""
    stmt = (
        select(KycRecord)
        .where(KycRecord.status == "pending")
        .order_by(KycRecord.submitted_at, KycRecord.user_id)
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


async def can_trade(session: AsyncSession, account_id: int) -> None:
    """The venue's KYC/AML gate. Returns when the account may trade; raises KycRequired (403,
    `stock-exchange/kyc-required`) for an account that is not ours or whose trader is not
    verified, AccountFrozen (403) for a frozen account. Two primary-key reads."""
    row = (
        await session.execute(
            select(ExchangeAccount.user_id, KycRecord.status)
            .outerjoin(KycRecord, KycRecord.user_id == ExchangeAccount.user_id)
            .where(ExchangeAccount.account_id == account_id)
        )
    ).first()
    if row is None:
        raise KycRequired("The account is not registered with a member of the exchange.")
    status = row[1]
    if status != "verified":
        state = "has not been submitted" if status is None else f"is {status}"
        raise KycRequired(f"Trading needs a verified identity: your KYC record {state}.")
    if await is_frozen(session, account_id):
        raise AccountFrozen("The account is frozen pending an AML review.")


async def attest(session: AsyncSession, member_id: int, user_id: int, reference: str) -> KycRecord:
    """A member vouches for its client's KYC (a broker that ran its own onboarding): the user's
    record becomes `verified`, with an audit event "attested by member <id>" carrying the
    member's own reference. The user must be a trader of that member.

    Raises Forbidden (the user is not the member's trader), InvalidInput (empty reference).
    Idempotent: attesting a verified record adds nothing."""
    if not 1 <= len(reference) <= 200:
        raise InvalidInput("reference is 1-200 characters.", field="reference")
    trader = await session.scalar(
        select(ExchangeAccount.user_id)
        .where(ExchangeAccount.user_id == user_id, ExchangeAccount.member_id == member_id)
        .limit(1)
    )
    if trader is None:
        raise Forbidden("A member attests only its own clients' KYC.")
    record = await session.scalar(
        select(KycRecord).where(KycRecord.user_id == user_id).with_for_update()
    )
    if record is not None and record.status == "verified":
        return record
    now = utcnow()
    if record is None:
        record = KycRecord(user_id=user_id, legal_name="", country="", document_number=reference)
        session.add(record)
    record.status = "verified"
    record.submitted_at = now
    record.decided_by = None
    record.decided_at = now
    session.add(
        KycEvent(
            id=new_id(),
            user_id=user_id,
            action="attested",
            actor_id=member_id,
            note=f"attested by member {member_id}: {reference}"[:MAX_NOTE],
            at=now,
        )
    )
    await session.flush()
    return record
