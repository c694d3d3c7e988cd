"""Expiry of pending holds: a job that releases every hold whose timeout has passed.

Posting or voiding an expired hold is refused from the moment its timeout passes, whether or not
this job has run yet; the job only returns the reserved amount to the balance. It writes an
`expire` transfer per hold through `Ledger.create_transfers`, so a hold that was posted, voided or
expired meanwhile is refused there and nothing is released twice; running it again, or in two
processes at once, changes nothing more.
"""

from __future__ import annotations

import time
from typing import Any

import structlog
from sqlalchemy import func, select, text

from casebook.engines.ledger.domain import Transfer, TransferKind
from casebook.engines.ledger.ledger import TRANSFERS, Ledger
from casebook.platform.context import Platform
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id

log = structlog.get_logger("casebook.ledger.expiry")

EXPIRY_JOB = "ledger.expire-holds"
EXPIRY_EVERY_SECONDS = 10
BATCH = 1000


async def expire_holds(db: Database, *, limit: int = BATCH) -> int:
    """Release up to `limit` holds whose timeout has passed; returns how many it released.

    O(log n + k) for k expired holds (a partial index holds only open holds with a timeout).
    """
    async with db.session(write=True) as session:
        now = (
            await session.scalar(text("SELECT clock_timestamp()")) if not db.is_sqlite else utcnow()
        )
        due = (
            await session.execute(
                select(TRANSFERS.c.id)
                .where(
                    TRANSFERS.c.pending_status == "pending",
                    TRANSFERS.c.timeout_at.is_not(None),
                    TRANSFERS.c.timeout_at <= now,
                )
                .order_by(TRANSFERS.c.timeout_at)
                .limit(limit)
            )
        ).scalars()
        transfers = [Transfer(id=new_id(), kind=TransferKind.EXPIRE, pending_id=i) for i in due]
        if not transfers:
            return 0
        outcomes = await Ledger(session).create_transfers(transfers)
    released = sum(1 for outcome in outcomes if outcome.succeeded)
    log.info("expired holds", released=released, due=len(transfers))
    return released


async def open_holds(db: Database) -> int:
    """How many holds are still pending (for `casebook ledger verify` and the console)."""
    async with db.session() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(TRANSFERS)
            .where(TRANSFERS.c.pending_status == "pending")
        )
    return int(count or 0)


def install(platform: Platform) -> None:
    """Register the expiry job once per process; call from a system's `on_startup`.

    Every system that holds money calls it; the first call registers, later ones do nothing.
    """
    if platform.state.get(EXPIRY_JOB):
        return
    platform.state[EXPIRY_JOB] = True
    platform.jobs.register(EXPIRY_JOB, _expiry_job, retries=3)


async def schedule_expiry(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next run at the next EXPIRY_EVERY_SECONDS boundary, keyed by it, so the
    processes of a cluster share one run per slot on Redis."""
    now = time.time() if now is None else now
    due = (int(now) // EXPIRY_EVERY_SECONDS + 1) * EXPIRY_EVERY_SECONDS
    return await platform.jobs.enqueue(EXPIRY_JOB, {}, key=str(due), delay=due - now)


async def _expiry_job(platform: Platform, payload: dict[str, Any]) -> None:
    while await expire_holds(platform.db) == BATCH:
        pass
    await schedule_expiry(platform)
