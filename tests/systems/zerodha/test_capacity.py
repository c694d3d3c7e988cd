"""The seed's capacity figures, recomputed."""

from __future__ import annotations

from casebook.systems.zerodha.capacity import CAPACITY


def test_the_seeds_figures_hold_and_the_rates_are_derived() -> None:
    figures = {f.key: f for f in CAPACITY.figures()}
    assert figures["storage_per_day"].value == 10e9
    assert figures["storage_over_horizon"].value == 10.95e12
    assert figures["storage_over_horizon"].agrees
    assert round(figures["writes_per_second"].value) == 116
    assert round(figures["peak_requests_per_second"].value) == 116_898
