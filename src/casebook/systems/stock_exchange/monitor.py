"""The surveillance desk: runs the detectors on every committed batch of the venue and keeps
their findings as alerts for the compliance page.

`Surveillance.on_commit` is a venue listener (`Venue.listeners`): the venue calls it after each
commit with one instrument's events in commit order. Batches are scanned one at a time (a lock)
so the detectors see events in the order the book produced them. An alert is written in its own
transaction: a failure to record one is logged and never undoes the trades it is about.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.matching.types import TRADE
from casebook.engines.matching.views import Instrument, OrderView
from casebook.platform.db import Database
from casebook.platform.ids import new_id
from casebook.systems.stock_exchange import members
from casebook.systems.stock_exchange.models import Alert
from casebook.systems.stock_exchange.surveillance import Detectors, Finding

log = structlog.get_logger("casebook.stock_exchange.monitor")


class Surveillance:
    """Detectors of one venue plus the alert store. Owners of accounts are cached: an account's
    beneficial owner never changes."""

    def __init__(self, db: Database, detectors: Detectors | None = None) -> None:
        self.db = db
        self.detectors = detectors or Detectors()
        self._owners: dict[int, int] = {}
        self._lock = asyncio.Lock()
        self.batches = 0
        """Batches scanned so far (their alerts stored)."""
        self._scanned = asyncio.Condition()

    async def on_commit(
        self,
        instrument: Instrument,
        events: Sequence[tuple[Any, ...]],
        orders: Mapping[int, OrderView],
    ) -> None:
        """Scan one committed batch and store its alerts. O(len(events)) plus one query for
        accounts not seen before."""
        async with self._lock:
            unknown = {
                account
                for e in events
                if e[0] == TRADE
                for account in (e[3], e[5])
                if account not in self._owners
            }
            if unknown:
                async with self.db.session() as session:
                    self._owners.update(await members.owners(session, unknown))
            findings = self.detectors.scan(instrument.id, events, self._owners.get)
            if findings:
                await self._store(instrument, findings)
        async with self._scanned:
            self.batches += 1
            self._scanned.notify_all()

    async def _store(self, instrument: Instrument, findings: list[Finding]) -> None:
        try:
            async with self.db.session() as session:
                session.add_all(
                    Alert(
                        id=new_id(),
                        kind=f.kind,
                        instrument_id=f.instrument_id,
                        symbol=instrument.symbol,
                        account_id=f.account_id,
                        detail=f.detail,
                    )
                    for f in findings
                )
        except Exception:
            log.exception("surveillance: could not store alerts", count=len(findings))

    async def wait_for_batches(self, count: int) -> None:
        """Wait until `count` batches have been scanned (the venue calls its listeners after
        `place` returns). Callers bound the wait with `asyncio.timeout`."""
        async with self._scanned:
            await self._scanned.wait_for(lambda: self.batches >= count)


async def alerts(
    session: AsyncSession, *, kind: str | None = None, before_id: int | None = None, limit: int = 50
) -> list[Alert]:
    """Alerts, newest first (`before_id` pages back)."""
    stmt = select(Alert)
    if kind is not None:
        stmt = stmt.where(Alert.kind == kind)
    if before_id is not None:
        stmt = stmt.where(Alert.id < before_id)
    return list((await session.scalars(stmt.order_by(Alert.id.desc()).limit(limit))).all())
