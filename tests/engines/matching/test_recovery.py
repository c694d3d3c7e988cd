"""Recovery: snapshot + journal rebuild exactly the book that committed; accepted orders that
never reached the writer are submitted at start."""

from __future__ import annotations

import random

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import recovery
from casebook.engines.matching import venue as venues
from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.errors import OrderNotOpen
from casebook.engines.matching.journal import latest_snapshot
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import NewOrder, Venue, VenueConfig
from tests.engines.matching.conftest import (
    VENUE,
    assert_books_balance,
    balances,
    funded,
    list_stock,
)


def state(book: OrderBook) -> tuple[object, ...]:
    return (list(book.open_orders()), book.depth(100), book.trade_seq, book.order_count)


async def trade_randomly(venue: Venue, instrument_id: int, accounts: list[int], n: int) -> None:
    rng = random.Random(11)
    placed: list[tuple[int, int]] = []
    for _ in range(n):
        roll = rng.random()
        try:
            if roll < 0.6 or not placed:
                account = rng.choice(accounts)
                side = rng.choice((Side.BUY, Side.SELL))
                view = await venue.place(
                    NewOrder(account, instrument_id, side, rng.randint(1, 5), rng.randint(95, 105))
                )
                placed.append((account, view.id))
            elif roll < 0.8:
                account, order_id = rng.choice(placed)
                await venue.cancel(account, order_id)
            else:
                account, order_id = rng.choice(placed)
                await venue.replace(account, order_id, rng.randint(95, 105), rng.randint(1, 5))
        except (InsufficientFunds, OrderNotOpen):
            pass


async def test_snapshot_plus_journal_equals_the_live_book(venue: Venue) -> None:
    aapl = await list_stock(venue, maker_bps=3, taker_bps=7)
    accounts = [await funded(venue, f"t{i}", USD=20_000, AAPL=100) for i in range(4)]
    await trade_randomly(venue, aapl.id, accounts, 60)
    live = venue.book(aapl.id)
    assert live.trade_seq > 0 and live.order_count > 0
    async with venue.platform.db.session() as session:
        snapshot = await latest_snapshot(session, VENUE, aapl.id)
        assert snapshot is not None and snapshot[0] % 7 == 0  # snapshot_every=7 in the fixture
        rebuilt, seq = await recovery.rebuild_book(session, VENUE, aapl.id)
    assert seq == venue.last_seq[aapl.id] > snapshot[0]
    assert state(rebuilt) == state(live)
    await assert_books_balance(venue)


async def test_a_restarted_venue_continues_exactly_and_submits_accepted_orders(
    venue: Venue,
) -> None:
    aapl = await list_stock(venue)
    accounts = [await funded(venue, f"t{i}", USD=20_000, AAPL=100) for i in range(3)]
    await trade_randomly(venue, aapl.id, accounts, 30)
    before = state(venue.book(aapl.id))
    buyer = await funded(venue, "late", USD=1_000)
    # Accepted and held, then the process "dies" before the writer sees it.
    instrument_id, command = await venue.accept(NewOrder(buyer, aapl.id, Side.BUY, 2, 90))
    assert (await balances(venue, buyer))["USD"] == (1_000, 180)
    assert venue.book(aapl.id).open_order(command[1]) is None
    platform = venue.platform
    await venues.stop(platform, VENUE)

    restarted = await venues.start(platform, VenueConfig(venue=VENUE, snapshot_every=7))
    try:
        book = restarted.book(aapl.id)
        assert book.open_order(command[1]) == (buyer, Side.BUY, 90, 2)
        async with platform.db.session() as session:
            order = await restarted.order(session, buyer, command[1])
        assert order.status == "open"
        rest = [o for o in book.open_orders() if o[0] != command[1]]
        assert rest == before[0]
        assert book.trade_seq == before[2]
        await trade_randomly(restarted, instrument_id, accounts, 10)
        await assert_books_balance(restarted)
    finally:
        await venues.stop(platform, VENUE)
        await venues.start(platform, VenueConfig(venue=VENUE))  # the fixture stops it
