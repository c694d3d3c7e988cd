"""Alipay's per-process state (`platform.state["alipay"]`) and its scheduled jobs.

Jobs, all idempotent (the job queue runs them at least once):
- `alipay.accrue-yield` — daily at 00:05 UTC, the fund's yield for the day that just ended;
- `alipay.reconcile` — daily at 00:10 UTC, the bank's settlement file of that day vs the ledger;
- `alipay.resolve-bank-orders` — every minute, settles orders whose bank answer was lost.
Each run enqueues the next one, keyed by its due time, so the processes of a cluster share one.
"""

from __future__ import annotations

import time as clock
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import structlog

from casebook.engines.ledger import expiry
from casebook.platform.context import Platform
from casebook.systems.alipay import banking, fund, reconciliation
from casebook.systems.alipay.bank import BankBehaviour, SimulatedBank
from casebook.systems.alipay.config import AlipaySettings
from casebook.systems.alipay.qr import derive_qr_key

STATE_KEY = "alipay"
ACCRUE_JOB = "alipay.accrue-yield"
RECONCILE_JOB = "alipay.reconcile"
RESOLVE_JOB = "alipay.resolve-bank-orders"
ACCRUE_AT = timedelta(minutes=5)
RECONCILE_AT = timedelta(minutes=10)
RESOLVE_EVERY_SECONDS = 60
log = structlog.get_logger("casebook.alipay")


@dataclass
class Alipay:
    config: AlipaySettings
    bank: SimulatedBank
    qr_key: bytes


def alipay(platform: Platform) -> Alipay:
    state: Alipay = platform.state[STATE_KEY]
    return state


def _next_daily(offset: timedelta, now: float) -> tuple[float, date]:
    """(seconds until the next run, the day it processes): runs at midnight UTC + offset."""
    current = datetime.fromtimestamp(now, UTC)
    midnight = current.replace(hour=0, minute=0, second=0, microsecond=0)
    due = midnight + offset
    if due <= current:
        due += timedelta(days=1)
    return (due - current).total_seconds(), (due - timedelta(days=1)).date()


async def schedule_daily(platform: Platform, name: str, offset: timedelta) -> str:
    delay, day = _next_daily(offset, clock.time())
    return await platform.jobs.enqueue(
        name, {"day": day.isoformat()}, key=day.isoformat(), delay=delay
    )


async def accrue_yield_job(platform: Platform, payload: dict[str, Any]) -> None:
    state = alipay(platform)
    run = await fund.accrue_yield(
        platform.db, date.fromisoformat(payload["day"]), state.config.fund_annual_yield_bp
    )
    log.info("fund yield accrued", day=str(run.day), holders=run.holders, posted=run.posted)
    await schedule_daily(platform, ACCRUE_JOB, ACCRUE_AT)


async def reconcile_job(platform: Platform, payload: dict[str, Any]) -> None:
    state = alipay(platform)
    day = date.fromisoformat(payload["day"])
    settlement_file = await state.bank.settlement_file(day)
    await platform.blobs.put(f"alipay/settlement/{day.isoformat()}.csv", settlement_file.encode())
    report = await reconciliation.reconcile(platform.db, day, settlement_file)
    log.info("reconciled", day=str(day), matched=report.matched, breaks=len(report.breaks))
    await schedule_daily(platform, RECONCILE_JOB, RECONCILE_AT)


async def schedule_resolve(platform: Platform) -> str:
    now = clock.time()
    due = (int(now) // RESOLVE_EVERY_SECONDS + 1) * RESOLVE_EVERY_SECONDS
    return await platform.jobs.enqueue(RESOLVE_JOB, {}, key=str(due), delay=due - now)


async def resolve_bank_orders_job(platform: Platform, payload: dict[str, Any]) -> None:
    resolved = await banking.resolve_pending(platform.db, alipay(platform).bank)
    if resolved:
        log.info("resolved pending bank orders", count=resolved)
    await schedule_resolve(platform)


async def start(platform: Platform) -> None:
    """`System.on_startup`: state, the ledger's hold expiry, and the jobs above."""
    config = AlipaySettings()
    bank = SimulatedBank(
        platform.db,
        BankBehaviour(
            latency_seconds=config.bank_latency_seconds, failure_rate=config.bank_failure_rate
        ),
    )
    platform.state[STATE_KEY] = Alipay(
        config=config, bank=bank, qr_key=derive_qr_key(platform.settings.signing_key)
    )
    expiry.install(platform)
    platform.jobs.register(ACCRUE_JOB, accrue_yield_job, retries=5)
    platform.jobs.register(RECONCILE_JOB, reconcile_job, retries=5)
    platform.jobs.register(RESOLVE_JOB, resolve_bank_orders_job, retries=3)
    # Enqueued before the queue starts: the in-process queue keeps them until it does, Redis
    # stores them at once.
    await schedule_daily(platform, ACCRUE_JOB, ACCRUE_AT)
    await schedule_daily(platform, RECONCILE_JOB, RECONCILE_AT)
    await schedule_resolve(platform)
