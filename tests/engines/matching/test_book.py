"""The order book's rules, one example each: priority, partial fills, maker price, order types,
time in force, post-only, self-trade prevention, replace, cancel, the end of the day, duplicate
ids, invalid input, the read API and snapshots."""

from __future__ import annotations

from typing import Any

import pytest

from casebook.engines.matching.book import OrderBook, SnapshotError
from casebook.engines.matching.types import (
    CANCEL,
    CANCELLED,
    EXPIRE_DAY,
    PLACE,
    REJECTED,
    REPLACE,
    REPLACED,
    RESTED,
    TRADE,
    CancelReason,
    Flag,
    RejectReason,
    SelfTrade,
    Side,
    TimeInForce,
    event_dict,
)

BUY, SELL = Side.BUY, Side.SELL
GTC, IOC, FOK, DAY = TimeInForce.GTC, TimeInForce.IOC, TimeInForce.FOK, TimeInForce.DAY
POST, MKT = Flag.POST_ONLY, Flag.MARKET
NONE, E_TAKER, E_MAKER, E_BOTH = (
    SelfTrade.NONE,
    SelfTrade.EXPIRE_TAKER,
    SelfTrade.EXPIRE_MAKER,
    SelfTrade.EXPIRE_BOTH,
)
TS = 7


def place(
    book: OrderBook,
    order_id: int,
    account: int,
    side: int,
    price: int,
    qty: int,
    tif: int = GTC,
    flags: int = 0,
    stp: int = NONE,
) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    book.apply((PLACE, order_id, account, side, price, qty, tif, flags, stp, TS), out)
    return out


def apply(book: OrderBook, command: Any) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    book.apply(command, out)
    return out


def trade(
    seq: int,
    maker: int,
    maker_acc: int,
    taker: int,
    taker_acc: int,
    side: int,
    price: int,
    qty: int,
    maker_left: int,
    taker_left: int,
) -> tuple[Any, ...]:
    return (
        TRADE,
        seq,
        maker,
        maker_acc,
        taker,
        taker_acc,
        side,
        price,
        qty,
        maker_left,
        taker_left,
        TS,
    )


def test_better_price_trades_first_then_older_order_first() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 101, 5)
    place(book, 2, 11, SELL, 100, 5)
    place(book, 3, 12, SELL, 100, 5)
    out = place(book, 4, 20, BUY, 101, 12)
    assert out == [
        trade(1, 2, 11, 4, 20, BUY, 100, 5, 0, 7),
        trade(2, 3, 12, 4, 20, BUY, 100, 5, 0, 2),
        trade(3, 1, 10, 4, 20, BUY, 101, 2, 3, 0),
    ]
    assert book.open_order(1) == (10, SELL, 101, 3)
    assert book.open_order(2) is None and book.trade_seq == 3


def test_a_trade_is_at_the_makers_price_and_the_rest_of_the_taker_rests() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 100, 4)
    out = place(book, 2, 11, SELL, 95, 6)
    assert out == [trade(1, 1, 10, 2, 11, SELL, 100, 4, 0, 2), (RESTED, 2, 11, SELL, 95, 2, TS)]
    assert book.best_ask() == 95 and book.best_bid() is None


def test_an_order_that_does_not_cross_rests_at_its_price() -> None:
    book = OrderBook(1)
    assert place(book, 1, 10, BUY, 99, 3) == [(RESTED, 1, 10, BUY, 99, 3, TS)]
    assert place(book, 2, 10, SELL, 100, 3) == [(RESTED, 2, 10, SELL, 100, 3, TS)]
    assert (book.best_bid(), book.best_ask(), book.order_count) == (99, 100, 2)


def test_a_market_order_sweeps_levels_and_cancels_its_rest_with_price_zero() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 2)
    place(book, 2, 10, SELL, 250, 2)
    out = place(book, 3, 11, BUY, 1, 5, GTC, MKT)
    assert out == [
        trade(1, 1, 10, 3, 11, BUY, 100, 2, 0, 3),
        trade(2, 2, 10, 3, 11, BUY, 250, 2, 0, 1),
        (CANCELLED, 3, 11, BUY, 0, 1, CancelReason.IOC, 0, TS),
    ]
    assert book.order_count == 0
    assert place(book, 4, 11, SELL, 0, 5, DAY, MKT) == [
        (CANCELLED, 4, 11, SELL, 0, 5, CancelReason.IOC, 0, TS)
    ]


