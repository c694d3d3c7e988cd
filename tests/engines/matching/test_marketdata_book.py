"""MarketData fed by a real OrderBook (area A): after every batch of random commands, the depth it
holds equals `OrderBook.depth()`, and a client applying only the published diffs holds the same."""

from __future__ import annotations

import random
from typing import Any

from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.marketdata import ALL_LEVELS, MarketData
from casebook.engines.matching.types import (
    CANCEL,
    PLACE,
    REPLACE,
    TRADE,
    Flag,
    SelfTrade,
    Side,
    TimeInForce,
)


def random_command(rng: random.Random, ts: int, live: list[int], next_id: int) -> tuple[Any, ...]:
    roll = rng.random()
    if live and roll < 0.2:
        return (CANCEL, rng.choice(live), rng.randint(1, 4), ts)
    if live and roll < 0.45:
        price, qty = rng.randint(95, 105), rng.randint(1, 6)
        return (REPLACE, rng.choice(live), rng.randint(1, 4), price, qty, ts)
    flags = int(Flag.MARKET) if rng.random() < 0.05 else 0
    return (
        PLACE,
        next_id,
        rng.randint(1, 4),
        rng.choice((Side.BUY, Side.SELL)),
        0 if flags else rng.randint(95, 105),
        rng.randint(1, 8),
        rng.choice(list(TimeInForce)),
        flags,
        rng.choice(list(SelfTrade)),
        ts,
    )


def test_depth_and_diffs_match_the_book_over_random_batches() -> None:
    rng = random.Random(6)
    book, md = OrderBook(1), MarketData("stock-exchange", 1)
    client: dict[str, dict[int, int]] = {"bids": {}, "asks": {}}
    live: list[int] = []
    next_id, trades, seq = 1, 0, 0
    for batch_no in range(300):
        events: list[tuple[Any, ...]] = []
        for _ in range(rng.randint(1, 6)):
            command = random_command(rng, batch_no, live, next_id)
            if command[0] == PLACE:
                live.append(next_id)
                next_id += 1
            book.apply(command, events)
        trades += sum(1 for event in events if event[0] == TRADE)
        update = md.apply(events)
        if update is not None:
            assert update.prev_seq == seq
            seq = update.seq
            for name in ("bids", "asks"):
                for price, qty in update.bids if name == "bids" else update.asks:
                    if qty:
                        client[name][price] = qty
                    else:
                        client[name].pop(price, None)
        bids, asks = book.depth(ALL_LEVELS)
        view = md.l2(ALL_LEVELS)
        assert view["bids"] == [list(level) for level in bids]
        assert view["asks"] == [list(level) for level in asks]
        assert client["bids"] == {p: q for p, q, _ in bids}
        assert client["asks"] == {p: q for p, q, _ in asks}
        best_bid, best_ask = book.best_bid(), book.best_ask()
        assert md.l1()["bid_price"] == best_bid and md.l1()["ask_price"] == best_ask
        live = [order for order in live if book.open_order(order) is not None]
    assert trades > 50  # the stream did trade: the comparison covered fills
    assert md.trades(1)[0].trade_seq == book.trade_seq


def test_reset_from_a_real_book_equals_its_depth() -> None:
    book = OrderBook(1)
    out: list[tuple[Any, ...]] = []
    for order_id, (side, price) in enumerate([(Side.BUY, 99), (Side.BUY, 99), (Side.SELL, 101)], 1):
        book.apply((PLACE, order_id, 1, side, price, 3, TimeInForce.GTC, 0, SelfTrade.NONE, 1), out)
    md = MarketData("stock-exchange", 1)
    update = md.reset_from_book(book)
    assert update.snapshot and update.bids == [[99, 6]] and update.asks == [[101, 3]]
    assert md.l2(5) == {"seq": 1, "bids": [[99, 6, 2]], "asks": [[101, 3, 1]]}
