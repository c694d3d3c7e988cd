"""Start and stop the Stock Exchange in a process: its venue of the matching engine, gated by
KYC/AML (`kyc.can_trade`), with the surveillance desk listening to every committed batch, and
the daily close that expires DAY orders."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Any

from casebook.engines.matching import mount
from casebook.engines.matching import venue as matching
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.kyc import can_trade
from casebook.systems.stock_exchange.monitor import Surveillance

VENUE = "stock-exchange"
_DESK = "stock-exchange:surveillance"
CLOSE_JOB = "stock-exchange.close"
SESSION_CLOSE = time(21, 0, tzinfo=UTC)
"""The daily close: 16:00 in New York in winter (the exchange keeps one UTC time all year)."""


def next_close(now: datetime) -> datetime:
    """The first close strictly after `now` (aware)."""
    today = datetime.combine(now.astimezone(UTC).date(), SESSION_CLOSE)
    return today if today > now else today + timedelta(days=1)


async def schedule_close(platform: Platform, now: datetime | None = None) -> str:
    """Enqueue the next close, keyed by its date, so a cluster runs one a day however many
    processes schedule it."""
    now = now or datetime.now(UTC)
    close = next_close(now)
    return await platform.jobs.enqueue(
        CLOSE_JOB,
        {"close": close.isoformat()},
        key=close.date().isoformat(),
        delay=(close - now).total_seconds(),
    )


async def close_session(platform: Platform, payload: dict[str, Any]) -> None:
    """The close: every instrument's DAY orders expire (EXPIRE_DAY through the writer that owns
    the book, which releases their holds), then the next close is scheduled. Running it twice
    changes nothing the second time: no DAY order is left to expire."""
    try:
        await exchange(platform).end_of_day()
    finally:
        # From the close this job was for, not the clock alone: a job that starts a moment
        # early (another process's clock) must still schedule tomorrow's, not find itself.
        now = datetime.now(UTC)
        if "close" in payload:
            now = max(now, datetime.fromisoformat(payload["close"]))
        await schedule_close(platform, now)


async def start(platform: Platform) -> None:
    venue = await mount.startup(platform, matching.VenueConfig(venue=VENUE, can_trade=can_trade))
    desk = Surveillance(platform.db)
    venue.listeners.append(desk.on_commit)
    platform.state[_DESK] = desk
    # A second start in a running process (tests restart the venue) finds the handler there.
    with contextlib.suppress(ValueError, RuntimeError):
        platform.jobs.register(CLOSE_JOB, close_session, retries=3)
    await schedule_close(platform)


async def stop(platform: Platform) -> None:
    platform.state.pop(_DESK, None)
    await mount.shutdown(platform, VENUE)


def exchange(platform: Platform) -> matching.Venue:
    """The running venue of this process."""
    return matching.get(platform, VENUE)


def surveillance(platform: Platform) -> Surveillance:
    desk: Surveillance = platform.state[_DESK]
    return desk
