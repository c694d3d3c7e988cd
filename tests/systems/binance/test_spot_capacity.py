"""Binance's capacity figures, recomputed (seed-004 §2), with the seed's slips flagged."""

from __future__ import annotations

from casebook.systems.binance.capacity import CAPACITY


def test_storage_follows_every_trade_and_the_rate_agrees_with_the_seed() -> None:
    figures = {f.key: f for f in CAPACITY.figures()}
    assert figures["storage_per_day"].value == 50e9
    assert not figures["storage_per_day"].agrees
    assert figures["storage_over_horizon"].value == 54.75e12
    assert not figures["storage_over_horizon"].agrees
    assert round(figures["writes_per_second"].value) == 579
    assert figures["writes_per_second"].agrees
    assert round(figures["peak_requests_per_second"].value) == 584_491