def test_ioc_trades_what_crosses_and_never_rests() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 2)
    place(book, 2, 10, SELL, 101, 2)
    out = place(book, 3, 11, BUY, 100, 5, IOC)
    assert out == [
        trade(1, 1, 10, 3, 11, BUY, 100, 2, 0, 3),
        (CANCELLED, 3, 11, BUY, 100, 3, CancelReason.IOC, 0, TS),
    ]
    assert book.best_bid() is None and book.best_ask() == 101


def test_fok_fills_completely_or_not_at_all() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 2)
    place(book, 2, 10, SELL, 101, 2)
    before = book.snapshot()
    killed = place(book, 3, 11, BUY, 101, 5, FOK)
    assert killed == [(CANCELLED, 3, 11, BUY, 101, 5, CancelReason.FOK, 0, TS)]
    assert book.open_order(1) == (10, SELL, 100, 2) and book.trade_seq == 0
    assert place(book, 4, 11, BUY, 100, 3, FOK)[-1][6] == CancelReason.FOK  # price limit counts
    filled = place(book, 5, 11, BUY, 101, 4, FOK)
    assert [e[0] for e in filled] == [TRADE, TRADE] and filled[-1][10] == 0
    assert book.order_count == 0 and before != book.snapshot()
    assert place(book, 6, 11, BUY, 101, 1, FOK) == [
        (CANCELLED, 6, 11, BUY, 101, 1, CancelReason.FOK, 0, TS)
    ]


def test_fok_counts_self_trade_prevention_like_matching() -> None:
    book = OrderBook(1)
    place(book, 1, 11, SELL, 100, 2)  # the taker's own
    place(book, 2, 10, SELL, 100, 3)
    assert book.would_fill(BUY, 100, 5, 11, E_TAKER) == 0
    assert book.would_fill(BUY, 100, 5, 11, E_MAKER) == 3
    assert book.would_fill(BUY, 100, 5, 11, NONE) == 5
    assert book.would_fill(BUY, 0, 9, 11, NONE) == 5  # price 0: no limit
    assert place(book, 3, 11, BUY, 100, 3, FOK, 0, E_TAKER)[-1][6] == CancelReason.FOK
    assert book.order_count == 2
    out = place(book, 4, 11, BUY, 100, 3, FOK, 0, E_MAKER)
    assert out == [
        (CANCELLED, 1, 11, SELL, 100, 2, CancelReason.STP, 1, TS),
        trade(1, 2, 10, 4, 11, BUY, 100, 3, 0, 0),
    ]


def test_day_orders_expire_at_the_end_of_the_day_in_price_time_order() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 99, 1, DAY)
    place(book, 2, 10, BUY, 100, 1, GTC)
    place(book, 3, 11, BUY, 100, 2, DAY)
    place(book, 4, 12, SELL, 105, 3, DAY)
    place(book, 5, 12, SELL, 104, 3, DAY)
    out = apply(book, (EXPIRE_DAY, 99))
    assert out == [
        (CANCELLED, 3, 11, BUY, 100, 2, CancelReason.DAY, 1, 99),
        (CANCELLED, 1, 10, BUY, 99, 1, CancelReason.DAY, 1, 99),
        (CANCELLED, 5, 12, SELL, 104, 3, CancelReason.DAY, 1, 99),
        (CANCELLED, 4, 12, SELL, 105, 3, CancelReason.DAY, 1, 99),
    ]
    assert [o[0] for o in book.open_orders()] == [2]
    assert book.depth(5) == ([(100, 1, 1)], [])
    assert apply(book, (EXPIRE_DAY, 100)) == []


def test_post_only_rests_when_it_would_not_trade_and_is_rejected_when_it_would() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 2)
    assert place(book, 2, 11, BUY, 99, 2, GTC, POST) == [(RESTED, 2, 11, BUY, 99, 2, TS)]
    before = book.snapshot()
    assert place(book, 3, 11, BUY, 100, 2, GTC, POST) == [
        (REJECTED, 3, 11, RejectReason.POST_ONLY_WOULD_TAKE, TS)
    ]
    assert book.snapshot() == before  # the id was not used either
    assert place(book, 3, 11, BUY, 98, 2, DAY, POST) == [(RESTED, 3, 11, BUY, 98, 2, TS)]
    # A post-only order moved to a price that would trade is refused and stays as it was.
    assert apply(book, (REPLACE, 2, 11, 100, 2, TS)) == [
        (REJECTED, 2, 11, RejectReason.POST_ONLY_WOULD_TAKE, TS)
    ]
    assert book.open_order(2) == (11, BUY, 99, 2)


