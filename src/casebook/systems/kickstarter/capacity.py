"""Kickstarter's capacity model: seed-004 §7 ("Scaling Requirements — Capacity Estimation").

The article's inputs: 50,000 users, 10,000 daily active, 5 project views per user a day (50,000
views a day), reads:writes 50:1 (so 1,000 new projects a day), 5 MB per project (its images and
video), a 3-year horizon. Its storage arithmetic holds (1,000 x 5 MB = 5 GB/day; x 365 x 3 =
5.475 TB, which it gives as 5.47 TB), but its request rate is wrong:

- it writes "50,000 / 3600 seconds * 24 hours = 1.39 requests/second". A day is 3,600 x 24 =
  86,400 s, so 50,000 views a day are 0.58 views/s (0.59 requests/s with the 11.6 new projects
  an hour). Its 1.39 is 50,000 / 36,000, matching neither its formula (= 333) nor the day.

The seed states no peak; see `assumed`. At these rates one node is idle: the model's use is the
load test, which shows how far above the seed a single node goes.

The load mix is the seed's 50:1: fifty project views (`GET /api/kickstarter/projects/{id}` of a
launched project, public, no credentials) for every new project (`POST
/api/kickstarter/projects`, a draft, as the creator's bearer token). Kickstarter has no rate
limit of its own, so one creator account is the whole population.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx

from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    register_and_log_in,
    setup_step,
)
from casebook.platform.db import utcnow

API = "/api/kickstarter"


@dataclass
class KickstarterLoad:
    """What the actions share: the creator's headers and the launched projects to view.

    Views pick a project uniformly at random (O(1)); new projects are drafts, which only their
    creator may view, so they are not added to the pool.
    """

    headers: dict[str, str]
    project_ids: list[str]
    rng: random.Random = field(default_factory=random.Random)

    def random_project(self) -> str:
        return self.project_ids[self.rng.randrange(len(self.project_ids))]


def project_body(number: int) -> dict[str, Any]:
    """A project like a real campaign's text: a $5,000 goal ending in 30 days."""
    return {
        "title": f"Load-test project #{number}",
        "blurb": "A project created by the capacity load test.",
        "description": "Made by `casebook load kickstarter`. " * 20,
        "category": "technology",
        "goal": 500_000,
        "deadline": (utcnow() + timedelta(days=30)).isoformat(),
    }


async def prepare_creator(client: httpx.AsyncClient, setup: LoadSetup) -> KickstarterLoad:
    """Register a creator, then create and launch `setup.items` projects to view (at least one).

    Raises SetupFailed naming the step the server refused; transport errors propagate.
    """
    creator = await register_and_log_in(
        client,
        email=f"load-{secrets.token_hex(6)}@example.com",
        display_name="Load-test creator",
        who="the load-test creator",
    )
    state = KickstarterLoad(creator.headers, [])
    for number in range(max(1, setup.items)):
        draft = setup_step(
            await client.post(f"{API}/projects", json=project_body(number), headers=state.headers),
            201,
            "create a project to view",
        )
        launched = setup_step(
            await client.post(f"{API}/projects/{draft['id']}/launch", headers=state.headers),
            200,
            "launch a project to view",
        )
        state.project_ids.append(str(launched["id"]))
    return state


async def view_project(client: httpx.AsyncClient, state: KickstarterLoad) -> httpx.Response:
    """Read: one launched project, as an anonymous visitor sees it."""
    return await client.get(f"{API}/projects/{state.random_project()}")


async def create_project(client: httpx.AsyncClient, state: KickstarterLoad) -> httpx.Response:
    """Write: a new draft project of the load-test creator."""
    number = state.rng.randrange(10**9)
    return await client.post(f"{API}/projects", json=project_body(number), headers=state.headers)


LOAD_MIX = LoadMix(
    setup=prepare_creator,
    actions=(
        LoadAction("view-project", "read", 50, view_project, frozenset({200})),
        LoadAction("create-project", "write", 1, create_project, frozenset({201})),
    ),
    setup_size=200,
)

CAPACITY = CapacityModel(
    slug="kickstarter",
    source="seed-004 §7, article lines 4558-4579",
    daily_active_users=10_000,
    writes_per_day=1_000,
    reads_per_write=50,
    object_bytes=5e6,
    retention_years=3,
    peak_factor=3,
    write_noun="new projects",
    read_noun="project views",
    object_noun="project",
    seed={
        "daily_active_users": SeedClaim(10_000, "10,000 DAU"),
        "writes_per_day": SeedClaim(1_000, "50,000 / 50 = 1,000 projects a day"),
        "reads_per_write": SeedClaim(50, "50:1"),
        "object_bytes": SeedClaim(5e6, "5MB"),
        "retention_years": SeedClaim(3, "3 years"),
        "reads_per_day": SeedClaim(50_000, "50,000 project views per day"),
        "reads_per_second": SeedClaim(
            1.39,
            "50,000 / 3600 seconds * 24 hours = 1.39 requests/second",
            why=(
                "50,000 views / 86,400 s = 0.58/s; the seed's formula gives 333 and its 1.39 "
                "is 50,000 / 36,000, neither a day"
            ),
        ),
        "storage_per_day": SeedClaim(5e9, "5GB/day"),
        "storage_over_horizon": SeedClaim(5.47e12, "5GB * 365 days * 3 years = 5.47TB"),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; campaigns draw their traffic in launch-day and final-48-"
            "hour spikes, so 3x the daily average rather than the usual 2x"
        ),
    },
    # A project page is an ordinary web page; 100 ms at p99 on one node keeps it well inside
    # the second a visitor waits for a page.
    p99_target_ms=100.0,
    load=LOAD_MIX,
)
