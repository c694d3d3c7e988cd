"""`/api/binance/launchpad/*`: Binance Launchpad token sales (launchpad.py).

- `GET /launchpad/projects` (newest first, `?cursor=&limit=`) and `GET /launchpad/projects/{id}`
  — public: the sale's terms, its phase (upcoming, committing, calculating, allocated,
  distributed), total committed and participants;
- `POST /launchpad/projects` — staff only (staff.py; an API key also needs `binance:staff`):
  creates a sale and mints its supply; Idempotency-Key;
- `POST /launchpad/projects/{id}/commit` — the caller commits quote from their spot wallet
  (Idempotency-Key: a retried request commits once);
- `GET /launchpad/projects/{id}/my` — the caller's own commitment, allocation, payment, refund,
  tokens and commits (nobody else's: the user comes from the credential, never the URL).

Amounts are 8-place decimal strings, as in the rest of the Binance API; a value off the
8-decimal grid is refused (422), never rounded.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.marketdata import decimal_text
from casebook.platform.auth.deps import CurrentPrincipal
from casebook.platform.db import Session, WriteSession, utcnow
from casebook.platform.errors import Forbidden, InvalidInput
from casebook.platform.idempotency import Idempotent
from casebook.platform.ids import IdStr
from casebook.platform.pagination import Keyset, Page, PageQuery
from casebook.systems.binance import launchpad
from casebook.systems.binance.launchpad_models import (
    LaunchpadCommit,
    LaunchpadCommitment,
    LaunchpadProject,
)
from casebook.systems.binance.staff import is_staff

DECIMAL = r"^\d{1,12}(\.\d{1,8})?$"
SCALE = launchpad.SCALE
NEWEST_FIRST = Keyset(LaunchpadProject.id)
ProjectId = Annotated[int, Path(ge=1, le=2**63 - 1)]

router = APIRouter(prefix="/launchpad", tags=["binance"])


def minor(text: str) -> int:
    """An 8-place decimal string as minor units (the pattern already bounds it)."""
    return int(Decimal(text) * SCALE)


def amount(value: int | None) -> str | None:
    return None if value is None else decimal_text(value, SCALE)


class ProjectIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    symbol: str = Field(pattern=r"^[A-Z][A-Z0-9]{1,9}$", examples=["NEWT"])
    name: str = Field(min_length=1, max_length=100)
    description: str = Field(default="", max_length=2000)
    quote_asset: str = Field(default="USDT", pattern=r"^(USDT|BNB)$")
    price: str = Field(pattern=DECIMAL, description="Quote per whole token.", examples=["0.1"])
    tokens_for_sale: str = Field(pattern=DECIMAL, examples=["1000000"])
    per_user_cap: str = Field(pattern=DECIMAL, description="Quote one user may commit.")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    distributes_at: AwareDatetime
    list_pair: bool = Field(default=False, description="List <TOKEN><QUOTE> after the sale.")


class CommitIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(pattern=DECIMAL, examples=["100"])


class ProjectOut(BaseModel):
    id: IdStr
    symbol: str
    name: str
    description: str
    quote_asset: str
    price: str
    tokens_for_sale: str
    hard_cap: str
    per_user_cap: str
    starts_at: datetime
    ends_at: datetime
    distributes_at: datetime
    list_pair: bool
    status: str
    phase: str
    total_committed: str
    participants: int
    tokens_sold: str | None
    raised: str | None

    @classmethod
    def of(cls, project: LaunchpadProject) -> ProjectOut:
        return cls(
            id=project.id,
            symbol=project.symbol,
            name=project.name,
            description=project.description,
            quote_asset=project.quote_asset,
            price=decimal_text(project.price, SCALE),
            tokens_for_sale=decimal_text(project.tokens_for_sale, SCALE),
            hard_cap=decimal_text(project.hard_cap, SCALE),
            per_user_cap=decimal_text(project.per_user_cap, SCALE),
            starts_at=project.starts_at,
            ends_at=project.ends_at,
            distributes_at=project.distributes_at,
            list_pair=project.list_pair,
            status=project.status,
            phase=launchpad.phase(project, utcnow()),
            total_committed=decimal_text(project.total_committed, SCALE),
            participants=project.participants,
            tokens_sold=amount(project.tokens_sold),
            raised=amount(project.raised),
        )


class CommitOut(BaseModel):
    id: IdStr
    amount: str
    created_at: datetime


class MyOut(BaseModel):
    project_id: IdStr
    symbol: str
    quote_asset: str
    committed: str
    allocation: str | None
    """Quote of the commitment that bought tokens (null until allocated)."""
    payment: str | None
    refund: str | None
    tokens: str | None
    distributed: bool
    commits: list[CommitOut]

    @classmethod
    def of(
        cls,
        project: LaunchpadProject,
        row: LaunchpadCommitment | None,
        commits: list[LaunchpadCommit],
    ) -> MyOut:
        return cls(
            project_id=project.id,
            symbol=project.symbol,
            quote_asset=project.quote_asset,
            committed=decimal_text(row.committed if row else 0, SCALE),
            allocation=amount(row.allocation if row else None),
            payment=amount(row.payment if row else None),
            refund=amount(row.refund if row else None),
            tokens=amount(row.tokens if row else None),
            distributed=bool(row and row.distributed_at is not None),
            commits=[
                CommitOut(id=c.id, amount=decimal_text(c.amount, SCALE), created_at=c.created_at)
                for c in commits
            ],
        )


async def _my(session: AsyncSession, project: LaunchpadProject, user_id: int) -> MyOut:
    row = await launchpad.my_commitment(session, project.id, user_id)
    commits = await launchpad.my_commits(session, project.id, user_id)
    return MyOut.of(project, row, commits)


@router.get("/projects", response_model=Page[ProjectOut])
async def list_projects(page: PageQuery, session: Session) -> Page[ProjectOut]:
    """Every sale, newest first."""
    rows, next_cursor = await NEWEST_FIRST.fetch(session, select(LaunchpadProject), page)
    return Page[ProjectOut](items=[ProjectOut.of(p) for p in rows], next_cursor=next_cursor)


@router.get("/projects/{project_id}", response_model=ProjectOut)
async def get_project(project_id: ProjectId, session: Session) -> ProjectOut:
    """One sale; 404 if there is none."""
    return ProjectOut.of(await launchpad.get_project(session, project_id))


@router.post("/projects", status_code=201, response_model=ProjectOut, dependencies=[Idempotent])
async def create_project(
    body: ProjectIn, principal: CurrentPrincipal, session: WriteSession
) -> ProjectOut:
    """Create a sale (staff only: 403 otherwise) and mint its supply. 422 for bad terms (a
    hard cap price x tokens under one minor unit, an empty or past window, distribution before
    the window ends, an existing asset's symbol); 409 if the symbol is taken."""
    if not await is_staff(session, principal):
        raise Forbidden("Only Binance staff may create Launchpad projects.")
    spec = launchpad.ProjectSpec(
        symbol=body.symbol,
        name=body.name,
        description=body.description,
        quote_asset=body.quote_asset,
        price=minor(body.price),
        tokens_for_sale=minor(body.tokens_for_sale),
        per_user_cap=minor(body.per_user_cap),
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        distributes_at=body.distributes_at,
        list_pair=body.list_pair,
    )
    return ProjectOut.of(await launchpad.create_project(session, principal.user_id, spec))


@router.post("/projects/{project_id}/commit", response_model=MyOut, dependencies=[Idempotent])
async def commit(
    project_id: ProjectId, body: CommitIn, principal: CurrentPrincipal, session: WriteSession
) -> MyOut:
    """Commit quote from the caller's spot wallet to the sale; answers the caller's commitment.
    409 outside the window or without funds, 422 above the per-user cap, 404 no such sale."""
    value = minor(body.amount)
    if value == 0:
        raise InvalidInput("amount must be positive.", field="amount")
    await launchpad.commit(session, project_id, principal.user_id, value)
    project = await launchpad.get_project(session, project_id)
    return await _my(session, project, principal.user_id)


@router.get("/projects/{project_id}/my", response_model=MyOut)
async def my_commitment(
    project_id: ProjectId, principal: CurrentPrincipal, session: Session
) -> MyOut:
    """The caller's commitment to the sale and, once allocated, its outcome."""
    project = await launchpad.get_project(session, project_id)
    return await _my(session, project, principal.user_id)
