"""Facebook Timeline's capacity model: seed-003 §10's estimate recomputed, its rounded rates
named, and the 50:1 load mix driven against the real API."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import LoadSetup, SetupFailed
from casebook.systems.facebook_timeline.capacity import (
    CAPACITY,
    LOAD_MIX,
    MAX_WRITERS,
    prepare_writers,
    read_timeline,
    write_post,
    writers_needed,
)

API = "/api/facebook-timeline"


def test_rates_are_derived_from_150_000_posts_a_day_at_50_to_1() -> None:
    assert CAPACITY.reads_per_day == 7.5e6
    assert CAPACITY.reads_per_second == pytest.approx(86.806, abs=1e-3)
    assert CAPACITY.writes_per_second == pytest.approx(1.736, abs=1e-3)
    assert CAPACITY.requests_per_second == pytest.approx(88.542, abs=1e-3)
    assert CAPACITY.rate("peak") == pytest.approx(3 * CAPACITY.requests_per_second)


def test_storage_is_150_000_posts_of_1_mb_a_day_for_3_years() -> None:
    assert CAPACITY.storage_per_day == 150e9
    assert CAPACITY.records_over_horizon == 164_250_000
    assert CAPACITY.storage_over_horizon == pytest.approx(164.25e12)


def test_the_seeds_rounded_rates_are_called_off_and_its_storage_agrees() -> None:
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert notes["reads_per_second"].startswith("seed off by +0.2%")
    assert notes["writes_per_second"].startswith("seed off by +15.2%")
    assert "88.5 requests/s" in notes["writes_per_second"]
    assert notes["storage_per_day"] == notes["storage_over_horizon"] == ""
    assert notes["reads_per_day"] == notes["writes_per_day"] == ""
    assert notes["peak_factor"].startswith("assumed:")


def test_capacity_command_prints_the_timelines_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", "facebook-timeline"])
    assert result.exit_code == 0, result.output
    assert "86.8/s" in result.output and "164 TB" in result.output
    as_json = CliRunner().invoke(cli, ["capacity", "facebook-timeline", "--json"])
    figures = {f["key"]: f for f in json.loads(as_json.output)["figures"]}
    assert figures["writes_per_second"]["agrees"] is False
    assert figures["storage_over_horizon"]["agrees"] is True


def test_the_mix_is_fifty_timeline_reads_per_post() -> None:
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("read-timeline", "read", 50),
        ("write-post", "write", 1),
    }
    assert LOAD_MIX.share("write") == pytest.approx(1 / 51)


def test_writers_cover_the_posting_limit_up_to_the_login_limit() -> None:
    # At the seed's 88.5 requests/s, 104 posts a minute at 16 per writer (80 % of 20).
    assert writers_needed(CAPACITY.rate("seed")) == 7
    assert writers_needed(1) == 2
    assert writers_needed(MAX_WRITERS * 16 * 51 / 60) == MAX_WRITERS
    with pytest.raises(SetupFailed, match="LOGIN_ATTEMPTS"):
        writers_needed(CAPACITY.rate("peak"))


async def test_the_mix_reads_and_writes_through_the_api(client: httpx.AsyncClient) -> None:
    state = await prepare_writers(client, LoadSetup(items=6, rate=1))
    assert len(state.writers) == 2
    a, b = state.writers
    friends_only = await client.get(f"{API}/users/{a.user_id}/timeline", headers=b.headers)
    anonymous = await client.get(f"{API}/users/{a.user_id}/timeline")
    assert len(friends_only.json()["items"]) == 3
    assert len(anonymous.json()["items"]) == 2
    read = await read_timeline(client, state)
    assert read.status_code == 200 and read.json()["items"]
    written = await write_post(client, state)
    assert written.status_code == 201
    again = await write_post(client, state)
    assert again.status_code == 201
    assert {written.json()["author"]["id"], again.json()["author"]["id"]} == {a.user_id, b.user_id}
