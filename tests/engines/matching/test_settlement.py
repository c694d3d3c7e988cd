"""Settlement: every fill moves exactly notional, floored fees and lots; holds never leak."""

from __future__ import annotations

from casebook.engines.ledger import Ledger, Outcome
from casebook.engines.matching.risk import place_hold
from casebook.engines.matching.settlement import FEES, Market, OrderState, Settlement, fee
from casebook.engines.matching.types import TRADE, Side
from casebook.engines.matching.venue import InstrumentSpec, NewOrder, Venue
from casebook.platform.ids import new_id
from tests.engines.matching.conftest import assert_books_balance, balances, funded

BTC = InstrumentSpec(
    symbol="BTCUSD",
    base_asset="BTC",
    quote_asset="USD",
    tick_size=10_000,  # $100 a tick (cents)
    lot_size=100_000,  # 0.001 BTC a lot (satoshi)
    base_scale=100_000_000,
    maker_fee_bps=10,
    taker_fee_bps=25,
)


async def fee_income(venue: Venue) -> int:
    async with venue.platform.db.session() as session:
        ledger = Ledger(session)
        account = await venue.directory.venue_account(ledger, FEES, "USD")
        return (await ledger.account(account)).posted


def test_fees_round_down_and_the_hold_covers_the_larger_rate() -> None:
    market = Market(
        "v", 1, "BTC", "USD", lot_size=100_000, npl=10, maker_fee_bps=10, taker_fee_bps=25
    )
    assert fee(14_400, 25) == 36 and fee(9_800, 25) == 24 and fee(9_800, 10) == 9
    assert market.hold_amount(Side.BUY, 500, 7) == 35_000 + 87
    assert market.hold_amount(Side.SELL, 500, 7) == 700_000
    # superadditive: what one fill costs plus the re-hold of the rest never exceeds the hold
    for limit, open_qty in ((500, 7), (3, 3), (999, 11)):
        for q in range(1, open_qty + 1):
            for price in (1, limit // 2 or 1, limit):
                notional = price * q * market.npl
                cost = notional + fee(notional, market.taker_fee_bps)
                rest = market.hold_amount(Side.BUY, limit, open_qty - q)
                assert cost + rest <= market.hold_amount(Side.BUY, limit, open_qty)


async def test_a_sweep_across_levels_settles_each_fill_exactly(venue: Venue) -> None:
    async with venue.platform.db.session() as session:
        btc = await venue.list_instrument(session, BTC)
    assert btc.npl == 10
    seller_a = await funded(venue, "seller-a", BTC=3 * 100_000)
    seller_b = await funded(venue, "seller-b", BTC=2 * 100_000)
    buyer = await funded(venue, "buyer", USD=100_000)
    await venue.place(NewOrder(seller_a, btc.id, Side.SELL, 3, 480))
    await venue.place(NewOrder(seller_b, btc.id, Side.SELL, 2, 490))
    assert (await balances(venue, buyer))["USD"] == (100_000, 0)

    order = await venue.place(NewOrder(buyer, btc.id, Side.BUY, 7, 500))
    # 3 @ 480: notional 14 400, taker fee 36, maker fee 14; 2 @ 490: 9 800, 24 and 9 (floored)
    assert (order.status, order.filled_qty, order.open_qty) == ("partially_filled", 5, 2)
    assert (order.notional_filled, order.fees_paid) == (24_200, 60)
    assert await balances(venue, buyer) == {
        "BTC": (500_000, 0),
        "USD": (100_000 - 24_260, 500 * 2 * 10 + 25),  # the rest re-held at the limit, fee incl.
    }
    assert await balances(venue, seller_a) == {"BTC": (0, 0), "USD": (14_400 - 14, 0)}
    assert await balances(venue, seller_b) == {"BTC": (0, 0), "USD": (9_800 - 9, 0)}
    assert await fee_income(venue) == 36 + 14 + 24 + 9

    cancelled = await venue.cancel(buyer, order.id)
    assert cancelled.status == "cancelled"
    assert (await balances(venue, buyer))["USD"] == (100_000 - 24_260, 0)
    await assert_books_balance(venue)


async def test_price_improvement_is_released_to_the_buyer(venue: Venue) -> None:
    async with venue.platform.db.session() as session:
        btc = await venue.list_instrument(session, BTC)
    seller = await funded(venue, "seller", BTC=100_000)
    buyer = await funded(venue, "buyer", USD=60_000)
    await venue.place(NewOrder(seller, btc.id, Side.SELL, 1, 400))
    order = await venue.place(NewOrder(buyer, btc.id, Side.BUY, 1, 550))
    assert order.status == "filled"
    # held 5 500 + 13 (limit 550 x npl 10); paid 4 000 + 10: the rest is available again
    assert await balances(venue, buyer) == {"BTC": (100_000, 0), "USD": (60_000 - 4_010, 0)}
    assert await balances(venue, seller) == {"BTC": (0, 0), "USD": (4_000 - 4, 0)}
    await assert_books_balance(venue)


async def test_a_settlement_chain_replayed_posts_nothing_twice(venue: Venue) -> None:
    """The planner alone, on the real ledger: one chain settles, the same chain again is EXISTS."""
    async with venue.platform.db.session() as session:
        btc = await venue.list_instrument(session, BTC)
    seller = await funded(venue, "seller", BTC=500_000)
    buyer = await funded(venue, "buyer", USD=100_000)
    market = btc.market
    async with venue.platform.db.session(write=True) as session:
        ledger = Ledger(session)
        maker = OrderState(new_id(), seller, Side.SELL, 300, 4, 4, hold_id=new_id())
        taker = OrderState(new_id(), buyer, Side.BUY, 310, 2, 2, hold_id=new_id())
        for state in (maker, taker):
            assert state.hold_id is not None
            await place_hold(
                ledger,
                venue.directory,
                market,
                order_id=state.id,
                account_id=state.account_id,
                side=state.side,
                price=state.price,
                qty=state.qty,
                hold_id=state.hold_id,
            )
        accounts = await venue.directory.for_settlement(ledger, market, (seller, buyer))
        settlement = Settlement(market, accounts)
        event = (TRADE, 1, maker.id, seller, taker.id, buyer, Side.BUY, 300, 2, 2, 0, 1)
        chain, fill = settlement.trade(event, maker, taker)
        assert (fill.notional, fill.maker_fee, fill.taker_fee) == (6_000, 6, 15)
        assert all(t.linked for t in chain[:-1]) and not chain[-1].linked
        assert set(await ledger.create_transfers(chain)) == {Outcome.OK}
        assert set(await ledger.create_transfers(chain)) == {Outcome.EXISTS}
        assert (maker.open_qty, maker.status, taker.status) == (2, "partially_filled", "filled")
        release = settlement.release(maker)
        assert set(await ledger.create_transfers(release)) == {Outcome.OK}
    assert await balances(venue, buyer) == {"BTC": (200_000, 0), "USD": (100_000 - 6_015, 0)}
    assert await balances(venue, seller) == {"BTC": (300_000, 0), "USD": (6_000 - 6, 0)}
    await assert_books_balance(venue)