@pytest.mark.parametrize(
    ("tif", "flags"), [(IOC, POST), (FOK, POST), (GTC, POST | MKT), (GTC, 4), (9, 0)]
)
def test_impossible_order_types_are_invalid(tif: int, flags: int) -> None:
    book = OrderBook(1)
    assert place(book, 1, 10, BUY, 100, 1, tif, flags) == [
        (REJECTED, 1, 10, RejectReason.INVALID, TS)
    ]
    assert book.snapshot() == OrderBook(1).snapshot()


def test_self_trade_none_lets_an_account_trade_with_itself() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 2)
    assert place(book, 2, 10, BUY, 100, 2) == [trade(1, 1, 10, 2, 10, BUY, 100, 2, 0, 0)]


def test_self_trade_expire_taker_cancels_the_incoming_rest_and_keeps_the_maker() -> None:
    book = OrderBook(1)
    place(book, 1, 20, SELL, 99, 1)
    place(book, 2, 10, SELL, 100, 2)
    place(book, 3, 20, SELL, 100, 2)
    out = place(book, 4, 10, BUY, 100, 5, GTC, 0, E_TAKER)
    assert out == [
        trade(1, 1, 20, 4, 10, BUY, 99, 1, 0, 4),
        (CANCELLED, 4, 10, BUY, 100, 4, CancelReason.STP, 0, TS),
    ]
    assert [o[0] for o in book.open_orders()] == [2, 3]


def test_self_trade_expire_maker_cancels_the_resting_order_and_keeps_matching() -> None:
    book = OrderBook(1)
    place(book, 2, 10, SELL, 100, 2)
    place(book, 3, 20, SELL, 100, 2)
    out = place(book, 4, 10, BUY, 100, 5, GTC, 0, E_MAKER)
    assert out == [
        (CANCELLED, 2, 10, SELL, 100, 2, CancelReason.STP, 1, TS),
        trade(1, 3, 20, 4, 10, BUY, 100, 2, 0, 3),
        (RESTED, 4, 10, BUY, 100, 3, TS),
    ]
    assert book.depth(5) == ([(100, 3, 1)], [])


def test_self_trade_expire_both_cancels_the_maker_and_the_taker() -> None:
    book = OrderBook(1)
    place(book, 2, 10, SELL, 100, 2)
    place(book, 3, 20, SELL, 100, 2)
    out = place(book, 4, 10, BUY, 100, 5, GTC, 0, E_BOTH)
    assert out == [
        (CANCELLED, 2, 10, SELL, 100, 2, CancelReason.STP, 1, TS),
        (CANCELLED, 4, 10, BUY, 100, 5, CancelReason.STP, 0, TS),
    ]
    assert [o[0] for o in book.open_orders()] == [3]
    place(book, 5, 20, BUY, 99, 1)
    assert place(book, 6, 20, SELL, 99, 1, GTC, 0, E_BOTH)[0][5] == 1  # last order of a level
    assert book.best_bid() is None


def test_replace_to_a_smaller_qty_at_the_same_price_keeps_priority() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 100, 5)
    place(book, 2, 11, BUY, 100, 5)
    assert apply(book, (REPLACE, 1, 10, 100, 3, TS)) == [
        (REPLACED, 1, 10, BUY, 100, 5, 100, 3, 1, TS)
    ]
    assert book.depth(1) == ([(100, 8, 2)], [])
    out = place(book, 3, 12, SELL, 100, 3)
    assert out == [trade(1, 1, 10, 3, 12, SELL, 100, 3, 0, 0)]


def test_replace_to_a_larger_qty_loses_priority() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 100, 5, DAY)
    place(book, 2, 11, BUY, 100, 5)
    assert apply(book, (REPLACE, 1, 10, 100, 6, TS)) == [
        (REPLACED, 1, 10, BUY, 100, 5, 100, 6, 0, TS),
        (RESTED, 1, 10, BUY, 100, 6, TS),
    ]
    assert [o[0] for o in book.open_orders()] == [2, 1]
    assert list(book.open_orders())[1][5] == DAY  # keeps its time in force
    assert book.depth(1) == ([(100, 11, 2)], [])


