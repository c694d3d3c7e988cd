"""Hacker News's capacity model: seed-003 §9's estimate recomputed, its slips named, and the 50:1
load mix driven against the real API and pages by a population of writers within the limits."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import LoadSetup
from casebook.systems.hacker_news.capacity import (
    CAPACITY,
    LOAD_MIX,
    comment,
    front_page,
    item_json,
    item_page,
    population,
    prepare_writers,
    submit_story,
    top_stories,
    upvote,
)
from casebook.systems.hacker_news.config import HackerNewsSettings
from casebook.systems.hacker_news.runtime import HackerNews
from tests.systems.hacker_news.conftest import API


def test_rates_and_storage_follow_ten_million_views_a_day_at_50_to_1() -> None:
    assert CAPACITY.reads_per_day == 10e6
    assert CAPACITY.reads_per_second == pytest.approx(115.74, abs=0.01)
    assert CAPACITY.writes_per_second == pytest.approx(2.315, abs=0.001)
    assert CAPACITY.storage_per_day == 2e9
    assert CAPACITY.storage_over_horizon == pytest.approx(2.19e12)
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert "86,400" in notes["reads_per_second"] and "1024" in notes["storage_per_day"]


def test_capacity_command_prints_the_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", "hacker-news", "--json"])
    assert result.exit_code == 0, result.output
    figures = {f["key"]: f for f in json.loads(result.output)["figures"]}
    assert figures["storage_per_day"]["agrees"] is False


def test_the_mix_is_fifty_reads_per_write_over_pages_api_and_three_kinds_of_write() -> None:
    assert CAPACITY.load is LOAD_MIX
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("front-page", "read", 40),
        ("top-stories", "read", 30),
        ("item-json", "read", 40),
        ("item-page", "read", 40),
        ("submit", "write", 1),
        ("comment", "write", 1),
        ("upvote", "write", 1),
    }
    assert LOAD_MIX.weight("read") / LOAD_MIX.weight("write") == 50


def test_the_writer_population_respects_new_account_limits_at_the_seed_rate() -> None:
    seed = LoadSetup(items=100, rate=CAPACITY.rate("seed"))
    # 0.77 submissions/s = 2,778 an hour; new accounts may post 2 an hour each, at half that.
    assert population(seed, HackerNewsSettings()) == 2778 + 100
    # Regular accounts: 10 stories an hour each.
    assert population(seed, HackerNewsSettings(new_account_days=0)) == 556 + 20
    # Comments bind once stories are allowed freely: 120 an hour each, at half that.
    roomy = HackerNewsSettings(new_account_days=0, stories_per_hour=100_000)
    assert population(seed, roomy) == 47
    assert population(LoadSetup(items=1, rate=0.01), roomy) == 2


async def test_the_mix_runs_against_the_api_and_the_pages_without_429(
    client: httpx.AsyncClient, state: HackerNews
) -> None:
    # The ASGI test client has one address whatever X-Forwarded-For says (uvicorn applies that
    # header, not the app), so stay under the per-address login limit of 10 a minute.
    setup = LoadSetup(items=4, rate=1)
    load = await prepare_writers(client, setup, state.config)
    assert len(load.writers) == population(setup, state.config) >= 2
    assert len(load.writers) == len({w.headers["X-Forwarded-For"] for w in load.writers})
    assert len(load.stories) == 4
    assert {author for _, author in load.stories} <= {w.user_id for w in load.writers}

    writes = [submit_story, comment, upvote] * 4
    answers = await asyncio.gather(*(action(client, load) for action in writes))
    statuses = [(action.__name__, r.status_code) for action, r in zip(writes, answers, strict=True)]
    assert all(
        code == {"submit_story": 201, "comment": 201, "upvote": 200}[name]
        for name, code in statuses
    ), statuses
    assert len(load.stories) == 8 and len(load.comments) == 4
    for read in (front_page, top_stories, item_json, item_page):
        assert (await read(client, load)).status_code == 200
    items = [(await client.get(f"{API}/v0/item/{story}.json")).json() for story, _ in load.stories]
    assert sum(item["descendants"] for item in items) == 4
