"""Instant Messenger's capacity model: seed-003 §8's estimate recomputed, its x5 slip in the
3-year storage named, and the 100:1 mix driven against the real API (in process, and as
`casebook load` does, over a real socket)."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi import FastAPI
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import LoadSetup
from casebook.platform.loadgen import LoadPlan, run_load
from casebook.systems.instant_messenger.capacity import (
    CAPACITY,
    GROUP_SIZE,
    LOAD_MIX,
    TEXT_CHARS,
    population,
    prepare_users,
    read_feed,
    read_history,
    read_message,
    send_message,
)
from tests.servers import serve_in_loop


def test_rates_follow_from_3_billion_messages_a_day_at_100_to_1() -> None:
    assert CAPACITY.writes_per_day == 3e9
    assert CAPACITY.writes_per_second == pytest.approx(34_722.2, abs=0.1)
    assert CAPACITY.reads_per_day == 300e9
    assert CAPACITY.requests_per_second == pytest.approx(3_506_944, abs=1)
    assert CAPACITY.storage_per_day == 3e12


def test_three_year_storage_is_3_29_petabytes_not_5_475() -> None:
    assert CAPACITY.storage_over_horizon == pytest.approx(3.285e15)
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert notes["storage_over_horizon"].startswith("seed off by +66.7%")
    assert "3 TB x 3 x 365 = 3.285 PB" in notes["storage_over_horizon"]
    assert notes["writes_per_second"] == notes["storage_per_day"] == ""
    assert notes["peak_factor"].startswith("assumed:")


def test_capacity_command_prints_the_table_and_json() -> None:
    result = CliRunner().invoke(cli, ["capacity", "instant-messenger"])
    assert result.exit_code == 0, result.output
    assert "34,722" in result.output or "34.7" in result.output
    as_json = CliRunner().invoke(cli, ["capacity", "instant-messenger", "--json"])
    assert as_json.exit_code == 0, as_json.output
    figures = {f["key"]: f for f in json.loads(as_json.output)["figures"]}
    assert figures["storage_over_horizon"]["agrees"] is False
    assert figures["storage_over_horizon"]["seed_value"] == 5.475e15
    assert figures["writes_per_second"]["agrees"] is True


def test_the_mix_is_a_hundred_reads_per_message_sent() -> None:
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("read-feed", "read", 50),
        ("read-history", "read", 40),
        ("read-message", "read", 10),
        ("send-message", "write", 1),
    }
    assert LOAD_MIX.share("write") == pytest.approx(1 / 101)
    assert population(LoadSetup(items=1, rate=10), LOAD_MIX.share("write")) == GROUP_SIZE
    seed = population(
        LoadSetup(items=1, rate=CAPACITY.requests_per_second), LOAD_MIX.share("write")
    )
    assert seed == 2315  # 34,722 sends/s at 15/s each


async def test_the_mix_sends_and_reads_through_the_seed_endpoints(
    client: httpx.AsyncClient,
) -> None:
    # In process every request comes from one address, whose log-ins the platform limits; one
    # group's worth of users stays inside that (over a socket each user has its own address).
    state = await prepare_users(client, LoadSetup(items=GROUP_SIZE - 3, rate=1))
    assert len(state.users) == GROUP_SIZE and len(state.groups) == 1
    assert [len(kept) for kept in state.messages] == [1]
    state.rng.seed(7)
    sent = [await send_message(client, state) for _ in range(6)]
    assert {s.status_code for s in sent} == {201}
    assert all(len(s.json()["content"]) == TEXT_CHARS for s in sent)
    assert {s.json()["group_id"] is None for s in sent} == {True, False}  # direct and group
    for read in (read_feed, read_history, read_message):
        answer = await read(client, state)
        assert answer.status_code == 200, answer.text
    feed = await read_feed(client, state)
    assert feed.json()["messages"], "every load user is in a group with a message"


async def test_the_load_generator_drives_the_mix_over_a_real_socket(app: FastAPI) -> None:
    async with serve_in_loop(app) as base:
        report = await run_load(
            LOAD_MIX,
            LoadPlan(base_url=base, rate=101, duration=1, connections=4, processes=1, drain_s=5),
        )
    assert report.errors == {}
    assert report.ok == report.scheduled > 90
    assert set(report.by_action) >= {"read-feed", "read-history", "read-message"}
