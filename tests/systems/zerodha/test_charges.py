"""Zerodha's charges: zero brokerage on delivery, min(₹20, 0.03 %) on intraday, statutory
charges per side, exact paise rounding, and never lower at a higher turnover."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from casebook.systems.zerodha import charges

pytestmark = pytest.mark.feature("zerodha", "zero-brokerage")


def test_delivery_pays_no_brokerage_but_stt_and_stamp_duty_on_a_buy() -> None:
    c = charges.compute("CNC", "buy", 10_000_000)  # ₹1,00,000
    assert c.brokerage == 0
    assert c.stt == 10_000  # 0.1 %
    assert c.stamp_duty == 1_500  # 0.015 %
    assert c.exchange_txn == 297  # 0.00297 %
    assert c.sebi == 10  # ₹10 per crore
    assert c.gst == round((297 + 10) * 0.18)  # 55.26 -> 55
    assert c.total == 10_000 + 1_500 + 297 + 10 + 55


def test_delivery_sell_pays_stt_but_no_stamp_duty() -> None:
    c = charges.compute("CNC", "sell", 10_000_000)
    assert (c.brokerage, c.stt, c.stamp_duty) == (0, 10_000, 0)


def test_intraday_brokerage_is_the_lower_of_20_rupees_and_003_percent() -> None:
    small = charges.compute("MIS", "buy", 2_000_000)  # ₹20,000: 0.03 % = ₹6
    assert small.brokerage == 600
    large = charges.compute("MIS", "sell", 50_000_000)  # ₹5,00,000: 0.03 % = ₹150 > ₹20
    assert large.brokerage == 2_000
    assert large.stt == 12_500  # 0.025 % on the sell side
    assert small.stt == 0  # no STT on an intraday buy
    assert small.stamp_duty == 60  # 0.003 %
    assert large.gst == (2_000 + large.exchange_txn + large.sebi) * 18 // 100 + (
        1 if ((2_000 + large.exchange_txn + large.sebi) * 18) % 100 >= 50 else 0
    )


def test_half_a_paisa_rounds_up() -> None:
    # 0.1 % of 1,500 paise is 1.5 paise: half up -> 2
    assert charges.compute("CNC", "buy", 1_500).stt == 2
    assert charges.compute("CNC", "buy", 1_400).stt == 1


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        charges.compute("CNC", "buy", -1)
    with pytest.raises(ValueError):
        charges.compute("NRML", "buy", 1)  # type: ignore[arg-type]


@given(
    st.sampled_from(["CNC", "MIS"]),
    st.sampled_from(["buy", "sell"]),
    st.integers(0, 10**12),
    st.integers(0, 10**9),
)
def test_charges_never_fall_as_turnover_grows(
    product: charges.Product, side: charges.Side, turnover: int, extra: int
) -> None:
    low = charges.compute(product, side, turnover)
    high = charges.compute(product, side, turnover + extra)
    assert high.total >= low.total
    assert low.total == low.brokerage + low.statutory
    # charges are a small fraction of the turnover (< 0.25 % + the ₹20 cap): a sale's proceeds
    # always cover them.
    assert low.total <= turnover * 25 // 10_000 + 2_000 + 10
