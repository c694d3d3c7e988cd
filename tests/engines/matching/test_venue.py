"""The venue's order lifecycle: validation, holds, fills, cancels, replaces, reads per account."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import md_live
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import (
    DuplicateClientOrderId,
    InstrumentNotFound,
    InvalidListing,
    InvalidOrder,
    NoReferencePrice,
    OrderNotFound,
    OrderNotOpen,
)
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import SelfTrade, Side, TimeInForce
from casebook.engines.matching.venue import InstrumentSpec, NewOrder, OrderView, Venue, VenueConfig
from casebook.platform.errors import Forbidden
from tests.engines.matching.conftest import (
    VENUE,
    assert_books_balance,
    balances,
    funded,
    list_stock,
)


def buy(account: int, instrument: int, qty: int, price: int | None, **kw: Any) -> NewOrder:
    order_type = "limit" if price is not None else "market"
    return NewOrder(account, instrument, Side.BUY, qty, price, order_type, **kw)


def sell(account: int, instrument: int, qty: int, price: int | None, **kw: Any) -> NewOrder:
    order_type = "limit" if price is not None else "market"
    return NewOrder(account, instrument, Side.SELL, qty, price, order_type, **kw)


async def order_count(venue: Venue) -> int:
    async with venue.platform.db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(MatchingOrder)) or 0)


async def test_listing_is_idempotent_and_refuses_broken_units(venue: Venue) -> None:
    first = await list_stock(venue, "AAPL")
    again = await list_stock(venue, "AAPL")
    assert again.id == first.id and first.npl == 1
    async with venue.platform.db.session() as session:
        with pytest.raises(InvalidListing) as error:
            await venue.list_instrument(
                session,
                InstrumentSpec(
                    symbol="BTCUSD",
                    base_asset="BTC",
                    quote_asset="USD",
                    tick_size=1,
                    lot_size=3,
                    base_scale=100,
                ),
            )
        assert error.value.extensions["fields"] == ["base_scale", "lot_size", "tick_size"]
        with pytest.raises(InstrumentNotFound):
            await venue.instrument(session, "BTCUSD")
        assert [i.symbol for i in await venue.instruments(session)] == ["AAPL"]


async def test_a_crossing_limit_order_trades_at_the_makers_price_and_settles(venue: Venue) -> None:
    aapl = await list_stock(venue)
    seller = await funded(venue, "seller", AAPL=10)
    buyer = await funded(venue, "buyer", USD=10_000)
    resting = await venue.place(sell(seller, aapl.id, 4, 150))
    assert resting.status == "open" and resting.open_qty == 4
    assert (await balances(venue, seller))["AAPL"] == (10, 4)

    taken = await venue.place(buy(buyer, aapl.id, 3, 160))
    assert (taken.status, taken.filled_qty, taken.notional_filled) == ("filled", 3, 450)
    assert await balances(venue, buyer) == {"AAPL": (3, 0), "USD": (10_000 - 450, 0)}
    assert await balances(venue, seller) == {"AAPL": (7, 1), "USD": (450, 0)}
    async with venue.platform.db.session() as session:
        maker = await venue.order(session, seller, resting.id)
        assert (maker.status, maker.open_qty, maker.filled_qty) == ("partially_filled", 1, 3)
        fills, _ = await venue.trades(session, buyer)
        assert [(f.side, f.liquidity, f.price, f.qty) for f in fills] == [("buy", "taker", 150, 3)]
        fills, _ = await venue.trades(session, seller)
        assert [(f.side, f.liquidity) for f in fills] == [("sell", "maker")]
    await assert_books_balance(venue)


async def test_an_order_the_wallet_cannot_cover_is_refused_and_writes_nothing(venue: Venue) -> None:
    aapl = await list_stock(venue)
    buyer = await funded(venue, "buyer", USD=999)
    with pytest.raises(InsufficientFunds):
        await venue.place(buy(buyer, aapl.id, 10, 100))
    seller = await funded(venue, "seller", AAPL=2)
    with pytest.raises(InsufficientFunds):
        await venue.place(sell(seller, aapl.id, 3, 100))
    assert await order_count(venue) == 0
    assert await balances(venue, buyer) == {"USD": (999, 0)}
    assert venue.book(aapl.id).order_count == 0


async def test_bad_orders_get_clear_errors(venue: Venue) -> None:
    aapl = await list_stock(venue, max_qty=100)
    buyer = await funded(venue, "buyer", USD=10_000)
    with pytest.raises(InvalidOrder):
        await venue.place(buy(buyer, aapl.id, 0, 10))
    with pytest.raises(InvalidOrder):
        await venue.place(buy(buyer, aapl.id, 101, 10))
    with pytest.raises(InvalidOrder):
        await venue.place(buy(buyer, aapl.id, 1, 0))
    with pytest.raises(InstrumentNotFound):
        await venue.place(buy(buyer, 12345, 1, 10))
    with pytest.raises(NoReferencePrice):
        await venue.place(buy(buyer, aapl.id, 1, None))
    await venue.place(buy(buyer, aapl.id, 1, 10, client_order_id="a-1"))
    with pytest.raises(DuplicateClientOrderId):
        await venue.place(buy(buyer, aapl.id, 1, 10, client_order_id="a-1"))
    assert await order_count(venue) == 1


async def test_cancel_releases_the_hold_and_only_the_owner_can_cancel(venue: Venue) -> None:
    aapl = await list_stock(venue)
    owner = await funded(venue, "owner", USD=1_000)
    other = await funded(venue, "other", USD=1_000)
    order = await venue.place(buy(owner, aapl.id, 5, 100))
    assert (await balances(venue, owner))["USD"] == (1_000, 500)
    with pytest.raises(OrderNotFound):
        await venue.cancel(other, order.id)
    async with venue.platform.db.session() as session:
        with pytest.raises(OrderNotFound):
            await venue.order(session, other, order.id)
        assert (await venue.orders(session, other))[0] == []
    cancelled = await venue.cancel(owner, order.id)
    assert (cancelled.status, cancelled.reason, cancelled.open_qty) == ("cancelled", "user", 0)
    assert (await balances(venue, owner))["USD"] == (1_000, 0)
    with pytest.raises(OrderNotOpen):
        await venue.cancel(owner, order.id)
    assert venue.book(aapl.id).order_count == 0
    await assert_books_balance(venue)


async def test_replace_resizes_the_hold_and_is_refused_when_it_does_not_fit(venue: Venue) -> None:
    aapl = await list_stock(venue)
    owner = await funded(venue, "owner", USD=1_000)
    order = await venue.place(buy(owner, aapl.id, 5, 100))
    smaller = await venue.replace(owner, order.id, None, 3)
    assert (smaller.open_qty, smaller.price) == (3, 100)
    assert (await balances(venue, owner))["USD"] == (1_000, 300)
    moved = await venue.replace(owner, order.id, 200, 5)
    assert (moved.open_qty, moved.price, moved.status) == (5, 200, "open")
    assert (await balances(venue, owner))["USD"] == (1_000, 1_000)
    with pytest.raises(InsufficientFunds):
        await venue.replace(owner, order.id, 201, 5)
    assert venue.book(aapl.id).open_order(order.id) == (owner, Side.BUY, 200, 5)
    assert (await balances(venue, owner))["USD"] == (1_000, 1_000)
    await assert_books_balance(venue)


async def test_market_orders_ioc_fok_post_only_and_day_orders_release_what_they_do_not_use(
    venue: Venue,
) -> None:
    aapl = await list_stock(venue, reference_price=100)
    seller = await funded(venue, "seller", AAPL=10)
    buyer = await funded(venue, "buyer", USD=100_000)
    await venue.place(sell(seller, aapl.id, 2, 100))
    await venue.place(sell(seller, aapl.id, 2, 104))
    await venue.place(sell(seller, aapl.id, 2, 110))  # beyond the 5 % protection of 100
    market: OrderView = await venue.place(buy(buyer, aapl.id, 6, None))
    assert (market.status, market.filled_qty, market.notional_filled) == ("expired", 4, 408)
    assert (market.price, market.reason) == (105, "ioc")
    assert await balances(venue, buyer) == {"AAPL": (4, 0), "USD": (100_000 - 408, 0)}

    fok = await venue.place(buy(buyer, aapl.id, 3, 110, tif=TimeInForce.FOK))
    assert (fok.status, fok.reason, fok.filled_qty) == ("expired", "fok", 0)
    post = await venue.place(buy(buyer, aapl.id, 1, 110, post_only=True))
    assert (post.status, post.reason) == ("rejected", "post_only_would_take")
    day = await venue.place(buy(buyer, aapl.id, 1, 90, tif=TimeInForce.DAY))
    assert day.status == "open"
    await venue.end_of_day()
    async with venue.platform.db.session() as session:
        assert (await venue.order(session, buyer, day.id)).status == "expired"
    assert (await balances(venue, buyer))["USD"] == (100_000 - 408, 0)

    dump = await venue.place(sell(buyer, aapl.id, 4, None))
    assert dump.status == "expired" and dump.filled_qty == 0  # no bids: nothing to sell into
    assert (await balances(venue, buyer))["AAPL"] == (4, 0)
    await assert_books_balance(venue)


async def test_self_trade_prevention_and_listeners(venue: Venue) -> None:
    aapl = await list_stock(venue)
    trader = await funded(venue, "trader", USD=10_000, AAPL=10)
    seen: list[tuple[str, int, list[int]]] = []

    async def listener(instrument: Any, events: Any, orders: Any) -> None:
        seen.append((instrument.symbol, len(events), sorted(o.id for o in orders.values())))

    venue.listeners.append(listener)
    resting = await venue.place(sell(trader, aapl.id, 2, 100))
    crossing = await venue.place(buy(trader, aapl.id, 2, 100, stp=SelfTrade.EXPIRE_TAKER))
    assert (crossing.status, crossing.reason, crossing.filled_qty) == ("cancelled", "stp", 0)
    assert seen == [("AAPL", 1, [resting.id]), ("AAPL", 1, [crossing.id])]
    assert venue.marketdata(aapl.id).best_ask() == (100, 2)
    assert await balances(venue, trader) == {"AAPL": (10, 2), "USD": (10_000, 0)}


async def test_each_commit_publishes_market_data_on_the_bus(venue: Venue) -> None:
    aapl = await list_stock(venue)
    seller = await funded(venue, "seller", AAPL=5)
    buyer = await funded(venue, "buyer", USD=1_000)
    async with venue.platform.bus.subscribe(md_live.channel(VENUE, aapl.id)) as messages:
        await venue.place(sell(seller, aapl.id, 3, 100))
        await venue.place(buy(buyer, aapl.id, 1, 100))
        first = orjson.loads(await asyncio.wait_for(anext(aiter(messages)), 2))
        second = orjson.loads(await asyncio.wait_for(anext(aiter(messages)), 2))
    assert first["asks"] == [[100, 3]] and first["trades"] == []
    assert second["prev_seq"] == first["seq"] and second["asks"] == [[100, 2]]
    assert [t[1:3] for t in second["trades"]] == [[100, 1]]


async def test_the_systems_can_trade_gate_refuses_before_anything_is_held(venue: Venue) -> None:
    refused: set[int] = set()

    async def kyc(session: AsyncSession, account_id: int) -> None:
        if account_id in refused:
            raise Forbidden("Verify your identity before trading.")

    gated = await venues.start(venue.platform, VenueConfig(venue="gated", can_trade=kyc))
    try:
        async with gated.platform.db.session() as session:
            listing = await gated.list_instrument(
                session, InstrumentSpec(symbol="F", base_asset="F", quote_asset="USD")
            )
        account = await funded(gated, "unverified", USD=500)
        refused.add(account)
        with pytest.raises(Forbidden):
            await gated.place(buy(account, listing.id, 1, 10))
        assert await balances(gated, account) == {"USD": (500, 0)}
        assert await order_count(gated) == 0
        refused.clear()
        assert (await gated.place(buy(account, listing.id, 1, 10))).status == "open"
        # The other venue shares the tables but sees none of this venue's listings or orders.
        async with venue.platform.db.session() as session:
            assert await venue.instruments(session) == []
            assert (await venue.orders(session, account))[0] == []
    finally:
        await venues.stop(venue.platform, "gated")


async def test_concurrent_placements_are_accepted_together_and_refused_one_by_one(
    venue: Venue,
) -> None:
    """Orders arriving together share one acceptance transaction (the acceptor's group
    commit), yet each refusal is its own: a gated account, an empty wallet, a wallet never
    funded (no ledger account is opened for it), an unknown account and a client order id used
    twice in the same group; every other order is accepted and nothing refused is written."""
    from casebook.engines.matching.errors import AccountNotFound

    refused: set[int] = set()

    async def kyc(session: AsyncSession, account_id: int) -> None:
        if account_id in refused:
            raise Forbidden("Verify your identity before trading.")

    gated = await venues.start(venue.platform, VenueConfig(venue="grouped", can_trade=kyc))
    try:
        async with gated.platform.db.session() as session:
            listing = await gated.list_instrument(
                session, InstrumentSpec(symbol="G", base_asset="G", quote_asset="USD")
            )
        rich = await funded(gated, "rich", USD=10_000)
        poor = await funded(gated, "poor", USD=5)
        async with gated.platform.db.session(write=True) as session:
            never = await gated.open_account(session, "never-funded", None)
        blocked = await funded(gated, "blocked", USD=10_000)
        refused.add(blocked)
        twice = await funded(gated, "twice", USD=10_000)
        orders = [
            *(buy(rich, listing.id, 1, 10 + i) for i in range(5)),
            buy(poor, listing.id, 1, 10),
            buy(never, listing.id, 1, 10),
            buy(blocked, listing.id, 1, 10),
            buy(987_654_321, listing.id, 1, 10),
            buy(twice, listing.id, 1, 10, client_order_id="same"),
            buy(twice, listing.id, 1, 11, client_order_id="same"),
        ]
        before = gated.acceptor.batches
        outcomes = await asyncio.gather(*(gated.place(o) for o in orders), return_exceptions=True)
        assert gated.acceptor.batches - before < len(orders)  # they were grouped
        assert all(isinstance(o, OrderView) and o.status == "open" for o in outcomes[:5])
        assert isinstance(outcomes[5], InsufficientFunds)
        assert isinstance(outcomes[6], InsufficientFunds)
        assert isinstance(outcomes[7], Forbidden)
        assert isinstance(outcomes[8], AccountNotFound)
        same = outcomes[9:]
        assert sum(isinstance(o, OrderView) for o in same) == 1
        assert sum(isinstance(o, DuplicateClientOrderId) for o in same) == 1
        assert await balances(gated, never) == {}  # no wallet opened for a refused order
        assert await balances(gated, poor) == {"USD": (5, 0)}
        assert await balances(gated, blocked) == {"USD": (10_000, 0)}
        assert (await balances(gated, rich))["USD"] == (10_000, 10 + 11 + 12 + 13 + 14)
        assert await order_count(gated) == 6
        await assert_books_balance(gated)
    finally:
        await venues.stop(venue.platform, "grouped")
