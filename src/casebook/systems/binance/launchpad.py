"""Binance Launchpad: token sales where users commit a quote asset during a window and receive
the new token pro rata after it.

A project (created by staff) sells `tokens_for_sale` minor units of a new token at `price`
quote minor units per whole token (10**8 token minor units, as every asset here); its hard cap
is C = floor(tokens_for_sale * price / 10**8) quote minor units. Creating it mints the supply in
the ledger: issuance (EQUITY, may go negative: where a new asset comes from) → the sale's
token account.

Commits. During [starts_at, ends_at) a user commits quote from their spot wallet, up to the
per-user cap in total. A commit is a ledger transfer into the sale's **escrow** account (one
per sale, LIABILITY, so the database refuses to let it go below zero) rather than a hold on the
wallet: holds would need one partial POST per commit at settlement, whereas an escrow balance
equals the sale's total committed at every moment (auditable, and 0 once settled) and
settlement is ordinary transfers with derived ids. One commit is three atomic statements in one
transaction: `total_committed += x` on the project row *only while it is open and in its
window* (the row lock this takes also orders commits before the settlement's close), the
user's `committed += x` *only while it stays within the cap*, and the ledger transfer (refused
without funds). Any refusal rolls the whole transaction back. Exactly-once per request is the
platform's Idempotency-Key.

Settlement (`settle`, run by a job keyed by the sale; every step re-runnable, each one a
transaction, so a crash between or inside steps resumes and acts once):

1. `allocate` (once now ≥ ends_at): under the project row lock, from status `open`, computes
   every commitment's outcome with `allocation_of` and stores it; status → `allocated`.
2. `distribute_batch` (once now ≥ distributes_at), repeated: takes up to `batch` commitments not
   yet distributed (row locks) and moves, in one linked ledger batch with ids derived from
   (sale, user, leg): payment escrow → the project's proceeds, refund escrow → the user's spot
   wallet, tokens sale account → the user's spot wallet of the new token; marks them
   distributed. A re-run finds nothing left; a replayed transfer answers EXISTS.
3. `finish`: when none is left, the unsold tokens go from the sale account to the project's
   treasury (derived id); status → `completed`. The sale's escrow is then exactly 0.
4. If the project says so, the new token is listed on the spot venue as <TOKEN><QUOTE>
   (idempotent by symbol).

Rounding (integers only): allocation a = c when Σc ≤ C, else floor(c * C / Σc) (rounded down,
so Σa ≤ C); tokens t = floor(a * 10**8 / price) (down, so Σt ≤ tokens_for_sale); payment =
ceil(t * price / 10**8) ≤ a (the buyer pays for the tokens received, rounded up to a whole quote
minor unit, less than 10**-8 of the quote); refund = c - payment. So payments + refunds =
commitments exactly, and the unsold remainder tokens_for_sale - Σt returns to the project.

Costs: `commit` O(log n) (three indexed single-row statements + one ledger transfer);
`allocate` O(n) for n participants (one pass, one bulk UPDATE); `distribute_batch` O(b log n);
`settle` O(n log n) in n/b transactions. The project row is the hot spot of commits (one row
lock per commit), the price of exact totals and a race-free close.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import MAX_AMOUNT, AccountKind, Ledger, Outcome, Transfer
from casebook.engines.ledger.errors import refusal
from casebook.engines.matching.risk import wallet_owner
from casebook.engines.matching.settlement import WALLET
from casebook.engines.matching.views import InstrumentSpec
from casebook.platform.context import Platform
from casebook.platform.db import Database, utcnow
from casebook.platform.errors import Conflict, InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.binance import spot
from casebook.systems.binance.launchpad_models import (
    LaunchpadCommit,
    LaunchpadCommitment,
    LaunchpadProject,
)

SCALE = spot.SCALE
QUOTE_ASSETS = ("USDT", "BNB")
SYMBOL = re.compile(r"^[A-Z][A-Z0-9]{1,9}$")
PAIR_TICK = 10**4
"""A listed token's pair: tick 0.0001 quote, lot 0.0001 token (npl = 1)."""
PAIR_LOT = 10**4
DEFAULT_BATCH = 200

OPEN, ALLOCATED, COMPLETED = "open", "allocated", "completed"


# Errors


class SaleNotFound(NotFound):
    type_ = "binance/launchpad-project-not-found"
    title = "No such Launchpad project"