def test_replace_to_a_crossing_price_trades_as_a_taker_then_rests() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 101, 2)
    place(book, 2, 11, BUY, 99, 5)
    assert apply(book, (REPLACE, 2, 11, 102, 5, TS)) == [
        (REPLACED, 2, 11, BUY, 99, 5, 102, 5, 0, TS),
        trade(1, 1, 10, 2, 11, BUY, 101, 2, 0, 3),
        (RESTED, 2, 11, BUY, 102, 3, TS),
    ]
    assert apply(book, (REPLACE, 2, 11, 100, 3, TS))[0][8] == 0  # a new price loses priority
    assert book.depth(3) == ([(100, 3, 1)], [])


def test_a_replace_that_fills_completely_leaves_the_book() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 101, 5)
    place(book, 2, 11, BUY, 99, 2, GTC, 0, E_TAKER)
    out = apply(book, (REPLACE, 2, 11, 101, 2, TS))
    assert out[-1] == trade(1, 1, 10, 2, 11, BUY, 101, 2, 3, 0)
    assert book.open_order(2) is None and book.order_count == 1
    assert apply(book, (CANCEL, 2, 11, TS)) == [(REJECTED, 2, 11, RejectReason.UNKNOWN_ORDER, TS)]


def test_a_replace_into_the_accounts_own_order_follows_its_stp() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 101, 5)
    place(book, 2, 10, BUY, 99, 2, GTC, 0, E_TAKER)
    assert apply(book, (REPLACE, 2, 10, 101, 2, TS)) == [
        (REPLACED, 2, 10, BUY, 99, 2, 101, 2, 0, TS),
        (CANCELLED, 2, 10, BUY, 101, 2, CancelReason.STP, 0, TS),
    ]
    assert book.open_order(2) is None and book.open_order(1) == (10, SELL, 101, 5)


def test_replace_and_cancel_refuse_unknown_orders_and_other_accounts() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 100, 5)
    before = book.snapshot()
    assert apply(book, (REPLACE, 9, 10, 100, 1, TS)) == [
        (REJECTED, 9, 10, RejectReason.UNKNOWN_ORDER, TS)
    ]
    assert apply(book, (REPLACE, 1, 11, 100, 1, TS)) == [
        (REJECTED, 1, 11, RejectReason.NOT_OWNER, TS)
    ]
    assert apply(book, (CANCEL, 1, 11, TS)) == [(REJECTED, 1, 11, RejectReason.NOT_OWNER, TS)]
    assert apply(book, (REPLACE, 1, 10, 100, 0, TS)) == [
        (REJECTED, 1, 10, RejectReason.INVALID, TS)
    ]
    assert apply(book, (REPLACE, 1, 10, 0, 1, TS)) == [(REJECTED, 1, 10, RejectReason.INVALID, TS)]
    assert book.snapshot() == before
    assert apply(book, (CANCEL, 1, 10, TS)) == [
        (CANCELLED, 1, 10, BUY, 100, 5, CancelReason.USER, 1, TS)
    ]
    assert apply(book, (CANCEL, 1, 10, TS)) == [(REJECTED, 1, 10, RejectReason.UNKNOWN_ORDER, TS)]
    assert book.depth(5) == ([], [])


def test_cancelling_a_middle_level_keeps_the_others() -> None:
    book = OrderBook(1)
    for order_id, price in ((1, 98), (2, 99), (3, 100)):
        place(book, order_id, 10, BUY, price, 1)
    apply(book, (CANCEL, 2, 10, TS))
    assert book.depth(5) == ([(100, 1, 1), (98, 1, 1)], [])


def test_an_order_id_is_never_accepted_twice() -> None:
    book = OrderBook(1)
    place(book, 1, 10, BUY, 100, 5)  # resting
    place(book, 2, 11, SELL, 100, 5)  # filled
    place(book, 3, 10, BUY, 100, 5, IOC)  # cancelled
    for order_id in (1, 2, 3):
        assert place(book, order_id, 12, BUY, 50, 1) == [
            (REJECTED, order_id, 12, RejectReason.DUPLICATE_ORDER_ID, TS)
        ]
    restored = OrderBook.restore(book.snapshot())
    assert place(restored, 2, 12, BUY, 50, 1)[0][3] == RejectReason.DUPLICATE_ORDER_ID
    # An invalid order does not use its id up.
    assert place(book, 4, 10, BUY, 100, 0)[0][3] == RejectReason.INVALID
    assert place(book, 4, 10, BUY, 100, 1)[0][0] == RESTED


