"""Binance Launchpad, the core: pro-rata allocation arithmetic (against an exact Fraction
model), commits (window, cap, funds, races), and the settlement: exactly once when re-run or run
concurrently, resuming after a crash inside or between its steps, with the ledger verified."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from fractions import Fraction
from math import ceil, floor

import pytest
from fastapi import FastAPI
from hypothesis import given, settings
from hypothesis import strategies as st

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.platform.jobs import JobStatus
from casebook.platform.settings import Settings
from casebook.systems.binance import launchpad, spot
from casebook.systems.binance.launchpad_models import LaunchpadProject
from tests.systems.binance.launchpad_support import (
    SCALE,
    Buyer,
    balance,
    buyer,
    new_sale,
    sale_balances,
    snapshot,
)
from tests.systems.binance.spot_support import binance_app

pytestmark = pytest.mark.feature("binance", "launchpad")


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    async with binance_app(settings) as application:
        yield application


# Arithmetic


@settings(max_examples=300, deadline=None)
@given(
    commits=st.lists(st.integers(1, 10**12), min_size=1, max_size=30),
    tokens=st.integers(1, 10**13),
    price=st.integers(1, 10**11),
)
def test_allocation_matches_the_exact_model_and_never_oversells(
    commits: list[int], tokens: int, price: int
) -> None:
    cap = launchpad.hard_cap(tokens, price)
    if cap < 1:
        return
    total = sum(commits)
    outcomes = [launchpad.allocation_of(c, total, cap, price) for c in commits]
    for c, a in zip(commits, outcomes, strict=True):
        exact = Fraction(c) if total <= cap else Fraction(c * cap, total)
        assert a.allocation == floor(exact)
        assert a.tokens == floor(Fraction(a.allocation * SCALE, price))
        assert a.payment == ceil(Fraction(a.tokens * price, SCALE))
        assert 0 <= a.payment <= a.allocation <= c
        assert a.payment + a.refund == c and a.refund >= 0
    assert sum(a.allocation for a in outcomes) <= cap
    assert sum(a.tokens for a in outcomes) <= tokens
    if total <= cap:
        assert all(a.allocation == c for a, c in zip(outcomes, commits, strict=True))


# Commits


async def test_commits_move_quote_into_the_sale_escrow_within_the_cap(platform: Platform) -> None:
    sale = await new_sale(platform, per_user_cap=300 * SCALE)
    alice = await buyer(platform, 1_000 * SCALE)
    now = utcnow()
    async with platform.db.session(write=True) as session:
        await launchpad.commit(session, sale.id, alice.user_id, 100 * SCALE, now)
    async with platform.db.session(write=True) as session:
        mine = await launchpad.commit(session, sale.id, alice.user_id, 200 * SCALE, now)
    assert mine.committed == 300 * SCALE
    assert await balance(platform, alice.account_id, "USDT") == 700 * SCALE
    assert (await sale_balances(platform, sale))["escrow"] == 300 * SCALE

    with pytest.raises(launchpad.CapExceeded):
        async with platform.db.session(write=True) as session:
            await launchpad.commit(session, sale.id, alice.user_id, 1, now)
    async with platform.db.session() as session:
        project = await launchpad.get_project(session, sale.id)
        assert (project.total_committed, project.participants) == (300 * SCALE, 1)
        assert len(await launchpad.my_commits(session, sale.id, alice.user_id)) == 2
    assert await balance(platform, alice.account_id, "USDT") == 700 * SCALE


async def test_refused_commits_change_nothing(platform: Platform) -> None:
    sale = await new_sale(platform)
    poor = await buyer(platform, 5 * SCALE)
    now = utcnow()
    cases: list[tuple[type[Exception], datetime]] = [
        (InsufficientFunds, now),
        (launchpad.SaleNotOpen, now - timedelta(minutes=2)),  # before the window
        (launchpad.SaleNotOpen, now + timedelta(hours=1)),  # at its end (exclusive)
    ]
    for error, when in cases:
        with pytest.raises(error):
            async with platform.db.session(write=True) as session:
                await launchpad.commit(session, sale.id, poor.user_id, 6 * SCALE, when)
    with pytest.raises(launchpad.SaleNotFound):
        async with platform.db.session(write=True) as session:
            await launchpad.commit(session, 12345, poor.user_id, SCALE, now)
    async with platform.db.session() as session:
        project = await launchpad.get_project(session, sale.id)
        assert (project.total_committed, project.participants) == (0, 0)
        assert await launchpad.my_commitment(session, sale.id, poor.user_id) is None
    assert await balance(platform, poor.account_id, "USDT") == 5 * SCALE


async def test_racing_commits_respect_the_cap_and_the_funds(platform: Platform) -> None:
    sale = await new_sale(platform, per_user_cap=30 * SCALE)
    racer = await buyer(platform, 50 * SCALE)  # funds for 5 commits, cap for 3
    others = [await buyer(platform, 10 * SCALE) for _ in range(4)]
    now = utcnow()

    async def attempt(who: Buyer) -> bool:
        try:
            async with platform.db.session(write=True) as session:
                await launchpad.commit(session, sale.id, who.user_id, 10 * SCALE, now)
        except (launchpad.CapExceeded, InsufficientFunds):
            return False
        return True

    results = await asyncio.gather(
        *(attempt(racer) for _ in range(8)), *(attempt(o) for o in others for _ in range(2))
    )
    assert sum(results[:8]) == 3
    assert sum(results[8:]) == 4  # each of the others can afford one
    async with platform.db.session() as session:
        project = await launchpad.get_project(session, sale.id)
        assert project.total_committed == 70 * SCALE
        assert project.participants == 5
    assert (await sale_balances(platform, sale))["escrow"] == 70 * SCALE
    assert await balance(platform, racer.account_id, "USDT") == 20 * SCALE
    async with platform.db.session() as session:
        assert (await verify(session)).ok


# Settlement


async def _oversubscribed(platform: Platform) -> tuple[LaunchpadProject, list[Buyer], list[int]]:
    """1,000 tokens at 0.1 USDT (hard cap 100 USDT); 300 USDT committed by three buyers."""
    sale = await new_sale(platform, tokens=1_000 * SCALE, price=SCALE // 10)
    commits = [50 * SCALE, 100 * SCALE + 7, 150 * SCALE - 7]
    buyers = [await buyer(platform, 200 * SCALE) for _ in commits]
    now = utcnow()
    for b, amount in zip(buyers, commits, strict=True):
        async with platform.db.session(write=True) as session:
            await launchpad.commit(session, sale.id, b.user_id, amount, now)
    return sale, buyers, commits


async def _assert_settled(
    platform: Platform, sale: LaunchpadProject, buyers: list[Buyer], commits: list[int]
) -> None:
    total = sum(commits)
    expected = [launchpad.allocation_of(c, total, sale.hard_cap, sale.price) for c in commits]
    for b, a in zip(buyers, expected, strict=True):
        assert await balance(platform, b.account_id, sale.symbol) == a.tokens
        assert await balance(platform, b.account_id, "USDT") == 200 * SCALE - a.payment
    sold = sum(a.tokens for a in expected)
    books = await sale_balances(platform, sale)
    assert books == {
        "escrow": 0,
        "proceeds": sum(a.payment for a in expected),
        "issuance": -sale.tokens_for_sale,
        "sale": 0,
        "treasury": sale.tokens_for_sale - sold,
    }
    assert sum(a.payment + a.refund for a in expected) == total
    assert sold <= sale.tokens_for_sale
    async with platform.db.session() as session:
        project = await launchpad.get_project(session, sale.id)
        assert project.status == launchpad.COMPLETED
        assert (project.tokens_sold, project.raised) == (sold, books["proceeds"])
        assert (await verify(session)).ok


async def test_an_oversubscribed_sale_settles_pro_rata_once(platform: Platform) -> None:
    sale, buyers, commits = await _oversubscribed(platform)
    ended = sale.ends_at + timedelta(seconds=1)
    assert await launchpad.settle(platform, sale.id, ended) == launchpad.ALLOCATED
    async with platform.db.session() as session:
        mine = await launchpad.my_commitment(session, sale.id, buyers[0].user_id)
        assert mine is not None and mine.allocation == 50 * SCALE // 3  # 50 x 100 / 300
        assert mine.distributed_at is None
    # Nothing moves before the distribution time.
    assert await balance(platform, buyers[0].account_id, sale.symbol) == 0

    done = sale.distributes_at
    assert await launchpad.settle(platform, sale.id, done) == launchpad.COMPLETED
    await _assert_settled(platform, sale, buyers, commits)
    before = await snapshot(platform, sale, buyers)
    assert await launchpad.settle(platform, sale.id, done) == launchpad.COMPLETED
    assert await snapshot(platform, sale, buyers) == before


async def test_an_undersubscribed_sale_fills_everyone_and_returns_the_rest(
    platform: Platform,
) -> None:
    sale = await new_sale(platform, tokens=1_000 * SCALE, price=3 * SCALE // 7)
    buyers = [await buyer(platform, 200 * SCALE) for _ in range(2)]
    commits = [20 * SCALE, 33 * SCALE + 1]
    for b, amount in zip(buyers, commits, strict=True):
        async with platform.db.session(write=True) as session:
            await launchpad.commit(session, sale.id, b.user_id, amount, utcnow())
    await launchpad.settle(platform, sale.id, sale.distributes_at)
    for b, c in zip(buyers, commits, strict=True):
        tokens = c * SCALE // sale.price
        assert await balance(platform, b.account_id, sale.symbol) == tokens
        # Fully allocated: the price is under 1 USDT, so rounding leaves no refund at all.
        assert await balance(platform, b.account_id, "USDT") == 200 * SCALE - c
    await _assert_settled(platform, sale, buyers, commits)


async def test_concurrent_settlements_act_once(platform: Platform) -> None:
    sale, buyers, commits = await _oversubscribed(platform)
    statuses = await asyncio.gather(
        *(launchpad.settle(platform, sale.id, sale.distributes_at, batch=1) for _ in range(3))
    )
    assert statuses == [launchpad.COMPLETED] * 3
    await _assert_settled(platform, sale, buyers, commits)


async def test_a_crash_inside_a_distribution_batch_resumes_exactly_once(
    platform: Platform,
) -> None:
    sale, buyers, commits = await _oversubscribed(platform)
    batches = 0

    async def crash_on_second(count: int) -> None:
        nonlocal batches
        batches += 1
        if batches == 2:
            raise RuntimeError("process died mid-batch")

    with pytest.raises(RuntimeError):
        await launchpad.settle(
            platform, sale.id, sale.distributes_at, batch=1, on_batch=crash_on_second
        )
    async with platform.db.session() as session:
        project = await launchpad.get_project(session, sale.id)
        assert project.status == launchpad.ALLOCATED
    distributed = [await balance(platform, b.account_id, sale.symbol) > 0 for b in buyers]
    assert distributed.count(True) == 1  # the first batch committed, the second rolled back
    assert await launchpad.settle(platform, sale.id, sale.distributes_at) == launchpad.COMPLETED
    await _assert_settled(platform, sale, buyers, commits)


async def test_a_crash_between_steps_resumes_exactly_once(platform: Platform) -> None:
    sale, buyers, commits = await _oversubscribed(platform)
    when = sale.distributes_at
    # The process runs step 1 and one batch of step 2, then dies before the rest.
    async with platform.db.session(write=True) as session:
        assert await launchpad.allocate(session, sale.id, when)
    async with platform.db.session(write=True) as session:
        assert await launchpad.distribute_batch(session, sale.id, when, batch=2) == 2
    async with platform.db.session(write=True) as session:
        assert not await launchpad.finish(session, sale.id, when)  # one is left
    # A restarted process re-runs every step from the start.
    assert await launchpad.settle(platform, sale.id, when) == launchpad.COMPLETED
    await _assert_settled(platform, sale, buyers, commits)
    async with platform.db.session(write=True) as session:
        assert not await launchpad.allocate(session, sale.id, when)
        assert await launchpad.distribute_batch(session, sale.id, when) == 0
        assert not await launchpad.finish(session, sale.id, when)


async def test_commits_are_refused_once_the_sale_is_allocated(platform: Platform) -> None:
    sale, buyers, _ = await _oversubscribed(platform)
    await launchpad.settle(platform, sale.id, sale.ends_at)
    with pytest.raises(launchpad.SaleNotOpen):
        async with platform.db.session(write=True) as session:
            # Even a clock that says "inside the window" cannot commit to an allocated sale.
            await launchpad.commit(session, sale.id, buyers[0].user_id, SCALE, utcnow())


async def test_a_listed_sale_becomes_a_spot_pair_the_buyers_can_sell_on(
    platform: Platform,
) -> None:
    sale = await new_sale(platform, tokens=100 * SCALE, price=2 * SCALE, list_pair=True)
    alice = await buyer(platform, 100 * SCALE)
    async with platform.db.session(write=True) as session:
        await launchpad.commit(session, sale.id, alice.user_id, 10 * SCALE, utcnow())
    await launchpad.settle(platform, sale.id, sale.distributes_at)
    venue = spot.exchange(platform)
    async with platform.db.session() as session:
        pair = await venue.instrument(session, sale.symbol + "USDT")
    assert (pair.base_asset, pair.quote_asset, pair.npl) == (sale.symbol, "USDT", 1)
    assert pair.reference_price == 2 * SCALE // launchpad.PAIR_TICK
    assert await balance(platform, alice.account_id, sale.symbol) == 5 * SCALE


async def test_the_settlement_job_runs_for_sales_that_are_due(platform: Platform) -> None:
    past = utcnow() - timedelta(hours=3)
    sale = await new_sale(platform, now=past)  # window and distribution already over
    alice = await buyer(platform, 10 * SCALE)
    async with platform.db.session(write=True) as session:
        await launchpad.commit(session, sale.id, alice.user_id, 10 * SCALE, past)
    jobs = await launchpad.enqueue_due(platform)
    assert jobs == [f"{launchpad.SETTLE_JOB}:{sale.id}"]
    for _ in range(100):
        info = await platform.jobs.get(jobs[0])
        if info is not None and info.status in (JobStatus.COMPLETE, JobStatus.FAILED):
            break
        await asyncio.sleep(0.05)
    assert info is not None and info.status is JobStatus.COMPLETE, info
    assert await balance(platform, alice.account_id, sale.symbol) == 100 * SCALE
    assert await launchpad.enqueue_due(platform) == []
    assert (await sale_balances(platform, sale))["escrow"] == 0
    async with platform.db.session() as session:
        assert (await verify(session)).ok
