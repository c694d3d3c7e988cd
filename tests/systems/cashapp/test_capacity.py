"""The capacity model's figures and its load mix, run once through the app."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.capacity import LoadSetup
from casebook.platform.context import Platform
from casebook.systems.cashapp.capacity import CAPACITY, LOAD

pytestmark = pytest.mark.feature("cashapp", "p2p-transfer")


def test_the_seeds_storage_slip_is_corrected() -> None:
    figures = {f.key: f for f in CAPACITY.figures()}
    assert round(figures["writes_per_second"].value) == 1157
    assert figures["storage_per_day"].value == pytest.approx(1e12)
    assert LOAD.share("write") == pytest.approx(1 / 101)


async def test_the_load_mix_runs_against_the_app(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    state = await LOAD.setup(client, LoadSetup(items=80, rate=10))
    assert len(state.headers) == 4
    for action in LOAD.actions:
        for _ in range(3):
            response = await action.request(client, state)
            assert response.status_code in action.expected, response.text
    async with platform.db.session() as session:
        assert (await verify(session)).ok