BAD_PLACES = [
    (PLACE, 1, 10, 2, 100, 1, GTC, 0, NONE, TS),  # side
    (PLACE, 1, 10, BUY, 100, 1, 4, 0, NONE, TS),  # tif
    (PLACE, 1, 10, BUY, 100, 1, GTC, 8, NONE, TS),  # flags
    (PLACE, 1, 10, BUY, 100, 1, GTC, 0, 4, TS),  # stp
    (PLACE, 1, 10, BUY, 100, 0, GTC, 0, NONE, TS),  # qty 0
    (PLACE, 1, 10, BUY, 100, -3, GTC, 0, NONE, TS),
    (PLACE, 1, 10, BUY, 100, 1.5, GTC, 0, NONE, TS),
    (PLACE, 1, 10, BUY, 100, 2**63, GTC, 0, NONE, TS),
    (PLACE, 1, 10, BUY, 0, 1, GTC, 0, NONE, TS),  # price 0 for a priced order
    (PLACE, 1, 10, BUY, -5, 1, GTC, 0, NONE, TS),
    (PLACE, 1, 10, BUY, "100", 1, GTC, 0, NONE, TS),
    (PLACE, 1, 10, BUY, None, 1, GTC, 0, NONE, TS),
    (PLACE, 1, 10, [0], 100, 1, GTC, 0, NONE, TS),  # unhashable
    (PLACE, "1", 10, BUY, 100, 1, GTC, 0, NONE, TS),
    (PLACE, -1, 10, BUY, 100, 1, GTC, 0, NONE, TS),
    (PLACE, 1, None, BUY, 100, 1, GTC, 0, NONE, TS),
]


@pytest.mark.parametrize("command", BAD_PLACES)
def test_invalid_places_are_rejected_and_change_nothing(command: tuple[Any, ...]) -> None:
    book = OrderBook(1)
    place(book, 50, 10, SELL, 100, 1)
    before = book.snapshot()
    assert apply(book, command) == [(REJECTED, command[1], command[2], RejectReason.INVALID, TS)]
    assert book.snapshot() == before


@pytest.mark.parametrize(
    ("command", "event"),
    [
        ((), (REJECTED, 0, 0, RejectReason.INVALID, 0)),
        ("garbage", (REJECTED, 0, 0, RejectReason.INVALID, 0)),
        ((99, 1, 2, 3), (REJECTED, 1, 2, RejectReason.INVALID, 3)),
        ((PLACE, 1, 2, 3), (REJECTED, 1, 2, RejectReason.INVALID, 3)),
        ((CANCEL, 1, 2), (REJECTED, 1, 2, RejectReason.INVALID, 2)),
        ((EXPIRE_DAY,), (REJECTED, 0, 0, RejectReason.INVALID, 0)),
        ((CANCEL, [1], 2, 3), (REJECTED, [1], 2, RejectReason.INVALID, 3)),
        ((REPLACE, {}, 2, 100, 1, 3), (REJECTED, {}, 2, RejectReason.INVALID, 3)),
    ],
)
def test_malformed_commands_are_rejected_without_raising(
    command: Any, event: tuple[Any, ...]
) -> None:
    book = OrderBook(1)
    place(book, 50, 10, SELL, 100, 1)
    before = book.snapshot()
    assert apply(book, command) == [event]
    assert book.snapshot() == before


def test_market_orders_ignore_their_price() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 1)
    out = apply(book, (PLACE, 2, 11, BUY, None, 1, GTC, MKT, NONE, TS))
    assert out == [trade(1, 1, 10, 2, 11, BUY, 100, 1, 0, 0)]


def test_enum_values_equal_to_valid_ones_come_out_as_plain_ints() -> None:
    book = OrderBook(1)
    out = place(book, 1, 10, True, 100, 1)
    assert out == [(RESTED, 1, 10, 1, 100, 1, TS)] and type(out[0][3]) is int
    assert event_dict(out[0])["side"] == "sell"


