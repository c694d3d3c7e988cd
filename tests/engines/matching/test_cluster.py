"""Cluster mode (cluster.py): two venues over one PostgreSQL database and one Redis, as two
processes would run them (each on its own Platform: its own database pool and bus connections).

Proves: one owner per book by lease; commands of the other process routed to the owner over the
bus and answered after its commit (views, and the owner's Problems as the same classes); the
replica's book and market data following the owner's (with the owner's md seq); a clean handoff
when the owner stops; a concurrent mix from both processes leaving the book equal to the open
orders and the ledger balanced; and embedded mode unchanged (no cluster, no lease rows).
The owner killed with SIGKILL is test_cluster_kill.py."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy import func, select

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import venue as venues
from casebook.engines.matching.cluster import ClusterConfig, LeaseLost
from casebook.engines.matching.errors import OrderNotFound, OrderNotOpen, VenueClosed
from casebook.engines.matching.models import MatchingLease, MatchingOrder
from casebook.engines.matching.types import EXPIRE_DAY, Side
from casebook.engines.matching.venue import NewOrder, Venue, VenueConfig
from casebook.platform.context import Platform
from tests.engines.matching.conftest import assert_books_balance, balances, funded, list_stock

VENUE = "cluster-venue"
FAST = ClusterConfig(
    lease_seconds=1.0,
    renew_seconds=0.25,
    request_timeout=10.0,
    resend_seconds=0.2,
    follow_seconds=0.3,
)


async def eventually(check: Callable[[], bool], within: float = 8.0) -> None:
    """Wait (polling every 20 ms) until `check()` holds; fail after `within` seconds."""
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.fixture
async def other(platform: Platform) -> AsyncIterator[Platform]:
    """A second process's platform on the same database and Redis."""
    if platform.redis is None:
        pytest.skip("cluster mode needs PostgreSQL + Redis (CASEBOOK_TEST_BACKENDS=postgres)")
    second = Platform.start(platform.settings)
    try:
        yield second
    finally:
        for each in (platform, second):
            await venues.stop(each, VENUE)
        await second.close()


async def start_pair(platform: Platform, other: Platform) -> tuple[Venue, Venue, int]:
    """Venue A (owner of AAPL) on `platform`, venue B (replica) on `other`; AAPL's id."""
    a = await venues.start(platform, VenueConfig(venue=VENUE, snapshot_every=5, cluster=FAST))
    aapl = await list_stock(a, maker_bps=5, taker_bps=10)
    assert a.cluster is not None
    await a.cluster.tick()
    b = await venues.start(other, VenueConfig(venue=VENUE, snapshot_every=5, cluster=FAST))
    assert a.cluster is not None and b.cluster is not None
    assert a.cluster.owns(aapl.id) and not b.cluster.owns(aapl.id)
    return a, b, aapl.id


def depth(venue: Venue, instrument_id: int) -> tuple[int, dict[str, object]]:
    md = venue.marketdata(instrument_id)
    return md.seq, md.l2(100)


async def open_orders_in_db(
    venue: Venue, instrument_id: int
) -> list[tuple[int, int, Side, int, int]]:
    async with venue.platform.db.session() as session:
        rows = await session.scalars(
            select(MatchingOrder).where(
                MatchingOrder.venue == VENUE,
                MatchingOrder.instrument_id == instrument_id,
                MatchingOrder.status.in_(("open", "partially_filled")),
            )
        )
        return sorted(
            (r.id, r.account_id, Side.BUY if r.side == "buy" else Side.SELL, r.price, r.open_qty)
            for r in rows
        )


