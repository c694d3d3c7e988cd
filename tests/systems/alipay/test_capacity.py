"""The seed's capacity estimate, recomputed: its write rate holds, its storage is 100x low."""

from __future__ import annotations

import pytest

from casebook.systems.alipay.capacity import CAPACITY


def test_the_seeds_write_rate_agrees_and_its_storage_slip_is_explained() -> None:
    rate = CAPACITY.figure("writes_per_second")
    assert rate.value == pytest.approx(1e9 / 86_400)
    assert rate.slip is not None and abs(rate.slip) < 0.001
    storage = CAPACITY.figure("storage_per_day")
    assert storage.value == pytest.approx(1e12)
    assert storage.slip == pytest.approx(-0.99)
    assert storage.seed is not None and storage.seed.why
