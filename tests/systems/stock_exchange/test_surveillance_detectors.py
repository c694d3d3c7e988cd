"""The surveillance detectors over hand-made event tuples (types.py layouts): each fires on its
pattern and stays silent on honest trading."""

from __future__ import annotations

from typing import Any

import pytest

from casebook.engines.matching.types import (
    CANCELLED,
    REPLACED,
    RESTED,
    TRADE,
    CancelReason,
    Side,
)
from casebook.systems.stock_exchange.surveillance import (
    SECOND,
    Detectors,
    PriceSpikeDetector,
    SpoofingDetector,
)

BUY, SELL = int(Side.BUY), int(Side.SELL)
INSTRUMENT = 7


def trade(
    seq: int,
    maker: int,
    taker: int,
    taker_side: int,
    price: int,
    qty: int,
    ts: int,
    maker_order: int = 0,
    taker_order: int = 0,
    maker_left: int = 0,
) -> tuple[Any, ...]:
    return (
        TRADE,
        seq,
        maker_order or 1000 + seq,
        maker,
        taker_order or 2000 + seq,
        taker,
        taker_side,
        price,
        qty,
        maker_left,
        0,
        ts,
    )


def rested(order: int, account: int, side: int, price: int, qty: int, ts: int) -> tuple[Any, ...]:
    return (RESTED, order, account, side, price, qty, ts)


def cancelled(
    order: int,
    account: int,
    side: int,
    price: int,
    qty: int,
    ts: int,
    reason: CancelReason = CancelReason.USER,
) -> tuple[Any, ...]:
    return (CANCELLED, order, account, side, price, qty, int(reason), 1, ts)


OWNERS = {11: 1, 12: 1, 21: 2, 31: 3}
"""Accounts 11 and 12 belong to trader 1; 21 to trader 2; 31 to trader 3."""


@pytest.mark.feature("stock-exchange", "market-surveillance")
def test_two_accounts_of_one_trader_trading_together_is_a_wash_trade() -> None:
    detectors = Detectors()
    findings = detectors.scan(INSTRUMENT, [trade(1, 11, 12, BUY, 100, 5, SECOND)], OWNERS.get)
    assert [(f.kind, f.account_id) for f in findings] == [("wash-trade", 12)]
    assert findings[0].detail["owner_user_id"] == "1"


def test_trades_between_different_owners_or_unknown_accounts_are_not_wash_trades() -> None:
    detectors = Detectors()
    events = [trade(1, 11, 21, BUY, 100, 5, SECOND), trade(2, 99, 98, SELL, 100, 5, 2 * SECOND)]
    assert detectors.scan(INSTRUMENT, events, OWNERS.get) == []


def spoof_cycle(order: int, ts: int, account: int = 21, qty: int = 5_000) -> list[tuple[Any, ...]]:
    """A large sell resting one second, then cancelled by its owner."""
    return [
        rested(order, account, SELL, 105, qty, ts),
        cancelled(order, account, SELL, 105, qty, ts + SECOND),
    ]


@pytest.mark.feature("stock-exchange", "market-surveillance")
def test_repeated_quick_cancels_of_large_orders_while_buying_is_spoofing() -> None:
    detectors = Detectors()
    events = [trade(1, 31, 21, BUY, 100, 10, 0)]  # the spoofer buys
    for i in range(3):
        events += spoof_cycle(500 + i, (i + 1) * 2 * SECOND)
    findings = detectors.scan(INSTRUMENT, events, OWNERS.get)
    assert [(f.kind, f.account_id) for f in findings] == [("spoofing", 21)]
    assert findings[0].detail["cancelled_side"] == "sell"
    assert findings[0].detail["quick_cancels"] == 3
    assert findings[0].detail["cancelled_qty"] == 15_000


def test_spoofing_is_also_caught_when_the_trade_comes_after_the_cancels() -> None:
    detector = SpoofingDetector()
    from casebook.engines.matching.types import event_dict

    events = [*spoof_cycle(1, 0), *spoof_cycle(2, 2 * SECOND), *spoof_cycle(3, 4 * SECOND)]
    events.append(trade(1, 21, 31, SELL, 100, 10, 6 * SECOND))  # 21 is the maker on the buy side
    kinds = [f.kind for e in events if (f := detector.check(INSTRUMENT, event_dict(e)))]
    assert kinds == ["spoofing"]