async def test_commands_of_another_process_are_routed_to_the_owner(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    seller = await funded(a, "seller", AAPL=10)
    buyer = await funded(b, "buyer", USD=100_000)

    sell = await a.place(NewOrder(seller, aapl, Side.SELL, qty=5, price=100))
    assert sell.status == "open"
    # B does not own AAPL: its placement commits here, the command runs in A's writer.
    buy = await b.place(NewOrder(buyer, aapl, Side.BUY, qty=3, price=101))
    assert (buy.status, buy.filled_qty, buy.notional_filled) == ("filled", 3, 300)
    assert a.book(aapl).open_order(sell.id)[3] == 2  # type: ignore[index]

    # The owner's Problems come back as the same classes, and change nothing.
    with pytest.raises(OrderNotOpen):
        await b.replace(buyer, buy.id, 101, 3)  # filled
    moved = await b.replace(seller, sell.id, 102, None)  # keep qty as the owner's book has it
    assert (moved.price, moved.open_qty, moved.status) == (102, 2, "partially_filled")
    greedy = await b.place(NewOrder(buyer, aapl, Side.BUY, qty=1, price=90))
    with pytest.raises(InsufficientFunds):
        await b.replace(buyer, greedy.id, 90, 10_000)
    assert (await b.cancel(seller, sell.id)).status == "cancelled"
    with pytest.raises(OrderNotOpen):
        await b.cancel(seller, sell.id)
    with pytest.raises(OrderNotFound):
        await b.cancel(buyer, sell.id)  # another account's order, found by neither process
    assert (await b.cancel(buyer, greedy.id)).status == "cancelled"

    assert await balances(b, buyer) == {"AAPL": (3, 0), "USD": (100_000 - 300 - 0, 0)}
    assert (await balances(a, seller))["AAPL"] == (7, 0)

    # B's replica follows A's book and market data, at A's market-data seq.
    await eventually(lambda: depth(b, aapl) == depth(a, aapl))
    assert list(b.book(aapl).open_orders()) == list(a.book(aapl).open_orders())
    assert b.last_price[aapl] == 100
    assert b.marketdata(aapl).l1()["last_price"] == 100
    await assert_books_balance(a)


async def test_a_replica_follows_the_owner_book_and_market_data(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    maker = await funded(a, "maker", AAPL=50, USD=50_000)
    taker = await funded(a, "taker", AAPL=50, USD=50_000)
    rng = random.Random(7)
    for _ in range(30):
        side = rng.choice((Side.BUY, Side.SELL))
        who = rng.choice((maker, taker))
        await a.place(NewOrder(who, aapl, side, qty=rng.randint(1, 3), price=rng.randint(98, 102)))
    await eventually(lambda: depth(b, aapl) == depth(a, aapl))
    assert list(b.book(aapl).open_orders()) == list(a.book(aapl).open_orders())
    assert [t.trade_seq for t in b.marketdata(aapl).trades(50)] == [
        t.trade_seq for t in a.marketdata(aapl).trades(50)
    ]
    assert b.last_seq[aapl] == a.last_seq[aapl]


async def test_a_clean_stop_hands_the_books_to_the_other_process(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    seller = await funded(a, "seller", AAPL=10)
    buyer = await funded(b, "buyer", USD=100_000)
    resting = await b.place(NewOrder(seller, aapl, Side.SELL, qty=4, price=100))
    before = list(a.book(aapl).open_orders())

    await venues.stop(platform, VENUE)  # drains A's writer and gives the lease up
    assert b.cluster is not None
    await b.cluster.tick()
    assert b.cluster.owns(aapl) and b.cluster.takeovers == 1
    assert list(b.book(aapl).open_orders()) == before
    fill = await b.place(NewOrder(buyer, aapl, Side.BUY, qty=4, price=100))
    assert fill.status == "filled"
    async with b.platform.db.session() as session:
        order = await b.order(session, seller, resting.id)
        epoch = await session.scalar(select(MatchingLease.epoch))
    assert order.status == "filled" and epoch == 2
    await assert_books_balance(b)


async def test_a_writer_without_the_lease_writes_nothing(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    seller = await funded(a, "seller", AAPL=10)
    assert a.cluster is not None and b.cluster is not None
    # B takes the lease behind A's back (A paused past its lease, say): A's writer is fenced.
    async with platform.db.session(write=True) as session:
        lease = await session.get(MatchingLease, (VENUE, aapl))
        assert lease is not None
        lease.expires_at = lease.expires_at.replace(year=2000)
    await b.cluster.tick()
    assert b.cluster.owns(aapl)
    journaled_before = b.last_seq[aapl]
    with pytest.raises(LeaseLost):
        # Straight to A's writer, as a batch already queued when the lease moved would be.
        await a.writer.submit(aapl, (EXPIRE_DAY, 0))
    assert not a.cluster.owns(aapl)
    # Commands placed through A now reach B, the owner.
    view = await a.place(NewOrder(seller, aapl, Side.SELL, qty=2, price=100))
    assert view.status == "open"
    assert b.book(aapl).open_order(view.id) is not None
    assert b.last_seq[aapl] == journaled_before + 1
    await eventually(lambda: list(a.book(aapl).open_orders()) == list(b.book(aapl).open_orders()))


async def test_concurrent_orders_from_both_processes_keep_book_and_ledger_exact(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    traders = [await funded(a, f"t{i}", AAPL=100, USD=20_000) for i in range(4)]

    async def trade(venue: Venue, seed: int) -> None:
        rng = random.Random(seed)
        mine: list[int] = []
        for _ in range(15):
            account = traders[seed % len(traders)]
            try:
                if rng.random() < 0.7 or not mine:
                    view = await venue.place(
                        NewOrder(
                            account,
                            aapl,
                            rng.choice((Side.BUY, Side.SELL)),
                            qty=rng.randint(1, 5),
                            price=rng.randint(97, 103),
                        )
                    )
                    mine.append(view.id)
                else:
                    await venue.cancel(account, rng.choice(mine))
            except (InsufficientFunds, OrderNotOpen):
                pass

    await asyncio.gather(*(trade(a if i % 2 else b, i) for i in range(8)))
    assert await open_orders_in_db(a, aapl) == sorted(o[:5] for o in a.book(aapl).open_orders())
    async with platform.db.session() as session:
        pending = await session.scalar(
            select(func.count()).where(MatchingOrder.status == "pending")
        )
    assert pending == 0
    market = a.listed[aapl].market
    resting = await open_orders_in_db(a, aapl)
    for account in traders:
        held = {"USD": 0, "AAPL": 0}
        for _, owner, side, price, open_qty in resting:
            if owner == account:
                held[market.hold_asset(side)] += market.hold_amount(side, price, open_qty)
        for asset, (total, locked) in (await balances(a, account)).items():
            assert locked == held[asset] and 0 <= locked <= total
    await assert_books_balance(a)
    await eventually(lambda: depth(b, aapl) == depth(a, aapl))


async def test_embedded_mode_has_no_cluster(platform: Platform) -> None:
    venue = await venues.start(platform, VenueConfig(venue=VENUE))
    try:
        assert venue.cluster is None
        instrument = await list_stock(venue)
        seller = await funded(venue, "seller", AAPL=1)
        await venue.place(NewOrder(seller, instrument.id, Side.SELL, qty=1, price=100))
        async with platform.db.session() as session:
            assert await session.scalar(select(func.count()).select_from(MatchingLease)) == 0
    finally:
        await venues.stop(platform, VENUE)


async def test_cluster_mode_needs_a_shared_bus(platform: Platform) -> None:
    if platform.redis is not None:
        pytest.skip("this platform has Redis; the refusal is for embedded mode")
    with pytest.raises(ValueError, match="Redis"):
        await venues.start(platform, VenueConfig(venue=VENUE, cluster=FAST))
    with pytest.raises(KeyError):
        venues.get(platform, VENUE)


def test_the_environment_turns_cluster_mode_on(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`casebook serve --workers N` sets CASEBOOK_MATCHING_CLUSTER=1 so N workers never each own
    every book: the variable alone asks for a cluster (refused without a shared bus)."""
    from casebook.engines.matching import cluster

    monkeypatch.delenv(cluster.ENV, raising=False)
    venue = Venue(platform, VenueConfig(venue=VENUE))
    assert venue.cluster is None and cluster.for_venue(venue) is None
    monkeypatch.setenv(cluster.ENV, "1")
    if platform.redis is None:
        with pytest.raises(ValueError, match="Redis"):
            cluster.for_venue(venue)
    else:
        assert isinstance(cluster.for_venue(venue), cluster.Cluster)


def test_cluster_timings_are_checked() -> None:
    with pytest.raises(ValueError):
        ClusterConfig(lease_seconds=1.0, renew_seconds=1.0)
    with pytest.raises(ValueError):
        ClusterConfig(request_timeout=0)


async def test_a_command_nobody_serves_times_out_and_a_placed_order_stays_held(
    platform: Platform, other: Platform
) -> None:
    a, b, aapl = await start_pair(platform, other)
    seller = await funded(a, "seller", AAPL=10)
    assert a.cluster is not None and b.cluster is not None
    # A stops serving without giving its lease up (its process hangs): B's commands go unanswered.
    slow = ClusterConfig(
        lease_seconds=30.0, renew_seconds=10.0, request_timeout=0.6, resend_seconds=0.2
    )
    b.cluster.config = slow
    resting = await a.place(NewOrder(seller, aapl, Side.SELL, qty=1, price=100))
    await a.cluster._stop_task(aapl)
    held = await b.place(NewOrder(seller, aapl, Side.SELL, qty=2, price=105))
    assert held.status == "pending"  # accepted and held; the next owner's recovery places it
    assert (await balances(b, seller))["AAPL"] == (10, 3)
    with pytest.raises(VenueClosed):
        await b.cancel(seller, resting.id)
