"""The single writer: commands share transactions, and a command that fails is refused alone."""

from __future__ import annotations

import asyncio

import pytest

from casebook.engines.ledger import Ledger, Transfer, TransferKind
from casebook.engines.matching import recovery
from casebook.engines.matching.errors import SettlementFailed, VenueClosed
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import NewOrder, Venue
from casebook.platform.ids import new_id
from tests.engines.matching.conftest import (
    VENUE,
    assert_books_balance,
    balances,
    funded,
    list_stock,
)


async def test_concurrent_commands_share_batches(venue: Venue) -> None:
    aapl = await list_stock(venue)
    accounts = [await funded(venue, f"t{i}", USD=10_000, AAPL=10) for i in range(4)]
    accepted = [
        await venue.accept(NewOrder(a, aapl.id, side, 1, 100 + i))
        for i, a in enumerate(accounts)
        for side in (Side.BUY,)
    ]
    before = venue.writer.batches
    views = await asyncio.gather(*(venue.writer.submit(i, c) for i, c in accepted))
    assert venue.writer.batches == before + 1
    assert [v.status for v in views if v is not None] == ["open"] * 4
    async with venue.platform.db.session() as session:
        orders, _ = await venue.orders(session, accounts[0], open_only=True)
    assert [o.id for o in orders] == [accepted[0][1][1]]


async def test_a_failing_command_is_refused_alone_and_the_rest_of_its_batch_commits(
    venue: Venue,
) -> None:
    aapl = await list_stock(venue)
    seller = await funded(venue, "seller", AAPL=5)
    resting = await venue.place(NewOrder(seller, aapl.id, Side.SELL, 5, 100))
    buyers = [await funded(venue, f"b{i}", USD=1_000) for i in range(4)]
    accepted = [await venue.accept(NewOrder(b, aapl.id, Side.BUY, 1, 100)) for b in buyers]
    bad_order_id = accepted[1][1][1]
    # Someone releases the bad order's hold behind the venue's back: its fill cannot settle.
    async with venue.platform.db.session(write=True) as session:
        async with venue.platform.db.session() as reader:
            order = await venue.order(reader, buyers[1], bad_order_id)
        row = await session.get(MatchingOrder, bad_order_id)
        assert row is not None and row.hold_transfer_id is not None and order.status == "pending"
        await Ledger(session).transfer(
            Transfer(id=new_id(), kind=TransferKind.VOID, pending_id=row.hold_transfer_id)
        )
    failed = venue.writer.failed_batches
    results = await asyncio.gather(
        *(venue.writer.submit(i, c) for i, c in accepted), return_exceptions=True
    )
    assert isinstance(results[1], SettlementFailed)
    assert [getattr(r, "status", None) for r in results] == ["filled", None, "filled", "filled"]
    assert venue.writer.failed_batches > failed
    async with venue.platform.db.session() as session:
        bad = await venue.order(session, buyers[1], bad_order_id)
        maker = await venue.order(session, seller, resting.id)
        rebuilt, _ = await recovery.rebuild_book(session, VENUE, aapl.id)
    assert (bad.status, bad.reason) == ("rejected", "settlement-failed")
    assert (maker.filled_qty, maker.open_qty) == (3, 2)
    assert list(rebuilt.open_orders()) == list(venue.book(aapl.id).open_orders())
    assert await balances(venue, buyers[1]) == {"USD": (1_000, 0)}
    assert await balances(venue, seller) == {"AAPL": (2, 2), "USD": (300, 0)}
    await assert_books_balance(venue)


async def test_a_stopped_writer_refuses_new_commands(venue: Venue) -> None:
    aapl = await list_stock(venue)
    account = await funded(venue, "t", USD=100)
    await venue.writer.stop()
    with pytest.raises(VenueClosed):
        await venue.place(NewOrder(account, aapl.id, Side.BUY, 1, 10))
    assert await balances(venue, account) == {"USD": (100, 0)}  # nothing accepted, nothing held
    venue.writer.start()
