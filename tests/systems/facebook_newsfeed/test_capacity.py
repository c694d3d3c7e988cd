"""Facebook Newsfeed's capacity model: seed-000 §1's estimate recomputed (700 M feed reads a
day, ~8,100/s), its slip named (requests counted as reads only), and the 10:1 load mix driven
against the real API and page by a population of users within the anti-spam limits."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.engines.feed.moderation import ModerationConfig
from casebook.platform.capacity import LoadSetup
from casebook.platform.context import Platform
from casebook.platform.ratelimit import RateLimit
from casebook.systems.facebook_newsfeed import SYSTEM
from casebook.systems.facebook_newsfeed.capacity import (
    CAPACITY,
    LOAD_MIX,
    comment,
    home_page,
    newsfeed_json,
    population,
    prepare_users,
    publish,
    react,
)
from tests.engines.feed.conftest import drain_jobs

SLUG = "facebook-newsfeed"


def test_the_seed_rates_follow_100_million_users_reading_7_times_a_day() -> None:
    assert SYSTEM.capacity is CAPACITY
    assert CAPACITY.reads_per_day == 700e6
    assert CAPACITY.reads_per_second == pytest.approx(8101.85, abs=0.01)
    assert CAPACITY.writes_per_second == pytest.approx(810.19, abs=0.01)
    assert CAPACITY.requests_per_second == pytest.approx(8912.04, abs=0.01)
    assert CAPACITY.storage_per_day == 140e9
    assert CAPACITY.storage_over_horizon == pytest.approx(153.3e12)
    figures = {f.key: f for f in CAPACITY.figures()}
    assert figures["reads_per_second"].agrees  # ~8100 is 700 M / 86,400 rounded
    assert not figures["requests_per_second"].agrees
    assert "reads only" in figures["requests_per_second"].note
    assert CAPACITY.rate("seed") == CAPACITY.requests_per_second


def test_capacity_command_prints_the_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", SLUG, "--json"])
    assert result.exit_code == 0, result.output
    figures = {f["key"]: f for f in json.loads(result.output)["figures"]}
    assert figures["reads_per_day"]["agrees"] is True
    assert figures["requests_per_second"]["agrees"] is False


def test_the_mix_is_ten_reads_per_write() -> None:
    assert CAPACITY.load is LOAD_MIX
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("newsfeed-json", "read", 20),
        ("home-page", "read", 10),
        ("post", "write", 1),
        ("react", "write", 1),
        ("comment", "write", 1),
    }
    assert LOAD_MIX.weight("read") / LOAD_MIX.weight("write") == CAPACITY.reads_per_write


def test_the_population_keeps_each_user_at_half_the_post_and_comment_limits() -> None:
    seed = LoadSetup(items=200, rate=CAPACITY.rate("seed"))
    # 8,912/s x 1/33 = 270 posts/s; a user may post 20 a minute, and carries half of that.
    assert population(seed) == 1621
    faster = ModerationConfig(create_rate=RateLimit.per_minute(200, burst=10))
    assert population(seed, faster) == 163
    # The setup's posts within half of each user's burst of 10.
    assert population(LoadSetup(items=200, rate=0.1)) == 40
    assert population(LoadSetup(items=1, rate=0.01)) == 2


async def test_the_mix_runs_against_the_api_and_the_page(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # The ASGI test client has one address whatever X-Forwarded-For says, so stay under the
    # per-address login limit (10 a minute): a setup of two users.
    setup = LoadSetup(items=3, rate=1)
    load = await prepare_users(client, setup)
    assert len(load.users) == population(setup) == 2
    assert len(load.posts) == 3
    await drain_jobs(platform)

    writes = [publish, react, comment] * 3
    answers = await asyncio.gather(*(action(client, load) for action in writes))
    statuses = [(action.__name__, r.status_code) for action, r in zip(writes, answers, strict=True)]
    # Two users follow each other, so every post is visible to both: no 404 here.
    assert all(
        code == {"publish": 201, "react": 200, "comment": 201}[name] for name, code in statuses
    ), statuses
    assert len(load.posts) == 6
    await drain_jobs(platform)
    feed = await newsfeed_json(client, load)
    assert feed.status_code == 200
    assert any(item["type"] == "post" for item in feed.json()["items"])
    page = await home_page(client, load)
    assert page.status_code == 200 and "Load-test status" in page.text