class SaleNotOpen(Conflict):
    type_ = "binance/launchpad-not-open"
    title = "The sale is not taking commitments"


class CapExceeded(InvalidInput):
    type_ = "binance/launchpad-cap-exceeded"
    title = "The commitment would exceed the per-user cap"


class TokenSymbolTaken(Conflict):
    type_ = "binance/launchpad-symbol-taken"
    title = "The token symbol is already in use"


class InvalidProject(InvalidInput):
    type_ = "binance/launchpad-invalid-project"
    title = "The project is invalid"


# Pure arithmetic


@dataclass(frozen=True)
class Allocation:
    allocation: int
    """Quote minor units of the commitment that buy tokens."""
    tokens: int
    payment: int
    refund: int


def hard_cap(tokens_for_sale: int, price: int) -> int:
    """The most quote a sale takes: floor(tokens * price / 10**8)."""
    return tokens_for_sale * price // SCALE


def allocation_of(committed: int, total: int, cap: int, price: int) -> Allocation:
    """One commitment's outcome (module docstring: rounding). O(1).

    `committed` ≤ `total` (the sale's total), `cap` the hard cap, `price` quote minor units per
    whole token. Invariants: payment + refund = committed; payment ≤ allocation ≤ committed."""
    allocation = committed if total <= cap else committed * cap // total
    tokens = allocation * SCALE // price
    payment = -(-tokens * price // SCALE)
    return Allocation(allocation, tokens, payment, committed - payment)


# Ledger accounts of a sale


def sale_owner(project_id: int) -> str:
    return f"binance:launchpad:{project_id}"


def derived_id(*parts: object) -> int:
    """A positive 63-bit ledger id derived from `parts`, so a replayed step answers EXISTS."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") & (2**63 - 1)) or 1


@dataclass(frozen=True)
class SaleAccounts:
    escrow: int
    proceeds: int
    issuance: int
    sale: int
    treasury: int


async def sale_accounts(ledger: Ledger, project: LaunchpadProject) -> SaleAccounts:
    """The sale's ledger accounts (get-or-create, idempotent)."""
    owner = sale_owner(project.id)

    async def account(name: str, currency: str, kind: AccountKind, negative: bool = False) -> int:
        opened = await ledger.open_account(
            owner=owner, name=name, currency=currency, kind=kind, allow_negative=negative
        )
        return opened.id

    return SaleAccounts(
        escrow=await account("escrow", project.quote_asset, AccountKind.LIABILITY),
        proceeds=await account("proceeds", project.quote_asset, AccountKind.LIABILITY),
        issuance=await account("issuance", project.symbol, AccountKind.EQUITY, negative=True),
        sale=await account("sale", project.symbol, AccountKind.LIABILITY),
        treasury=await account("treasury", project.symbol, AccountKind.LIABILITY),
    )


async def venue_wallet(ledger: Ledger, account_id: int, asset: str) -> int:
    """A venue account's spot wallet of `asset` (opened on first use)."""
    opened = await ledger.open_account(
        owner=wallet_owner(spot.VENUE, account_id),
        name=WALLET,
        currency=asset,
        kind=AccountKind.LIABILITY,
    )
    return opened.id


async def _create_linked(ledger: Ledger, transfers: list[Transfer]) -> None:
    if not transfers:
        return
    for index, transfer in enumerate(transfers[:-1]):
        transfers[index] = replace(transfer, linked=True)
    for outcome in await ledger.create_transfers(transfers):
        if not outcome.succeeded and outcome is not Outcome.LINKED_EVENT_FAILED:
            raise refusal(outcome)


# Projects


@dataclass(frozen=True)
class ProjectSpec:
    symbol: str
    name: str
    quote_asset: str
    price: int
    tokens_for_sale: int
    per_user_cap: int
    starts_at: datetime
    ends_at: datetime
    distributes_at: datetime
    list_pair: bool = False
    description: str = ""


def _check(spec: ProjectSpec, now: datetime) -> int:
    bad: list[str] = []
    if not SYMBOL.match(spec.symbol) or spec.symbol in spot.ASSETS:
        bad.append("symbol")
    if spec.quote_asset not in QUOTE_ASSETS:
        bad.append("quote_asset")
    for name in ("price", "tokens_for_sale", "per_user_cap"):
        if not 1 <= getattr(spec, name) <= MAX_AMOUNT:
            bad.append(name)
    cap = hard_cap(spec.tokens_for_sale, spec.price)
    if not bad and not 1 <= cap <= MAX_AMOUNT:
        bad += ["price", "tokens_for_sale"]
    if spec.list_pair and spec.price % PAIR_TICK:
        bad.append("price")  # the listed pair must be able to trade at the sale price
    if not spec.starts_at < spec.ends_at:
        bad.append("ends_at")
    if spec.ends_at <= now:
        bad.append("ends_at")
    if spec.distributes_at < spec.ends_at:
        bad.append("distributes_at")
    if bad:
        fields = sorted(set(bad))
        raise InvalidProject(
            "These fields are invalid: " + ", ".join(fields) + " (symbol 2-10 upper-case "
            "letters/digits and not an existing asset; quote USDT or BNB; starts < ends ≤ "
            "distribution; the window must not be over; hard cap 1..10**15 minor units; a listed "
            "token's price a multiple of 0.0001).",
            fields=fields,
        )
    return cap


async def create_project(
    session: AsyncSession, created_by: int, spec: ProjectSpec, now: datetime | None = None
) -> LaunchpadProject:
    """Create a sale and mint its supply into the sale's token account, in the caller's
    transaction. Raises InvalidProject (422), TokenSymbolTaken (409). O(log n)."""
    now = now or utcnow()
    cap = _check(spec, now)
    taken = await session.scalar(
        select(LaunchpadProject.id).where(LaunchpadProject.symbol == spec.symbol)
    )
    if taken is not None:
        raise TokenSymbolTaken(f"{spec.symbol} is already sold by project {taken}.")
    project = LaunchpadProject(
        id=new_id(),
        symbol=spec.symbol,
        name=spec.name,
        description=spec.description,
        quote_asset=spec.quote_asset,
        price=spec.price,
        tokens_for_sale=spec.tokens_for_sale,
        hard_cap=cap,
        per_user_cap=spec.per_user_cap,
        starts_at=spec.starts_at,
        ends_at=spec.ends_at,
        distributes_at=spec.distributes_at,
        list_pair=spec.list_pair,
        status=OPEN,
        total_committed=0,
        participants=0,
        created_by=created_by,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(project)
    except IntegrityError as error:
        raise TokenSymbolTaken(f"{spec.symbol} is already sold by another project.") from error
    ledger = Ledger(session)
    accounts = await sale_accounts(ledger, project)
    await ledger.transfer(
        Transfer(
            id=derived_id("binance-launchpad", project.id, "mint"),
            debit_account_id=accounts.issuance,
            credit_account_id=accounts.sale,
            amount=project.tokens_for_sale,
            code="launchpad-mint",
            reference=sale_owner(project.id),
        )
    )
    return project


async def get_project(session: AsyncSession, project_id: int) -> LaunchpadProject:
    project = await session.get(LaunchpadProject, project_id)
    if project is None:
        raise SaleNotFound(f"There is no Launchpad project {project_id}.")
    return project


def phase(project: LaunchpadProject, now: datetime) -> str:
    """upcoming → committing → calculating → allocated → distributed (for display)."""
    if project.status == COMPLETED:
        return "distributed"
    if project.status == ALLOCATED:
        return "allocated"
    if now < project.starts_at:
        return "upcoming"
    if now < project.ends_at:
        return "committing"
    return "calculating"


# Commits


def _dialect(session: AsyncSession) -> Any:
    return postgresql if session.get_bind().dialect.name == "postgresql" else sqlite


async def commit(
    session: AsyncSession,
    project_id: int,
    user_id: int,
    amount: int,
    now: datetime | None = None,
) -> LaunchpadCommitment:
    """Commit `amount` quote minor units from the user's spot wallet to the sale, in the
    caller's (write) transaction; returns the user's commitment. Raises InvalidInput (bad
    amount), SaleNotFound, SaleNotOpen (409, outside the window or settled), CapExceeded (422),
    InsufficientFunds (409); on any refusal the caller's transaction must roll back (the
    request's does). O(log n)."""
    if not 1 <= amount <= MAX_AMOUNT:
        raise InvalidInput("amount must be 1..10**15 minor units.", field="amount")
    now = now or utcnow()
    opened = await session.execute(
        update(LaunchpadProject)
        .where(
            LaunchpadProject.id == project_id,
            LaunchpadProject.status == OPEN,
            LaunchpadProject.starts_at <= now,
            LaunchpadProject.ends_at > now,
        )
        .values(total_committed=LaunchpadProject.total_committed + amount)
        .execution_options(synchronize_session=False)
    )
    if opened.rowcount != 1:  # type: ignore[attr-defined]
        project = await get_project(session, project_id)
        state = phase(project, now)
        raise SaleNotOpen(f"Project {project_id} is {state}; commits are taken while committing.")
    project = await get_project(session, project_id)
    account_id = await spot.account_of(session, user_id)
    inserted = await session.execute(
        _dialect(session)
        .insert(LaunchpadCommitment)
        .values(
            project_id=project_id,
            user_id=user_id,
            account_id=account_id,
            committed=0,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )
    if inserted.rowcount == 1:  # type: ignore[attr-defined]
        await session.execute(
            update(LaunchpadProject)
            .where(LaunchpadProject.id == project_id)
            .values(participants=LaunchpadProject.participants + 1)
            .execution_options(synchronize_session=False)
        )
    within = await session.execute(
        update(LaunchpadCommitment)
        .where(
            LaunchpadCommitment.project_id == project_id,
            LaunchpadCommitment.user_id == user_id,
            LaunchpadCommitment.committed + amount <= project.per_user_cap,
        )
        .values(committed=LaunchpadCommitment.committed + amount)
        .execution_options(synchronize_session=False)
    )
    if within.rowcount != 1:  # type: ignore[attr-defined]
        raise CapExceeded(
            f"The per-user cap of this sale is {project.per_user_cap} minor units.",
            field="amount",
        )
    ledger = Ledger(session)
    accounts = await sale_accounts(ledger, project)
    transfer_id = new_id()
    await ledger.transfer(
        Transfer(
            id=transfer_id,
            debit_account_id=await venue_wallet(ledger, account_id, project.quote_asset),
            credit_account_id=accounts.escrow,
            amount=amount,
            code="launchpad-commit",
            reference=sale_owner(project_id),
        )
    )
    session.add(
        LaunchpadCommit(
            id=new_id(),
            project_id=project_id,
            user_id=user_id,
            amount=amount,
            transfer_id=transfer_id,
            created_at=now,
        )
    )
    found = await my_commitment(session, project_id, user_id)
    assert found is not None
    return found


async def my_commitment(
    session: AsyncSession, project_id: int, user_id: int
) -> LaunchpadCommitment | None:
    """The user's commitment to the sale (fresh from the database), or None. O(log n)."""
    return await session.scalar(
        select(LaunchpadCommitment)
        .where(LaunchpadCommitment.project_id == project_id, LaunchpadCommitment.user_id == user_id)
        .execution_options(populate_existing=True)
    )


async def my_commits(
    session: AsyncSession, project_id: int, user_id: int, limit: int = 100
) -> list[LaunchpadCommit]:
    """The user's own commits to the sale, newest first. O(limit + log n)."""
    return list(
        await session.scalars(
            select(LaunchpadCommit)
            .where(LaunchpadCommit.project_id == project_id, LaunchpadCommit.user_id == user_id)
            .order_by(LaunchpadCommit.id.desc())
            .limit(limit)
        )
    )


# Settlement


async def _locked_project(session: AsyncSession, project_id: int) -> LaunchpadProject:
    project = await session.scalar(
        select(LaunchpadProject)
        .where(LaunchpadProject.id == project_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if project is None:
        raise SaleNotFound(f"There is no Launchpad project {project_id}.")
    return project


async def allocate(session: AsyncSession, project_id: int, now: datetime) -> bool:
    """Step 1: compute and store every commitment's outcome, once the window is over. Returns
    whether it did (False: too early, or already done). O(n) for n participants."""
    project = await _locked_project(session, project_id)
    if project.status != OPEN or now < project.ends_at:
        return False
    rows = list(
        await session.execute(
            select(LaunchpadCommitment.user_id, LaunchpadCommitment.committed).where(
                LaunchpadCommitment.project_id == project_id
            )
        )
    )
    total = sum(committed for _, committed in rows)
    # The project's counter and the rows are kept by the same transactions: a mismatch is a bug.
    assert total == project.total_committed, (total, project.total_committed)
    outcomes = {
        user_id: allocation_of(committed, total, project.hard_cap, project.price)
        for user_id, committed in rows
    }
    if outcomes:
        # Core executemany: one statement, n parameter sets.
        table = cast(Table, LaunchpadCommitment.__table__)
        await session.execute(
            update(table)
            .where(table.c.project_id == project_id, table.c.user_id == bindparam("b_user"))
            .values(
                allocation=bindparam("b_allocation"),
                tokens=bindparam("b_tokens"),
                payment=bindparam("b_payment"),
                refund=bindparam("b_refund"),
            ),
            [
                {
                    "b_user": user_id,
                    "b_allocation": a.allocation,
                    "b_tokens": a.tokens,
                    "b_payment": a.payment,
                    "b_refund": a.refund,
                }
                for user_id, a in outcomes.items()
            ],
        )
    project.status = ALLOCATED
    project.tokens_sold = sum(a.tokens for a in outcomes.values())
    project.raised = sum(a.payment for a in outcomes.values())
    project.allocated_at = now
    await session.flush()
    return True


async def distribute_batch(
    session: AsyncSession,
    project_id: int,
    now: datetime,
    batch: int = DEFAULT_BATCH,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> int:
    """Step 2: pay the project, refund the excess and credit the tokens of up to `batch`
    commitments not yet distributed (once allocated and now ≥ distributes_at). Returns how many
    it distributed. `on_batch(count)` runs inside the transaction after the ledger moves and
    before the rows are marked: the hook fault-injection tests use to crash mid-step.
    O(b log n)."""
    project = await get_project(session, project_id)
    if project.status != ALLOCATED or now < project.distributes_at:
        return 0
    rows = list(
        await session.scalars(
            select(LaunchpadCommitment)
            .where(
                LaunchpadCommitment.project_id == project_id,
                LaunchpadCommitment.distributed_at.is_(None),
            )
            .order_by(LaunchpadCommitment.user_id)
            .limit(batch)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )
    rows = [row for row in rows if row.distributed_at is None]
    if not rows:
        return 0
    ledger = Ledger(session)
    accounts = await sale_accounts(ledger, project)
    transfers: list[Transfer] = []
    for row in rows:
        assert row.payment is not None and row.refund is not None and row.tokens is not None
        reference = sale_owner(project_id)
        legs = (
            ("payment", row.payment, accounts.escrow, accounts.proceeds),
            (
                "refund",
                row.refund,
                accounts.escrow,
                await venue_wallet(ledger, row.account_id, project.quote_asset),
            ),
            (
                "tokens",
                row.tokens,
                accounts.sale,
                await venue_wallet(ledger, row.account_id, project.symbol),
            ),
        )
        transfers += [
            Transfer(
                id=derived_id("binance-launchpad", project_id, row.user_id, leg),
                debit_account_id=debit,
                credit_account_id=credit,
                amount=amount,
                code=f"launchpad-{leg}",
                reference=reference,
            )
            for leg, amount, debit, credit in legs
            if amount > 0
        ]
    await _create_linked(ledger, transfers)
    if on_batch is not None:
        await on_batch(len(rows))
    await session.execute(
        update(LaunchpadCommitment)
        .where(
            LaunchpadCommitment.project_id == project_id,
            LaunchpadCommitment.user_id.in_([row.user_id for row in rows]),
        )
        .values(distributed_at=now)
        .execution_options(synchronize_session=False)
    )
    return len(rows)


async def undistributed(session: AsyncSession, project_id: int) -> int:
    """How many commitments of the sale are not distributed yet. O(k log n)."""
    count = await session.scalar(
        select(func.count())
        .select_from(LaunchpadCommitment)
        .where(
            LaunchpadCommitment.project_id == project_id,
            LaunchpadCommitment.distributed_at.is_(None),
        )
    )
    return int(count or 0)


async def finish(session: AsyncSession, project_id: int, now: datetime) -> bool:
    """Step 3: once every commitment is distributed, return the unsold tokens to the project's
    treasury and mark the sale completed. Returns whether it did. O(log n)."""
    project = await _locked_project(session, project_id)
    if project.status != ALLOCATED or now < project.distributes_at:
        return False
    if await undistributed(session, project_id):
        return False
    assert project.tokens_sold is not None
    unsold = project.tokens_for_sale - project.tokens_sold
    if unsold > 0:
        ledger = Ledger(session)
        accounts = await sale_accounts(ledger, project)
        await ledger.transfer(
            Transfer(
                id=derived_id("binance-launchpad", project_id, "unsold"),
                debit_account_id=accounts.sale,
                credit_account_id=accounts.treasury,
                amount=unsold,
                code="launchpad-unsold",
                reference=sale_owner(project_id),
            )
        )
    project.status = COMPLETED
    project.completed_at = now
    await session.flush()
    return True


def pair_spec(project: LaunchpadProject) -> InstrumentSpec:
    """The spot pair <TOKEN><QUOTE> of a listed sale, referenced at the sale price."""
    return InstrumentSpec(
        symbol=project.symbol + project.quote_asset,
        base_asset=project.symbol,
        quote_asset=project.quote_asset,
        tick_size=PAIR_TICK,
        lot_size=PAIR_LOT,
        base_scale=SCALE,
        min_qty=1,
        max_qty=max(1, project.tokens_for_sale // PAIR_LOT),
        maker_fee_bps=spot.FEE_BPS,
        taker_fee_bps=spot.FEE_BPS,
        reference_price=max(1, project.price // PAIR_TICK),
    )


async def settle(
    platform: Platform,
    project_id: int,
    now: datetime | None = None,
    *,
    batch: int = DEFAULT_BATCH,
    on_batch: Callable[[int], Awaitable[None]] | None = None,
) -> str:
    """Run every settlement step that is due, each in its own transaction; returns the sale's
    status afterwards. Re-runnable and safe to run concurrently: each step acts once (module
    docstring). O(n log n)."""
    now = now or utcnow()
    db: Database = platform.db
    async with db.session(write=True) as session:
        await allocate(session, project_id, now)
        project = await get_project(session, project_id)
        distributing = project.status == ALLOCATED and now >= project.distributes_at
    while distributing:
        async with db.session(write=True) as session:
            done = await distribute_batch(session, project_id, now, batch, on_batch)
            # 0 with rows left: a concurrent run held them (our row locks waited for it and
            # found them done); select again rather than stop early.
            distributing = done > 0 or await undistributed(session, project_id) > 0
    async with db.session(write=True) as session:
        await finish(session, project_id, now)
        project = await get_project(session, project_id)
        status, list_pair = project.status, project.list_pair
        spec = pair_spec(project)
    if status == COMPLETED and list_pair:
        async with db.session() as session:
            await spot.exchange(platform).list_instrument(session, spec)
    return status


async def due_projects(db: Database, now: datetime) -> list[int]:
    """Sales with a settlement step due: open past their window, or allocated past their
    distribution time. O(k log n)."""
    async with db.session() as session:
        rows = await session.scalars(
            select(LaunchpadProject.id).where(
                ((LaunchpadProject.status == OPEN) & (LaunchpadProject.ends_at <= now))
                | (
                    (LaunchpadProject.status == ALLOCATED)
                    & (LaunchpadProject.distributes_at <= now)
                )
            )
        )
        return [int(row) for row in rows]


# Jobs

SETTLE_JOB = "binance.launchpad-settle"
CYCLE_JOB = "binance.launchpad-cycle"
CYCLE_INTERVAL = 5.0


async def _settle_job(platform: Platform, payload: dict[str, Any]) -> None:
    """Settle one sale (the job is keyed by the sale: one at a time across a cluster)."""
    await settle(platform, int(payload["project_id"]))


async def enqueue_due(platform: Platform, now: datetime | None = None) -> list[str]:
    """Enqueue the settlement job of every sale with a step due (module docstring). O(k)."""
    due = await due_projects(platform.db, now or utcnow())
    return [
        await platform.jobs.enqueue(SETTLE_JOB, {"project_id": str(pid)}, key=str(pid))
        for pid in due
    ]


async def _cycle_job(platform: Platform, payload: dict[str, Any]) -> None:
    try:
        await enqueue_due(platform)
    finally:
        await schedule_cycle(platform)


async def schedule_cycle(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next sweep at the next interval boundary, keyed by it (one per slot across a
    cluster); the sweep also catches sales whose job was lost with a restarted process."""
    now = time.time() if now is None else now
    slot = int(now // CYCLE_INTERVAL) + 1
    return await platform.jobs.enqueue(
        CYCLE_JOB, {}, key=str(slot), delay=max(0.0, slot * CYCLE_INTERVAL - now)
    )


async def start_launchpad(platform: Platform) -> None:
    """Register the Launchpad's jobs and start its sweep (called by `runtime.start`)."""
    platform.jobs.register(SETTLE_JOB, _settle_job, retries=3)
    platform.jobs.register(CYCLE_JOB, _cycle_job, retries=3)
    await schedule_cycle(platform)
