"""`/api/stock-exchange/compliance/…`: the exchange staff's desk — KYC decisions, the AML review
queue, surveillance alerts, staff grants and the regulator's reports. Staff only (`staff.py`):
anyone else gets 403 `stock-exchange/staff-only`."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from casebook.platform.auth.models import User
from casebook.platform.db import Session, WriteSession
from casebook.platform.errors import PROBLEM_JSON, NotFound
from casebook.systems.stock_exchange import aml, kyc, monitor, reports, staff
from casebook.systems.stock_exchange.models import AmlFlag, KycEvent, KycRecord
from casebook.systems.stock_exchange.schemas import (
    AlertOut,
    AmlFlagOut,
    AmlReviewIn,
    KycDecisionIn,
    KycEventOut,
    KycOut,
    MemberActivityOut,
    SettlementLineOut,
    StaffIn,
)
from casebook.systems.stock_exchange.staff import StaffPrincipal

router = APIRouter(prefix="/compliance")

Id = Annotated[int, Path(gt=0, lt=2**63)]
Limit = Annotated[int, Query(ge=1, le=100)]
_MEANINGS = {
    401: "Missing or invalid credentials",
    403: "Not exchange staff",
    404: "Not found",
    409: "Already decided",
    422: "Invalid input",
}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {s: {"description": _MEANINGS[s], "content": {PROBLEM_JSON: {}}} for s in statuses}


def kyc_out(record: KycRecord, trail: list[KycEvent] | None = None) -> KycOut:
    return KycOut(
        user_id=record.user_id,
        legal_name=record.legal_name,
        country=record.country,
        status=record.status,
        submitted_at=record.submitted_at,
        decided_at=record.decided_at,
        trail=[
            KycEventOut(action=e.action, actor_id=e.actor_id, note=e.note, at=e.at)
            for e in trail or []
        ],
    )


def flag_out(flag: AmlFlag) -> AmlFlagOut:
    return AmlFlagOut(
        id=flag.id,
        transfer_id=flag.transfer_id,
        account_id=flag.account_id,
        rule=flag.rule,
        detail=flag.detail,
        status=flag.status,
        reviewed_by=flag.reviewed_by,
        review_note=flag.review_note,
        created_at=flag.created_at,
    )


@router.get("/kyc", response_model=list[KycOut], responses=problems(401, 403))
async def pending_kyc(_: StaffPrincipal, session: Session, limit: Limit = 100) -> list[KycOut]:
    """KYC records waiting for a decision, oldest first."""
    return [kyc_out(r) for r in await kyc.pending(session, limit)]


@router.get("/kyc/{user_id}", response_model=KycOut, responses=problems(401, 403, 404))
async def kyc_record(user_id: Id, _: StaffPrincipal, session: Session) -> KycOut:
    """A user's KYC record with its whole audit trail."""
    record = await kyc.record_of(session, user_id)
    if record is None:
        raise NotFound("That user has submitted no KYC record.")
    return kyc_out(record, await kyc.audit_trail(session, user_id))


@router.post(
    "/kyc/{user_id}/decision", response_model=KycOut, responses=problems(401, 403, 404, 409, 422)
)
async def decide_kyc(
    user_id: Id, body: KycDecisionIn, officer: StaffPrincipal, session: WriteSession
) -> KycOut:
    """Verify or reject a pending record; the decision, the officer and the time are recorded.
    An officer cannot decide their own record (403)."""
    record = await kyc.decide(session, user_id, officer.user_id, body.verdict, body.note)
    return kyc_out(record, await kyc.audit_trail(session, user_id))


@router.get("/aml", response_model=list[AmlFlagOut], responses=problems(401, 403, 422))
async def aml_queue(
    _: StaffPrincipal,
    session: Session,
    status: Annotated[str, Query(pattern="^(open|cleared|frozen)$")] = "open",
    after: Annotated[int | None, Query(gt=0, lt=2**63)] = None,
    limit: Limit = 50,
) -> list[AmlFlagOut]:
    """The AML review queue (open flags, oldest first); `status` shows reviewed ones."""
    return [
        flag_out(f)
        for f in await aml.review_queue(session, status=status, after_id=after, limit=limit)
    ]


@router.post(
    "/aml/{flag_id}/review", response_model=AmlFlagOut, responses=problems(401, 403, 404, 409)
)
async def review_flag(
    flag_id: Id, body: AmlReviewIn, officer: StaffPrincipal, session: WriteSession
) -> AmlFlagOut:
    """Clear a flag, or freeze its account (no more trading or withdrawals)."""
    return flag_out(await aml.review(session, flag_id, officer.user_id, body.decision, body.note))


@router.get("/alerts", response_model=list[AlertOut], responses=problems(401, 403, 422))
async def list_alerts(
    _: StaffPrincipal,
    session: Session,
    kind: Annotated[str | None, Query(pattern="^(wash-trade|spoofing|price-spike)$")] = None,
    before: Annotated[int | None, Query(gt=0, lt=2**63)] = None,
    limit: Limit = 50,
) -> list[AlertOut]:
    """Market-surveillance alerts, newest first."""
    rows = await monitor.alerts(session, kind=kind, before_id=before, limit=limit)
    return [
        AlertOut(
            id=a.id,
            kind=a.kind,
            symbol=a.symbol,
            account_id=a.account_id,
            detail=a.detail,
            created_at=a.created_at,
        )
        for a in rows
    ]


@router.post("/staff", status_code=204, responses=problems(401, 403, 422))
async def grant_staff(body: StaffIn, officer: StaffPrincipal, session: WriteSession) -> None:
    """Make another user compliance staff (recorded with the granting officer)."""
    if await session.get(User, body.user_id) is None:
        raise NotFound("No such user.")
    await staff.grant(session, body.user_id, "compliance", granted_by=officer.user_id)


@router.get(
    "/reports/settlement", response_model=list[SettlementLineOut], responses=problems(401, 403)
)
async def all_settlement(
    day: Annotated[date, Query(alias="date")], _: StaffPrincipal, session: Session
) -> list[SettlementLineOut]:
    """Every member's settlement on a UTC day, per instrument."""
    return [settlement_out(line) for line in await reports.settlement(session, day)]


@router.get(
    "/reports/member-activity",
    response_model=list[MemberActivityOut],
    responses=problems(401, 403),
)
async def member_activity(
    day: Annotated[date, Query(alias="date")], _: StaffPrincipal, session: Session
) -> list[MemberActivityOut]:
    """Orders and trades per member on a UTC day."""
    return [
        MemberActivityOut(
            member_id=a.member_id,
            member_name=a.member_name,
            orders=a.orders,
            orders_by_status=a.orders_by_status,
            trades=a.trades,
            volume=a.volume,
        )
        for a in await reports.member_activity(session, day)
    ]


def settlement_out(line: reports.SettlementLine) -> SettlementLineOut:
    return SettlementLineOut(
        member_id=line.member_id,
        member_name=line.member_name,
        symbol=line.symbol,
        base_asset=line.base_asset,
        quote_asset=line.quote_asset,
        securities_in=line.securities_in,
        securities_out=line.securities_out,
        net_securities=line.net_securities,
        cash_paid=line.cash_paid,
        cash_received=line.cash_received,
        net_cash=line.net_cash,
        fees=line.fees,
        trades=line.trades,
    )
