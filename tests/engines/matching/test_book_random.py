"""The order book against a deliberately simple reference book over thousands of random
commands: every event equal, the resting orders equal; a snapshot taken mid-stream continues
exactly; the same commands always give the same events."""

from __future__ import annotations

import random
from typing import Any

import pytest

from casebook.engines.matching.book import OrderBook
from casebook.engines.matching.types import (
    CANCEL,
    EXPIRE_DAY,
    PLACE,
    REPLACE,
    TRADE,
    Side,
)

from .reference_book import ReferenceBook

ACCOUNTS = (1, 2, 3, 4)


def random_commands(seed: int, count: int) -> list[tuple[Any, ...]]:
    """A stream around a narrow price range, so orders cross often; few accounts, so STP fires;
    some commands invalid, duplicated, aimed at unknown orders or at another account's."""
    rng = random.Random(seed)
    commands: list[tuple[Any, ...]] = []
    ids: list[int] = []
    owner: dict[int, int] = {}
    last_price: dict[int, int] = {}
    next_id = 1000

    def account_for(order_id: int) -> int:
        return owner.get(order_id, 1) if rng.random() < 0.85 else rng.choice(ACCOUNTS)

    for ts in range(1, count + 1):
        roll = rng.random()
        if roll < 0.45 or not ids:
            if rng.random() < 0.03 and ids:
                order_id = rng.choice(ids)  # a duplicate
            else:
                next_id += rng.randint(1, 3)
                order_id = next_id
                ids.append(order_id)
            side = rng.choice((0, 1))
            flags = rng.choice((0, 0, 0, 0, 1, 2))
            tif = rng.choice((0, 0, 0, 3, 3, 1, 2))
            price = rng.randint(92, 102) if side == 0 else rng.randint(98, 108)
            qty = rng.randint(1, 12)
            if rng.random() < 0.02:
                qty = rng.choice((0, -1))
            if rng.random() < 0.01:
                side = 7
            if rng.random() < 0.01:
                price = 0
            last_price.setdefault(order_id, price)
            account = owner.setdefault(order_id, rng.choice(ACCOUNTS))
            commands.append(
                (
                    PLACE,
                    order_id,
                    account,
                    side,
                    price,
                    qty,
                    tif,
                    flags,
                    rng.choice((0, 0, 1, 2, 3)),
                    ts,
                )
            )
        elif roll < 0.6:
            order_id = rng.choice(ids[-30:]) if rng.random() < 0.95 else 1
            commands.append((CANCEL, order_id, account_for(order_id), ts))
        elif roll < 0.99:
            order_id = rng.choice(ids[-30:])
            qty = rng.randint(1, 12) if rng.random() > 0.01 else 0
            price = rng.randint(92, 108)
            if order_id in last_price and rng.random() < 0.3:
                price = last_price[order_id]  # same price: may keep priority
            commands.append((REPLACE, order_id, account_for(order_id), price, qty, ts))
        else:
            commands.append((EXPIRE_DAY, ts))
    return commands


def run(book: OrderBook, commands: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for command in commands:
        book.apply(command, out)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_book_gives_exactly_the_reference_books_events(seed: int) -> None:
    commands = random_commands(seed, 3000)
    book = OrderBook(1)
    reference = ReferenceBook()
    trades = 0
    for index, command in enumerate(commands):
        out: list[tuple[Any, ...]] = []
        book.apply(command, out)
        expected = reference.apply(command)
        assert out == expected, f"command {index}: {command}"
        trades += sum(1 for event in out if event[0] == TRADE)
        if index % 100 == 0:
            assert list(book.open_orders()) == reference.open_orders()
            bid, ask = book.best_bid(), book.best_ask()
            assert bid is None or ask is None or bid < ask  # never crossed
    assert list(book.open_orders()) == reference.open_orders()
    assert book.trade_seq == reference.trade_seq == trades
    assert trades > 300  # the stream really exercises matching
    assert book.order_count == len(reference.resting)


@pytest.mark.parametrize("cut", [0, 777, 1500, 2999])
def test_snapshot_mid_stream_then_the_rest_equals_the_uninterrupted_run(cut: int) -> None:
    commands = random_commands(9, 3000)
    whole = OrderBook(5)
    expected = run(whole, commands)
    first = OrderBook(5)
    events = run(first, commands[:cut])
    restored = OrderBook.restore(first.snapshot())
    assert restored.instrument_id == 5
    assert list(restored.open_orders()) == list(first.open_orders())
    events += run(restored, commands[cut:])
    assert events == expected
    assert list(restored.open_orders()) == list(whole.open_orders())
    assert restored.trade_seq == whole.trade_seq
    assert restored.snapshot() == whole.snapshot()


def test_the_same_commands_always_give_the_same_events() -> None:
    commands = random_commands(11, 2000)
    assert run(OrderBook(1), commands) == run(OrderBook(1), commands)


def test_depth_sums_the_open_orders_of_each_level() -> None:
    book = OrderBook(1)
    run(book, random_commands(12, 2000))
    bids, asks = book.depth(1000)
    sums: dict[tuple[int, int], list[int]] = {}
    for _oid, _acc, side, price, qty, *_ in book.open_orders():
        level = sums.setdefault((side, price), [0, 0])
        level[0] += qty
        level[1] += 1
    assert [(p, q, n) for p, q, n in bids] == [
        (p, *sums[(Side.BUY, p)])
        for p in sorted({p for s, p in sums if s == Side.BUY}, reverse=True)
    ]
    assert [(p, q, n) for p, q, n in asks] == [
        (p, *sums[(Side.SELL, p)]) for p in sorted({p for s, p in sums if s == Side.SELL})
    ]
    assert book.depth(2) == (bids[:2], asks[:2])
