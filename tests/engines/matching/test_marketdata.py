"""MarketData from hand-made event tuples (types.py layouts): depth, L1, tape, seq and diffs."""

from __future__ import annotations

from typing import Any

import pytest

from casebook.engines.matching.marketdata import (
    MarketData,
    MarketDataDiverged,
    Scale,
    decimal_text,
)
from casebook.engines.matching.types import (
    CANCELLED,
    REJECTED,
    REPLACED,
    RESTED,
    TRADE,
    CancelReason,
    RejectReason,
    Side,
)

BUY, SELL = int(Side.BUY), int(Side.SELL)


def rested(order: int, side: int, price: int, qty: int, ts: int = 1) -> tuple[Any, ...]:
    return (RESTED, order, 7, side, price, qty, ts)


def trade(
    seq: int, maker: int, taker_side: int, price: int, qty: int, maker_left: int, ts: int = 2
) -> tuple[Any, ...]:
    return (TRADE, seq, maker, 7, 900 + seq, 8, taker_side, price, qty, maker_left, 0, ts)


def client_apply(book: dict[str, dict[int, int]], update: dict[str, Any]) -> None:
    """What a diff-depth client does with an update."""
    for name in ("bids", "asks"):
        for price, qty in update[name]:
            if qty == 0:
                book[name].pop(price, None)
            else:
                book[name][price] = qty


def test_resting_orders_build_depth_and_the_quote() -> None:
    md = MarketData("stock-exchange", 1)
    update = md.apply(
        [
            rested(1, BUY, 100, 5),
            rested(2, BUY, 100, 3),
            rested(3, BUY, 99, 4),
            rested(4, SELL, 102, 6),
            rested(5, SELL, 101, 2),
        ]
    )
    assert update is not None
    assert (update.seq, update.prev_seq) == (1, 0)
    assert update.bids == [[100, 8], [99, 4]]  # best first
    assert update.asks == [[101, 2], [102, 6]]
    assert md.l2(10) == {
        "seq": 1,
        "bids": [[100, 8, 2], [99, 4, 1]],
        "asks": [[101, 2, 1], [102, 6, 1]],
    }
    assert md.l2(1)["bids"] == [[100, 8, 2]]
    quote = md.l1()
    assert (quote["bid_price"], quote["bid_qty"], quote["ask_price"], quote["ask_qty"]) == (
        100,
        8,
        101,
        2,
    )
    assert quote["last_price"] is None and quote["seq"] == 1


def test_a_trade_takes_the_maker_level_and_lands_on_the_tape() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, SELL, 101, 2), rested(2, SELL, 101, 3), rested(3, SELL, 103, 1)])
    # A buy of 4 at 101 lifts order 1 fully (2) and order 2 partly (2 of 3); another buyer rests.
    update = md.apply(
        [
            trade(1, 1, BUY, 101, 2, 0, ts=10),
            trade(2, 2, BUY, 101, 2, 1, ts=10),
            (RESTED, 50, 8, BUY, 100, 1, 10),
        ]
    )
    assert update is not None
    assert update.asks == [[101, 1]]
    assert update.bids == [[100, 1]]
    assert [t.trade_seq for t in update.trades] == [1, 2]
    assert md.l2(5)["asks"] == [[101, 1, 1], [103, 1, 1]]
    quote = md.l1()
    assert (quote["last_price"], quote["last_qty"], quote["ts"]) == (101, 2, 10)
    tape = md.trades(10)
    assert [t.trade_seq for t in tape] == [2, 1]  # newest first
    assert tape[0].as_dict(Scale(1, 1, 1, 100)) == {
        "trade_seq": 2,
        "price": 101,
        "qty": 2,
        "taker_side": "buy",
        "ts": 10,
        "price_text": "1.01",
        "qty_text": "2",
    }


def test_a_level_emptied_is_sent_as_qty_zero_and_seq_chains() -> None:
    md = MarketData("stock-exchange", 1)
    first = md.apply([rested(1, BUY, 100, 5), rested(2, SELL, 105, 1)])
    second = md.apply([(CANCELLED, 1, 7, BUY, 100, 5, CancelReason.USER, 1, 3)])
    assert first is not None and second is not None
    assert second.prev_seq == first.seq and second.seq == first.seq + 1
    assert second.depth_dict() == {"seq": 2, "prev_seq": 1, "bids": [[100, 0]], "asks": []}
    assert md.best_bid() is None and md.best_ask() == (105, 1)


def test_a_batch_that_changes_no_level_publishes_nothing_and_keeps_the_seq() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, BUY, 100, 5)])
    nothing = md.apply(
        [
            (REJECTED, 9, 7, RejectReason.DUPLICATE_ORDER_ID, 4),
            (CANCELLED, 10, 7, SELL, 99, 3, CancelReason.IOC, 0, 4),  # never rested
        ]
    )
    assert nothing is None
    assert md.seq == 1 and md.ts == 4
    assert md.l2(5)["bids"] == [[100, 5, 1]]