def test_depth_best_prices_and_open_orders() -> None:
    book = OrderBook(1)
    assert (book.best_bid(), book.best_ask(), book.depth(3)) == (None, None, ([], []))
    place(book, 1, 10, BUY, 98, 1)
    place(book, 2, 10, BUY, 99, 2)
    place(book, 3, 11, BUY, 99, 3)
    place(book, 4, 12, SELL, 103, 4)
    place(book, 5, 12, SELL, 101, 5, DAY, POST, E_MAKER)
    assert (book.best_bid(), book.best_ask()) == (99, 101)
    assert book.depth(1) == ([(99, 5, 2)], [(101, 5, 1)])
    assert book.depth(10) == ([(99, 5, 2), (98, 1, 1)], [(101, 5, 1), (103, 4, 1)])
    assert book.depth(0) == ([], [])
    assert list(book.open_orders()) == [
        (2, 10, BUY, 99, 2, GTC, 0, NONE),
        (3, 11, BUY, 99, 3, GTC, 0, NONE),
        (1, 10, BUY, 98, 1, GTC, 0, NONE),
        (5, 12, SELL, 101, 5, DAY, POST, E_MAKER),
        (4, 12, SELL, 103, 4, GTC, 0, NONE),
    ]
    assert book.open_order(3) == (11, BUY, 99, 3)
    assert book.open_order(77) is None and book.open_order("x") is None  # type: ignore[arg-type]
    assert book.order_count == 5


def test_a_restored_book_keeps_time_priority_and_trade_seq() -> None:
    book = OrderBook(42)
    place(book, 1, 10, SELL, 100, 1)
    place(book, 2, 11, BUY, 100, 1)
    place(book, 3, 12, BUY, 99, 1, DAY, POST, E_BOTH)
    place(book, 4, 13, BUY, 99, 1)
    restored = OrderBook.restore(book.snapshot())
    assert restored.instrument_id == 42 and restored.trade_seq == 1
    assert list(restored.open_orders()) == list(book.open_orders())
    assert place(restored, 5, 14, SELL, 99, 1) == [trade(2, 3, 12, 5, 14, SELL, 99, 1, 0, 0)]


@pytest.mark.parametrize(
    "data",
    [b"", b"XXXX" + bytes(40), b"CBOB\x09" + bytes(32), b"CBOB\x01" + bytes(32) + b"junk"],
)
def test_restore_refuses_bytes_that_are_not_a_snapshot(data: bytes) -> None:
    with pytest.raises(SnapshotError):
        OrderBook.restore(data)


def test_restore_refuses_a_body_that_does_not_match_its_header() -> None:
    book = OrderBook(1)
    place(book, 1, 10, SELL, 100, 1)
    data = bytearray(book.snapshot())
    data[5 + 16] = 9  # claims 9 open orders
    with pytest.raises(SnapshotError):
        OrderBook.restore(bytes(data))


def test_the_ids_seen_are_bounded_and_old_ids_stay_rejected() -> None:
    """The duplicate check forgets ids more than the window below the newest, amortised; those
    ids (and any older id never seen) are still refused, and a snapshot keeps the floor."""
    book = OrderBook(7, seen_window=1_000)
    for order_id in range(1, 200_001):
        out = place(book, order_id, 1, BUY, 100, 1, tif=IOC)
        assert out[0][0] == CANCELLED  # nothing to trade against: the IOC expires
    assert book.ids_remembered <= 65_536  # pruned each time the set reaches 65,536 ids
    assert place(book, 150_000, 1, BUY, 100, 1)[0][:2] == (REJECTED, 150_000)  # forgotten id
    assert place(book, 199_999, 1, BUY, 100, 1)[0][:2] == (REJECTED, 199_999)  # remembered
    restored = OrderBook.restore(book.snapshot(), seen_window=1_000)
    assert restored.ids_remembered == book.ids_remembered
    assert place(restored, 150_001, 1, BUY, 100, 1)[0][:2] == (REJECTED, 150_001)
    assert place(restored, 200_001, 1, BUY, 100, 1)[0][:2] == (RESTED, 200_001)
    assert place(book, 200_001, 1, BUY, 100, 1)[0][:2] == (RESTED, 200_001)
    assert restored.snapshot() == book.snapshot()


def test_a_version_1_snapshot_still_restores() -> None:
    import struct
    import zlib
    from array import array

    body = array("q", [5, 9, 1, 100, 3, GTC, 0, NONE])  # one resting sell order
    body.extend([3, 2])  # ids seen 3 and 5, delta-coded
    header = struct.pack("<4sBqqqq", b"CBOB", 1, 42, 6, 1, 2)
    book = OrderBook.restore(header + zlib.compress(body.tobytes()))
    assert book.instrument_id == 42 and book.trade_seq == 6
    assert list(book.open_orders()) == [(5, 9, 1, 100, 3, GTC, 0, NONE)]
    assert place(book, 3, 1, BUY, 90, 1)[0][:2] == (REJECTED, 3)
    assert place(book, 4, 1, BUY, 90, 1)[0][:2] == (RESTED, 4)
