"""Substack's capacity model: seed-003 §7's estimate recomputed, its rounded read-only request
rate named, and the 100:1 load mix driven against the real API and pages."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import LoadSetup
from casebook.systems.substack.capacity import (
    CAPACITY,
    LOAD_MIX,
    prepare_writer,
    publish_post,
    read_post,
)


def test_rates_are_derived_from_4_million_reads_a_day_at_100_to_1() -> None:
    assert CAPACITY.writes_per_day == 40_000
    assert CAPACITY.reads_per_day == 4e6
    assert CAPACITY.reads_per_second == pytest.approx(46.296, abs=1e-3)
    assert CAPACITY.writes_per_second == pytest.approx(0.463, abs=1e-3)
    assert CAPACITY.requests_per_second == pytest.approx(46.759, abs=1e-3)
    assert CAPACITY.rate("peak") == pytest.approx(3 * CAPACITY.requests_per_second)


def test_storage_is_40_000_newsletters_of_1_mb_a_day_for_3_years() -> None:
    assert CAPACITY.storage_per_day == 40e9
    assert CAPACITY.records_over_horizon == 43_800_000
    assert CAPACITY.storage_over_horizon == pytest.approx(43.8e12)


def test_only_the_seeds_rounded_read_only_request_rate_is_called_off() -> None:
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert notes["reads_per_second"].startswith("seed off by -0.6%")
    assert "0.46 writes/s" in notes["reads_per_second"]
    assert notes["storage_over_horizon"] == notes["storage_per_day"] == ""
    assert notes["writes_per_day"] == notes["reads_per_day"] == ""
    assert notes["peak_factor"].startswith("assumed:")


def test_capacity_command_prints_substacks_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", "substack"])
    assert result.exit_code == 0, result.output
    assert "46.3/s" in result.output and "46 newsletters/second" in result.output
    as_json = CliRunner().invoke(cli, ["capacity", "substack", "--json"])
    figures = {f["key"]: f for f in json.loads(as_json.output)["figures"]}
    assert figures["reads_per_second"]["agrees"] is False
    assert figures["storage_over_horizon"]["agrees"] is True


def test_the_mix_is_a_hundred_reads_per_new_post() -> None:
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("read-post", "read", 100),
        ("publish-post", "write", 1),
    }
    assert LOAD_MIX.share("write") == pytest.approx(1 / 101)


async def test_the_mix_publishes_and_reads_through_the_api_and_pages(
    client: httpx.AsyncClient,
) -> None:
    state = await prepare_writer(client, LoadSetup(items=2, rate=1))
    assert len(set(state.post_ids)) == 2
    read = await read_post(client, state)
    assert read.status_code == 200 and "Load-test issue #" in read.text
    published = await publish_post(client, state)
    assert published.status_code == 201 and published.json()["status"] == "published"
    assert state.post_ids[-1] == published.json()["id"] and len(state.post_ids) == 3
    listed = await client.get(f"/api/substack/publications/{state.publication_id}/posts")
    assert {p["id"] for p in listed.json()["items"]} == set(state.post_ids)