def test_replace_keeping_priority_shrinks_the_level_and_losing_it_moves_the_order() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, BUY, 100, 5), rested(2, BUY, 100, 2)])
    kept = md.apply([(REPLACED, 1, 7, BUY, 100, 5, 100, 3, 1, 5)])
    assert kept is not None and kept.bids == [[100, 5]]
    assert md.l2(5)["bids"] == [[100, 5, 2]]
    moved = md.apply([(REPLACED, 1, 7, BUY, 100, 3, 98, 4, 0, 6), rested(1, BUY, 98, 4, 6)])
    assert moved is not None
    assert moved.bids == [[100, 2], [98, 4]]
    assert md.l2(5)["bids"] == [[100, 2, 1], [98, 4, 1]]


def test_stp_cancel_of_a_resting_maker_takes_it_off_its_level() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, SELL, 101, 4), rested(2, SELL, 101, 1)])
    update = md.apply(
        [
            (CANCELLED, 1, 8, SELL, 101, 4, CancelReason.STP, 1, 7),
            trade(1, 2, BUY, 101, 1, 0, ts=7),
            (CANCELLED, 60, 8, BUY, 101, 2, CancelReason.IOC, 0, 7),
        ]
    )
    assert update is not None and update.asks == [[101, 0]] and update.bids == []
    assert md.level_count == (0, 0)


def test_a_client_applying_diffs_keeps_the_same_depth_as_the_server() -> None:
    md = MarketData("stock-exchange", 1)
    client: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
    batches = [
        [rested(1, BUY, 100, 5), rested(2, SELL, 103, 2)],
        [rested(3, BUY, 101, 1), rested(4, SELL, 102, 7)],
        [trade(1, 3, SELL, 101, 1, 0)],
        [(CANCELLED, 1, 7, BUY, 100, 5, CancelReason.USER, 1, 9)],
        [trade(2, 4, BUY, 102, 3, 4)],
    ]
    seq = 0
    for batch in batches:
        update = md.apply(batch)
        assert update is not None and update.prev_seq == seq
        client_apply(client, update.depth_dict())
        seq = update.seq
    server = md.l2(100)
    assert client["bids"] == {p: q for p, q, _ in server["bids"]}
    assert client["asks"] == {p: q for p, q, _ in server["asks"]}
    assert client["asks"] == {102: 4, 103: 2}


def test_events_that_contradict_the_depth_raise() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, BUY, 100, 5)])
    with pytest.raises(MarketDataDiverged):
        md.apply([(CANCELLED, 1, 7, BUY, 100, 6, CancelReason.USER, 1, 2)])
    with pytest.raises(MarketDataDiverged):
        MarketData("x", 1).apply([trade(1, 1, BUY, 100, 1, 0)])


def test_the_tape_keeps_the_last_n_trades() -> None:
    md = MarketData("stock-exchange", 1, tape_size=3)
    md.apply([rested(1, SELL, 100, 10)])
    md.apply([trade(seq, 1, BUY, 100, 1, 10 - seq) for seq in range(1, 6)])
    assert [t.trade_seq for t in md.trades(10)] == [5, 4, 3]
    assert [t.trade_seq for t in md.trades(2)] == [5, 4]


class _Depth:
    def __init__(self, bids: list[tuple[int, int, int]], asks: list[tuple[int, int, int]]) -> None:
        self.bids, self.asks = bids, asks

    def depth(self, levels: int) -> tuple[list[tuple[int, int, int]], list[tuple[int, int, int]]]:
        return self.bids[:levels], self.asks[:levels]


def test_reset_from_book_replaces_the_depth_and_publishes_a_snapshot() -> None:
    md = MarketData("stock-exchange", 1)
    md.apply([rested(1, BUY, 90, 1)])
    update = md.reset_from_book(
        _Depth([(100, 5, 2), (99, 1, 1)], [(101, 3, 1)]),
        recent_trades=[trade(41, 3, SELL, 100, 2, 1, ts=50)],
    )
    assert update.snapshot and (update.seq, update.prev_seq) == (2, 1)
    assert update.bids == [[100, 5], [99, 1]] and update.asks == [[101, 3]]
    assert md.l2(10) == {"seq": 2, "bids": [[100, 5, 2], [99, 1, 1]], "asks": [[101, 3, 1]]}
    assert md.l1()["last_price"] == 100


@pytest.mark.parametrize(
    ("minor", "scale", "text"),
    [
        (18950, 100, "189.50"),
        (-5, 100, "-0.05"),
        (7, 1, "7"),
        (123456789, 10**8, "1.23456789"),
        (1, 4, "0.25"),
    ],
)
def test_decimal_text_is_exact(minor: int, scale: int, text: str) -> None:
    assert decimal_text(minor, scale) == text


def test_scale_renders_prices_and_quantities() -> None:
    # BTC/USDT-like: tick = 1 cent of USDT (quote_scale 100), lot = 0.001 BTC (10**5 of 10**8).
    scale = Scale(tick_size=1, lot_size=10**5, base_scale=10**8, quote_scale=100)
    assert scale.price_text(6_543_210) == "65432.10"
    assert scale.qty_text(15) == "0.01500000"
    with pytest.raises(ValueError):
        decimal_text(1, 0)
