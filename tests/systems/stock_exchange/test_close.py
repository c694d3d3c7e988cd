"""The daily close: DAY orders expire with their holds released, GTC orders stay, and the next
close is queued once per date."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.stock_exchange.runtime import (
    CLOSE_JOB,
    close_session,
    next_close,
    schedule_close,
)
from tests.systems.stock_exchange.conftest import API, Member, list_aapl, verified


def test_the_next_close_is_todays_until_it_has_passed() -> None:
    assert next_close(datetime(2026, 3, 2, 14, 0, tzinfo=UTC)) == datetime(
        2026, 3, 2, 21, 0, tzinfo=UTC
    )
    assert next_close(datetime(2026, 3, 2, 21, 0, tzinfo=UTC)) == datetime(
        2026, 3, 3, 21, 0, tzinfo=UTC
    )
    assert next_close(datetime(2026, 12, 31, 23, 0, tzinfo=UTC)) == datetime(
        2027, 1, 1, 21, 0, tzinfo=UTC
    )


@pytest.mark.feature("stock-exchange", "order-entry")
async def test_the_close_expires_day_orders_and_keeps_gtc_ones(
    client: httpx.AsyncClient, platform: Platform, officer: Member
) -> None:
    await list_aapl(client, officer)
    trader = await verified(client, officer, USD=100_000)
    orders = {}
    for tif, price in (("day", "140.00"), ("gtc", "141.00")):
        placed = await client.post(
            f"{API}/orders",
            json={
                "symbol": "AAPL",
                "side": "buy",
                "quantity": 2,
                "price": price,
                "time_in_force": tif,
            },
            headers=trader.headers,
        )
        assert placed.status_code == 201, placed.text
        orders[tif] = placed.json()["id"]
    held = (await client.get(f"{API}/account/balance", headers=trader.headers)).json()
    assert held["cash"][0]["locked"] >= (14_000 + 14_100) * 2  # both holds, fees on top

    await close_session(platform, {})
    await close_session(platform, {})  # a retried job: nothing left to expire

    day = (await client.get(f"{API}/orders/{orders['day']}", headers=trader.headers)).json()
    gtc = (await client.get(f"{API}/orders/{orders['gtc']}", headers=trader.headers)).json()
    assert day["status"] == "expired" and day["open_quantity"] == 0
    assert gtc["status"] == "open" and gtc["open_quantity"] == 2
    after = (await client.get(f"{API}/account/balance", headers=trader.headers)).json()
    released = held["cash"][0]["locked"] - after["cash"][0]["locked"]
    assert 14_000 * 2 <= released < 14_100 * 2  # the DAY order's hold, and only it
    assert after["cash"][0]["total"] == held["cash"][0]["total"] == 100_000
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_one_close_is_queued_per_date(platform: Platform) -> None:
    now = datetime(2030, 5, 6, 12, 0, tzinfo=UTC)
    first = await schedule_close(platform, now)
    again = await schedule_close(platform, now.replace(hour=13))
    assert first == again
    job = await platform.jobs.get(first)
    assert job is not None and job.name == CLOSE_JOB
    assert job.payload == {"close": "2030-05-06T21:00:00+00:00"}


async def test_a_close_that_runs_early_still_schedules_the_next_day(platform: Platform) -> None:
    """The job chains from the close it was for, so a run a moment before 21:00 (a skewed
    clock) queues tomorrow's close instead of finding itself."""
    close = next_close(datetime.now(UTC)) + timedelta(days=1)  # running well before its time
    await close_session(platform, {"close": close.isoformat()})
    tomorrow = close + timedelta(days=1)
    queued = [j for j in await platform.jobs.list_jobs() if j.name == CLOSE_JOB]
    assert {"close": tomorrow.isoformat()} in [j.payload for j in queued]
