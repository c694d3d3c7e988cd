"""Substack's capacity model: seed-003 §7 ("Scaling Requirements — Capacity Estimation").

The article's inputs: 10 million users, 2 million daily active, 2 newsletters read per user a
day (4 million reads a day), reads:writes 100:1 (so 40,000 new newsletters a day), 1 MB per
newsletter, a 3-year horizon. Its storage arithmetic holds (40,000 x 1 MB = 40 GB/day; x 365 x 3
= 43.8 TB). Its request rate is the reads alone, rounded down:

- "4 million newsletters / (3600 seconds * 24 hours) = 46 newsletters/second" is 46.3 reads/s;
  the 0.46 writes/s it leaves out bring the total to 46.8 requests/s.

What the seed does not count: a newsletter is read mostly by e-mail. At 100 reads per post, each
new post is mailed to about 100 subscribers, so the 4 million reads a day are also up to 4
million SMTP deliveries a day (46/s), sent in batches by the `substack.send-post` job, off the
request path. And its 1 MB is mostly images, which live in the blob store; the Markdown and
sanitized HTML a post keeps in the database are kilobytes.

The load mix is the seed's 100:1: a hundred post reads (`GET /substack/<slug>/p/<id>`, the web
page of a published post, anonymous, as a reader arriving from a link) for every new post (`POST
/api/substack/publications/{id}/posts` with `publish: "now"`, as the writer's bearer token). The
load-test publication has no subscribers, so publishing queues a send job that finds nobody to
mail and no SMTP relay is needed. Substack has no rate limit of its own, so one writer is the
whole population.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
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

API = "/api/substack"
POST_PARAGRAPHS = 12
"""A load-test post's Markdown: a dozen paragraphs, about 3 KB, like a short newsletter."""


@dataclass
class SubstackLoad:
    """What the actions share: the writer's headers, the publication, and the published posts
    to read. Reads pick a post uniformly at random (O(1)); new posts join the pool."""

    headers: dict[str, str]
    publication_id: str
    slug: str
    post_ids: list[str]
    rng: random.Random = field(default_factory=random.Random)

    def random_post(self) -> str:
        return self.post_ids[self.rng.randrange(len(self.post_ids))]


def post_body(number: int) -> dict[str, Any]:
    """A published post of `POST_PARAGRAPHS` paragraphs with a link and some emphasis."""
    paragraph = (
        "Made by `casebook load substack`: a paragraph of a newsletter, with *emphasis*, "
        "**strong words** and [a link](https://example.com/reading) to count clicks on."
    )
    return {
        "title": f"Load-test issue #{number}",
        "subtitle": "Written by the capacity load test",
        "body": "\n\n".join([paragraph] * POST_PARAGRAPHS),
        "publish": "now",
    }


async def prepare_writer(client: httpx.AsyncClient, setup: LoadSetup) -> SubstackLoad:
    """Register a writer, start a publication and publish `setup.items` posts to read (at
    least one). Raises SetupFailed naming the step the server refused."""
    writer = await register_and_log_in(
        client,
        email=f"load-{secrets.token_hex(6)}@example.com",
        display_name="Load-test writer",
        who="the load-test writer",
    )
    headers = writer.headers
    publication = setup_step(
        await client.post(
            f"{API}/publications",
            json={"slug": f"load-{secrets.token_hex(6)}", "name": "Load-test weekly"},
            headers=headers,
        ),
        201,
        "start the load-test publication",
    )
    state = SubstackLoad(headers, str(publication["id"]), str(publication["slug"]), [])
    for number in range(max(1, setup.items)):
        post = setup_step(
            await client.post(
                f"{API}/publications/{state.publication_id}/posts",
                json=post_body(number),
                headers=headers,
            ),
            201,
            "publish a post to read",
        )
        state.post_ids.append(str(post["id"]))
    return state


async def read_post(client: httpx.AsyncClient, state: SubstackLoad) -> httpx.Response:
    """Read: one published post's web page, as an anonymous reader sees it."""
    return await client.get(f"/substack/{state.slug}/p/{state.random_post()}")


async def publish_post(client: httpx.AsyncClient, state: SubstackLoad) -> httpx.Response:
    """Write: a new post of the load-test publication, published at once."""
    response = await client.post(
        f"{API}/publications/{state.publication_id}/posts",
        json=post_body(state.rng.randrange(10**9)),
        headers=state.headers,
    )
    if response.status_code == 201:
        state.post_ids.append(str(response.json()["id"]))
    return response


LOAD_MIX = LoadMix(
    setup=prepare_writer,
    actions=(
        LoadAction("read-post", "read", 100, read_post, frozenset({200})),
        LoadAction("publish-post", "write", 1, publish_post, frozenset({201})),
    ),
    setup_size=200,
)

CAPACITY = CapacityModel(
    slug="substack",
    source="seed-003 §7, article lines 5609-5628",
    daily_active_users=2e6,
    writes_per_day=40_000,
    reads_per_write=100,
    object_bytes=1e6,
    retention_years=3,
    peak_factor=3,
    write_noun="new newsletters",
    read_noun="newsletter reads",
    object_noun="newsletter",
    seed={
        "daily_active_users": SeedClaim(2e6, "2 million DAU"),
        "writes_per_day": SeedClaim(40_000, "1/100 * 4 million = 40,000 newsletters/day"),
        "reads_per_write": SeedClaim(100, "100:1"),
        "object_bytes": SeedClaim(1e6, "1 MB"),
        "retention_years": SeedClaim(3, "3 years"),
        "reads_per_day": SeedClaim(4e6, "4 million newsletters/day"),
        "reads_per_second": SeedClaim(
            46,
            "4 million newsletters / (3600 seconds * 24 hours) = 46 newsletters/second",
            why=(
                "4 million / 86,400 s = 46.3 reads/s, rounded down; the seed calls it the "
                "request rate, leaving out the 0.46 writes/s (46.8 requests/s in all)"
            ),
        ),
        "storage_per_day": SeedClaim(40e9, "40,000 newsletters * 1 MB = 40 GB/day"),
        "storage_over_horizon": SeedClaim(43.8e12, "40 GB * 365 days * 3 years = 43.8 TB"),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; newsletters go out and are read in morning bursts "
            "(a post reaches every subscriber at once), so 3x the daily average"
        ),
    },
    # The seed's only latency target: "latency for feed generation should be around 350 ms".
    p99_target_ms=350.0,
    load=LOAD_MIX,
)
