"""Instagram's capacity model: seed-001 §1 recomputed (900 TB a month, 54 PB in 5 years), its
growth slip pointed out, and the 30:1 load mix driven against the real API and page."""

from __future__ import annotations

import json

import httpx
import pytest
from typer.testing import CliRunner

from casebook.cli import app as cli
from casebook.platform.capacity import LoadSetup
from casebook.platform.context import Platform
from casebook.systems.instagram import SYSTEM
from casebook.systems.instagram.capacity import (
    CAPACITY,
    LOAD_MIX,
    feed_json,
    home_page,
    load_photo,
    post_json,
    prepare_users,
    profile_json,
    publish,
    upload,
    users_after,
)
from tests.systems.instagram.conftest import drain_jobs


def test_the_seed_storage_follows_30_million_users_uploading_3_photos_a_month() -> None:
    assert SYSTEM.capacity is CAPACITY
    # 30 M x 3 x 10 MB = 900 TB a month, x 12 x 5 = 54 PB: the seed's arithmetic holds.
    assert CAPACITY.writes_per_day * 365 / 12 * CAPACITY.object_bytes == pytest.approx(900e12)
    assert CAPACITY.storage_over_horizon == pytest.approx(54e15)
    assert CAPACITY.writes_per_second == pytest.approx(34.25, abs=0.01)
    assert CAPACITY.requests_per_second == pytest.approx(1061.6, abs=0.1)
    figures = {f.key: f for f in CAPACITY.figures()}
    assert figures["storage_over_horizon"].agrees and figures["object_bytes"].agrees
    assert figures["reads_per_write"].note.startswith("assumed")
    assert CAPACITY.p99_target_ms == 350.0  # the seed's feed latency target


def test_the_seeds_growth_example_is_off() -> None:
    # "After 1 year: 19.1 million users" — 10 M growing 10 % a month make 31.4 M.
    assert users_after(10e6, 0.10, 1) == pytest.approx(11e6)
    assert users_after(10e6, 0.10, 3) == pytest.approx(13.31e6)
    assert users_after(10e6, 0.10, 12) == pytest.approx(31.38e6, rel=1e-3)


def test_capacity_command_prints_the_table() -> None:
    result = CliRunner().invoke(cli, ["capacity", "instagram", "--json"])
    assert result.exit_code == 0, result.output
    figures = {f["key"]: f for f in json.loads(result.output)["figures"]}
    assert figures["storage_over_horizon"]["agrees"] is True
    assert figures["storage_over_horizon"]["seed_text"] == "900 * 12 * 5 = 54 PB"


def test_the_mix_is_thirty_reads_per_write() -> None:
    assert CAPACITY.load is LOAD_MIX
    assert {(a.name, a.kind, a.weight) for a in LOAD_MIX.actions} == {
        ("feed-json", "read", 30),
        ("profile-json", "read", 10),
        ("post-json", "read", 10),
        ("home-page", "read", 10),
        ("upload", "write", 1),
        ("publish", "write", 1),
    }
    assert LOAD_MIX.weight("read") / LOAD_MIX.weight("write") == CAPACITY.reads_per_write
    assert load_photo()[:3] == b"\xff\xd8\xff"  # a real JPEG


async def test_the_mix_runs_against_the_api_and_the_page(
    client: httpx.AsyncClient, platform: Platform
) -> None:
    # The ASGI test client has one address whatever X-Forwarded-For says: stay under the
    # per-address login limit with three users.
    load = await prepare_users(client, LoadSetup(items=2, rate=1), users=3)
    assert len(load.users) == 3 and len(load.posts) == 2
    await drain_jobs(platform)
    uploaded = await upload(client, load)
    assert uploaded.status_code == 202
    await drain_jobs(platform)
    published = await publish(client, load)
    assert published.status_code == 201, published.text
    assert len(load.posts) == 3 and not load.uploads
    await drain_jobs(platform)
    for read in (feed_json, profile_json, post_json, home_page):
        response = await read(client, load)
        assert response.status_code == 200, (read.__name__, response.text)
    # Every user follows at least one other in a ring, so some feed has the load posts.
    feeds = [
        (await client.get("/api/instagram/feed", headers=u.headers)).json()["items"]
        for u in load.users
    ]
    assert any(feed for feed in feeds)
    # Publishing an upload still being processed answers 409 and keeps it for later.
    await upload(client, load)
    early = await publish(client, load)
    assert early.status_code in {201, 409}
    if early.status_code == 409:
        assert len(load.uploads) == 1
