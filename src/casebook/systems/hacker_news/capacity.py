"""Hacker News's capacity model: seed-003 §9 ("Scaling Requirements — Capacity Estimation", a
"small scale simulation").

The article's inputs: 10 million users, 2 million daily active, 5 posts viewed per user a day
(10 million views a day), reads:writes 50:1 (so 200,000 posts submitted a day), 10 KB per post, a
3-year horizon. Its arithmetic slips twice, kept here next to the corrected figures:

- Storage: 200,000 x 10 KB = 2,000,000 KB = 2 GB a day; the article writes 1.86 GB, dividing
  by 1024^3 (GiB) after counting kilobytes in thousands, and carries that into "2.04 TB" for
  3 years (2 GB x 1,095 days = 2.19 TB).
- Requests: "10 Million / 3600 seconds * 24 hours ≈ 120 requests/second" — the division it means
  is 10 million / 86,400 s = 115.7 reads/s (plus 2.3 writes/s).

No peak is stated; 2x the daily average is assumed.

The load mix keeps the seed's 50:1: for every 3 writes — a submission, a comment, an upvote, one
each — 150 reads: the front page (HTML, 40), `/v0/topstories.json` (30), `/v0/item/<id>.json` of
a random story (40) and a story's page with its comments (HTML, 40). The seed counts only
submissions as writes; comments and votes are what a news site's writers mostly do, so the mix
spreads the write share over all three rather than send only submissions.

Writers are a population of accounts, sized so Hacker News's own limits admit the rate instead of
answering 429: each writer carries 1/HEADROOM of its sustained story, comment and vote limits
(`CASEBOOK_HACKER_NEWS_*`, read from this process's environment, which must match the server's),
plus the setup's stories within half of its burst. Fresh accounts are "new" for
`new_account_days`, so by default each may post 2 stories an hour and the seed rate (0.77
submissions/s) needs 2,878 writers, each one registration and one login (two argon2 hashes).
For a quicker run, start the server and the load command with
`CASEBOOK_HACKER_NEWS_NEW_ACCOUNT_DAYS=0` (writers get the regular 10 stories an hour: 576
writers) and, to go further, a larger `CASEBOOK_HACKER_NEWS_STORIES_PER_HOUR`. Every writer
logs in from its own address in 198.18.0.0/15 (RFC 2544's benchmark range) through
`X-Forwarded-For`, which the server trusts from loopback, so the per-address login limit is not
the bottleneck.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

import httpx

from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    SetupFailed,
    benchmark_address,
    clients_needed,
    run_concurrently,
    setup_step,
)
from casebook.systems.hacker_news.config import HackerNewsSettings

API = "/api/hacker-news"
PAGES = "/hacker-news"
SETUP_CONCURRENCY = 8
READ_WEIGHTS = {"front-page": 40, "top-stories": 30, "item-json": 40, "item-page": 40}
WRITE_WEIGHTS = {"submit": 1, "comment": 1, "upvote": 1}


@dataclass(frozen=True)
class Writer:
    """One simulated user: their id and request headers (token and address)."""

    user_id: int
    headers: dict[str, str]


@dataclass
class HackerNewsLoad:
    """What the actions share: the writers, and the stories and comments that exist.

    Writes take writers in turn (each carries an equal share of every kind of write); reads and
    vote targets are picked uniformly at random. Every pick is O(1).
    """

    writers: list[Writer]
    stories: list[tuple[int, int]] = field(default_factory=list)
    """(story id, author's user id)."""
    comments: list[int] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    turn: int = 0

    def next_writer(self) -> Writer:
        self.turn += 1
        return self.writers[self.turn % len(self.writers)]

    def random_story(self) -> int:
        return self.stories[self.rng.randrange(len(self.stories))][0]

    def story_not_by(self, writer: Writer) -> int:
        """A random story someone else wrote (nobody votes on their own). O(1) expected."""
        while True:
            story_id, author = self.stories[self.rng.randrange(len(self.stories))]
            if author != writer.user_id:
                return story_id


def _hourly(limit: int, new_limit: int, limits: HackerNewsSettings) -> int:
    """The per-hour limit a freshly registered writer is held to."""
    return min(limit, new_limit) if limits.new_account_days > 0 else limit


def population(setup: LoadSetup, limits: HackerNewsSettings) -> int:
    """Writers needed for `setup` within `limits`: every kind of write at 1/HEADROOM of each
    writer's sustained limit, and the setup's `items` stories within half of each one's burst
    (the burst of a story limit is an hour's worth). At least two, so votes have other people's
    stories to go to."""
    total = sum(READ_WEIGHTS.values()) + sum(WRITE_WEIGHTS.values())
    per_hour = {
        "submit": _hourly(limits.stories_per_hour, limits.new_stories_per_hour, limits),
        "comment": _hourly(limits.comments_per_hour, limits.new_comments_per_hour, limits),
        "upvote": limits.votes_per_minute * 60,
    }
    needed = {
        name: clients_needed(setup.rate * weight / total * 3600, per_hour[name])
        for name, weight in WRITE_WEIGHTS.items()
    }
    needed["submit"] += clients_needed(setup.items, per_hour["submit"])
    return max(2, *needed.values())


async def prepare_writers(
    client: httpx.AsyncClient, setup: LoadSetup, limits: HackerNewsSettings | None = None
) -> HackerNewsLoad:
    """Register and log in `population(setup, limits)` writers, each from its own address, and
    submit `setup.items` stories to read. `limits` defaults to this process's
    `CASEBOOK_HACKER_NEWS_*` settings. Raises SetupFailed naming the step the server refused."""
    limits = limits or HackerNewsSettings()
    count = population(setup, limits)
    run = secrets.token_hex(3)

    async def writer(number: int, address: str) -> Writer:
        # Hacker News keeps its own accounts (username, karma), registered through its own API.
        origin = {"X-Forwarded-For": address}
        username, password = f"ld{run}{number}", secrets.token_urlsafe(18)
        account = setup_step(
            await client.post(
                f"{API}/register",
                json={
                    "username": username,
                    "email": f"{username}@load.example.com",
                    "password": password,
                },
                headers=origin,
            ),
            201,
            "register a writer",
        )
        tokens = setup_step(
            await client.post(
                f"{API}/login", json={"username": username, "password": password}, headers=origin
            ),
            200,
            "log a writer in",
        )
        headers = {**origin, "Authorization": f"Bearer {tokens['access_token']}"}
        return Writer(int(account["user_id"]), headers)

    addresses = [benchmark_address(n) for n in range(count)]
    writers = await run_concurrently(
        (writer(n, address) for n, address in enumerate(addresses)), SETUP_CONCURRENCY
    )
    state = HackerNewsLoad(writers)

    async def story() -> None:
        setup_step(await submit_story(client, state), 201, "submit a story to read")

    await run_concurrently((story() for _ in range(setup.items)), SETUP_CONCURRENCY)
    if not state.stories:
        raise SetupFailed("the load test needs at least one story to read")
    return state


async def submit_story(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Write: the next writer submits a link (a fresh URL, so never a duplicate)."""
    writer = state.next_writer()
    token = secrets.token_hex(8)
    response = await client.post(
        f"{API}/stories",
        json={"title": f"Load test story {token}", "url": f"https://load.example.com/{token}"},
        headers=writer.headers,
    )
    if response.status_code == 201:
        state.stories.append((response.json()["id"], writer.user_id))
    return response


async def comment(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Write: the next writer replies to a random story, or (half the time) to a comment."""
    writer = state.next_writer()
    use_comment = bool(state.comments) and state.rng.random() < 0.5
    parent = state.comments[state.rng.randrange(len(state.comments))] if use_comment else None
    target = parent if parent is not None else state.random_story()
    response = await client.post(
        f"{API}/items/{target}/comments",
        json={"text": f"A load-test comment {secrets.token_hex(4)}"},
        headers=writer.headers,
    )
    if response.status_code == 201:
        state.comments.append(response.json()["id"])
    return response


async def upvote(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Write: the next writer upvotes a random story of someone else's (a repeat is a no-op)."""
    writer = state.next_writer()
    return await client.post(
        f"{API}/items/{state.story_not_by(writer)}/vote",
        json={"how": "up"},
        headers=writer.headers,
    )


async def front_page(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Read: the front page, as a browser gets it."""
    return await client.get(f"{PAGES}/")


async def top_stories(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Read: the API's front page ids."""
    return await client.get(f"{API}/v0/topstories.json")


async def item_json(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Read: a random story through the HN API."""
    return await client.get(f"{API}/v0/item/{state.random_story()}.json")


async def item_page(client: httpx.AsyncClient, state: HackerNewsLoad) -> httpx.Response:
    """Read: a random story's page with its comment tree."""
    return await client.get(f"{PAGES}/item", params={"id": state.random_story()})


_OK = frozenset({200})
LOAD_MIX = LoadMix(
    setup=prepare_writers,
    actions=(
        LoadAction("front-page", "read", READ_WEIGHTS["front-page"], front_page, _OK),
        LoadAction("top-stories", "read", READ_WEIGHTS["top-stories"], top_stories, _OK),
        LoadAction("item-json", "read", READ_WEIGHTS["item-json"], item_json, _OK),
        LoadAction("item-page", "read", READ_WEIGHTS["item-page"], item_page, _OK),
        LoadAction("submit", "write", WRITE_WEIGHTS["submit"], submit_story, frozenset({201})),
        LoadAction("comment", "write", WRITE_WEIGHTS["comment"], comment, frozenset({201})),
        LoadAction("upvote", "write", WRITE_WEIGHTS["upvote"], upvote, _OK),
    ),
    setup_size=100,
)

CAPACITY = CapacityModel(
    slug="hacker-news",
    source="seed-003 §9, article lines 6981-6997",
    writes_per_day=200_000,
    reads_per_write=50,
    object_bytes=10_000,
    retention_years=3,
    peak_factor=2,
    write_noun="posts submitted",
    read_noun="post views",
    object_noun="post",
    daily_active_users=2e6,
    seed={
        "daily_active_users": SeedClaim(2e6, "2 Million"),
        "writes_per_day": SeedClaim(200_000, "200,000 posts/day"),
        "reads_per_write": SeedClaim(50, "50:1"),
        "object_bytes": SeedClaim(10_000, "10 KB"),
        "retention_years": SeedClaim(3, "3 years"),
        "reads_per_day": SeedClaim(10e6, "10 Million posts/day"),
        "reads_per_second": SeedClaim(
            120,
            "≈ 120 requests/second",
            why="10 million / 86,400 s = 115.7; the seed writes it as /3600*24 and rounds",
        ),
        "storage_per_day": SeedClaim(
            1.86e9,
            "1.86 GB/day",
            why="2,000,000 KB is 2 GB; the seed divides by 1024^3 after counting KB in thousands",
        ),
        "storage_over_horizon": SeedClaim(
            2.04e12,
            "≈ 2.04 TB",
            why="the seed carries its 1.86 GB/day; 2 GB x 365 x 3 = 2.19 TB",
        ),
    },
    assumed={
        "peak_factor": "the seed states no peak; 2x the daily average is the usual allowance",
    },
    load=LOAD_MIX,
)
