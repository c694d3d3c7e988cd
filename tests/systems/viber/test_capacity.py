"""Viber's capacity model: seed-000 §4's estimate recomputed, its read-based storage slip named,
and the 50:1 load mix driven against the real API."""

from __future__ import annotations

import httpx
import pytest

from casebook.platform.capacity import LoadSetup
from casebook.systems.viber.capacity import (
    CAPACITY,
    GROUP_SIZE,
    LOAD_MIX,
    population,
    prepare_users,
    read_history,
    send_message,
)


def test_rates_follow_from_500_million_messages_a_day_at_50_to_1() -> None:
    assert CAPACITY.writes_per_second == pytest.approx(5787.04, abs=0.01)
    assert CAPACITY.reads_per_day == 25e9
    assert CAPACITY.requests_per_second == pytest.approx(295_139, abs=1)


def test_storage_counts_messages_written_not_received() -> None:
    assert CAPACITY.storage_per_day == 25e12
    assert CAPACITY.storage_over_horizon == pytest.approx(27.375e15)
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert notes["storage_per_day"].startswith("seed off by 50.0x")
    assert "1,368.75" in notes["storage_over_horizon"]
    assert "writes only" in notes["requests_per_second"]
    assert notes["writes_per_second"] == notes["reads_per_day"] == ""


def test_the_population_keeps_each_user_under_half_the_send_rate() -> None:
    assert LOAD_MIX.share("write") == pytest.approx(1 / 51)
    assert population(LoadSetup(items=1, rate=10), LOAD_MIX.share("write")) == GROUP_SIZE
    seed = population(
        LoadSetup(items=1, rate=CAPACITY.requests_per_second), LOAD_MIX.share("write")
    )
    assert seed == 386  # 5,787 sends/s at 15/s each


async def test_the_mix_sends_and_reads_group_messages_through_the_api(
    client: httpx.AsyncClient,
) -> None:
    state = await prepare_users(client, LoadSetup(items=GROUP_SIZE, rate=1))
    assert len(state.users) == GROUP_SIZE and len({u.group_id for u in state.users}) == 1
    sent = await send_message(client, state)
    assert sent.status_code == 201 and len(sent.json()["body"]) == 200
    read = await read_history(client, state)
    assert read.status_code == 200 and [m["id"] for m in read.json()["items"]] == [
        sent.json()["id"]
    ]