def test_honest_cancels_are_not_spoofing() -> None:
    detectors = Detectors()
    base = [trade(1, 31, 21, BUY, 100, 10, 0)]
    # Small orders cancelled quickly: not large.
    small = [e for i in range(5) for e in spoof_cycle(600 + i, (i + 1) * 2 * SECOND, qty=10)]
    # Large orders cancelled after a long time: a changed mind, not a spoof.
    slow = []
    for i in range(5):
        t = 100 * SECOND + i * 20 * SECOND
        slow += [
            rested(700 + i, 21, SELL, 105, 5_000, t),
            cancelled(700 + i, 21, SELL, 105, 5_000, t + 10 * SECOND),
        ]
    # Quick cancels of large orders on the SAME side it trades: no other-side interest.
    same_side = [
        e for i in range(5) for e in spoof_cycle(800 + i, 300 * SECOND + i * 2 * SECOND, account=31)
    ]
    # Large orders that expire at the end of the day are not user cancels.
    expired = []
    for i in range(5):
        t = 400 * SECOND + i * 2 * SECOND
        expired += [
            rested(900 + i, 21, SELL, 105, 5_000, t),
            cancelled(900 + i, 21, SELL, 105, 5_000, t + SECOND, CancelReason.DAY),
        ]
    events = base + small + slow + same_side + expired
    assert detectors.scan(INSTRUMENT, events, OWNERS.get) == []


def test_a_replace_is_not_a_cancel() -> None:
    detectors = Detectors()
    events = [trade(1, 31, 21, BUY, 100, 10, 0)]
    for i in range(4):
        t = (i + 1) * 2 * SECOND
        events += [
            rested(40 + i, 21, SELL, 105, 5_000, t),
            (REPLACED, 40 + i, 21, SELL, 105, 5_000, 106, 5_000, 0, t + SECOND),
        ]
    assert detectors.scan(INSTRUMENT, events, OWNERS.get) == []


@pytest.mark.feature("stock-exchange", "market-surveillance")
def test_a_price_jump_beyond_the_limit_within_the_window_is_a_spike() -> None:
    detector = PriceSpikeDetector(max_move_bps=1_000, window_ns=60 * SECOND)
    from casebook.engines.matching.types import event_dict

    prices = [100, 101, 99, 100, 111]  # 111 > 99 x 1.10
    findings = [
        f
        for i, p in enumerate(prices)
        if (
            f := detector.check(INSTRUMENT, event_dict(trade(i + 1, 31, 21, BUY, p, 1, i * SECOND)))
        )
    ]
    assert [(f.kind, f.detail["direction"], f.detail["reference_price"]) for f in findings] == [
        ("price-spike", "up", 99)
    ]
    # A crash is caught too, once the quiet window after the first alert has passed.
    later = 200 * SECOND
    crash = [
        event_dict(trade(10, 31, 21, SELL, 100, 1, later)),
        event_dict(trade(11, 31, 21, SELL, 89, 1, later + SECOND)),
    ]
    down = [f for e in crash if (f := detector.check(INSTRUMENT, e))]
    assert [(f.detail["direction"], f.detail["move_bps"]) for f in down] == [("down", 1_100)]


def test_gradual_moves_and_moves_across_windows_are_not_spikes() -> None:
    detectors = Detectors()
    # +1 % a minute for 30 minutes: more than 10 % in all, never 10 % within one minute.
    events = [trade(i + 1, 31, 21, BUY, 1_000 + 10 * i, 1, i * 61 * SECOND) for i in range(30)]
    # Exactly 10 % is within the limit.
    events.append(trade(100, 31, 21, BUY, 1_000 + 10 * 29 + 129, 1, 29 * 61 * SECOND + SECOND))
    assert detectors.scan(INSTRUMENT, events, OWNERS.get) == []
