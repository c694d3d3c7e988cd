"""Facebook Newsfeed's capacity model: seed-000 §1 ("Scaling Requirements", article lines 69-82).

The article's inputs: 100 million daily active users, each aggregating their feed 7 times a day,
so 700 million feed requests a day, "700 Million/24/3600 = ~8100 requests/second"; per user 400
friends, 100 pages, 50 groups, 300 posts in the feed at 2 KB each, "600 KB" a user and
"600 KB * 100 Million active users = 60 TB".

Its arithmetic holds (700 M / 86,400 s = 8,101.9/s; 300 x 2 KB = 600 KB; 600 KB x 100 M = 60 TB,
decimal). Where it slips is in what it counts:

- "requests/second" is feed reads only. Writes (posts, comments, reactions) are never estimated,
  "read heavy" is all it says. We assume 0.7 writes per active user a day (70 M/day: a post,
  comment or reaction from most people on most days), so 10 reads per write and 8,912
  requests/s in all, 810 of them writes.
- The 60 TB is a fully materialised feed per active user: a 2 KB *copy* of each of 300 posts for
  each reader. A post someone's 400 friends see is counted 400 times, the posts themselves are
  never counted, and the 400 friends / 100 pages / 50 groups it lists play no part in any figure.
  The engine stores a timeline as post ids with a score (about 16 bytes each: 300 x 16 B = 4.8 KB
  a reader, 480 GB for 100 M readers, a cache that can be rebuilt) and each post once: 70 M
  writes a day x 2 KB = 140 GB a day, 153 TB over a 3-year horizon (the seed gives none).
- No peak is stated; the average is not what a node must hold at the evening peak.

The load mix keeps 10:1 — for every 3 writes (a post to one's followers, a reaction, a comment),
30 reads: 20 of the Newsfeed JSON (`GET /api/facebook-newsfeed/newsfeed`: ranking, ad slots,
analytics) and 10 of the home page (`GET /facebook-newsfeed/`, the same read rendered as HTML).

Users are a population sized so the feed's anti-spam limits admit the rate instead of answering
429: each user carries 1/HEADROOM of the per-author post and comment limits
(`ModerationConfig.create_rate`, 20 a minute each), and the setup's posts within half of the burst.
Each follows `FOLLOWS` others, so the reads have feeds to show. Every user logs in from its own
address in 198.18.0.0/15 (RFC 2544's benchmark range) through `X-Forwarded-For`, which a server
run behind `--proxy-headers` trusts from loopback, so the per-address login limit is not the
bottleneck. At the seed rate (8,912/s, 270 posts/s) that is 1,621 users.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

import httpx

from casebook.engines.feed.moderation import ModerationConfig
from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    SimulatedUser,
    benchmark_address,
    clients_needed,
    follow_pairs,
    register_and_log_in,
    run_concurrently,
    setup_step,
)

API = "/api/facebook-newsfeed"
PAGE = "/facebook-newsfeed/"
FOLLOWS = 3
"""Others each load-test user follows (a ring plus random picks)."""
SETUP_CONCURRENCY = 8
READ_WEIGHTS = {"newsfeed-json": 20, "home-page": 10}
WRITE_WEIGHTS = {"post": 1, "react": 1, "comment": 1}


@dataclass
class NewsfeedLoad:
    """What the actions share: the users and the posts that exist. Writes take users in turn
    (each carries an equal share of every kind of write); reads and engagement targets are
    picked uniformly at random. Every pick is O(1)."""

    users: list[SimulatedUser]
    posts: list[str] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    turn: int = 0

    def next_user(self) -> SimulatedUser:
        self.turn += 1
        return self.users[self.turn % len(self.users)]

    def random_user(self) -> SimulatedUser:
        return self.users[self.rng.randrange(len(self.users))]

    def random_post(self) -> str:
        return self.posts[self.rng.randrange(len(self.posts))]


def population(setup: LoadSetup, limits: ModerationConfig | None = None) -> int:
    """Users needed for `setup` within the per-author limits: posts and comments each at
    1/HEADROOM of one user's sustained rate, and the setup's `items` posts within half of
    each one's burst. At least two, so there is someone to follow."""
    limit = (limits or ModerationConfig()).create_rate
    total = sum(READ_WEIGHTS.values()) + sum(WRITE_WEIGHTS.values())
    needed = max(
        clients_needed(setup.rate * WRITE_WEIGHTS[name] / total, limit.rate)
        for name in ("post", "comment")
    )
    for_setup = clients_needed(setup.items, max(1, limit.burst))
    return max(2, needed, for_setup)


async def prepare_users(client: httpx.AsyncClient, setup: LoadSetup) -> NewsfeedLoad:
    """Register and log in `population(setup)` users, each from its own address; have each
    follow `FOLLOWS` others; publish `setup.items` posts (at least one). Raises SetupFailed
    naming the step the server refused."""
    count = population(setup)
    run = secrets.token_hex(3)
    addresses = [benchmark_address(n) for n in range(count)]
    users = await run_concurrently(
        (
            register_and_log_in(
                client,
                email=f"nf{run}{n}@load.example.com",
                display_name=f"Load {n}",
                who="a user",
                address=address,
            )
            for n, address in enumerate(addresses)
        ),
        SETUP_CONCURRENCY,
    )
    state = NewsfeedLoad(users)

    async def open_profile(member: SimulatedUser) -> None:
        setup_step(await client.get(f"{API}/me", headers=member.headers), 200, "open a profile")

    # Every profile exists before the follows: two brand-new users following each other at
    # once would each create both profiles, in opposite orders (PostgreSQL sees a deadlock).
    await run_concurrently((open_profile(member) for member in users), SETUP_CONCURRENCY)

    async def follow(follower: SimulatedUser, followee: SimulatedUser) -> None:
        setup_step(
            await client.post(f"{API}/users/{followee.user_id}/follow", headers=follower.headers),
            200,
            "follow another user",
        )

    await run_concurrently(
        (follow(users[i], users[j]) for i, j in follow_pairs(count, FOLLOWS, state.rng)),
        SETUP_CONCURRENCY,
    )

    async def post() -> None:
        setup_step(await publish(client, state), 201, "publish a post to read")

    await run_concurrently((post() for _ in range(max(1, setup.items))), SETUP_CONCURRENCY)
    return state


async def publish(client: httpx.AsyncClient, state: NewsfeedLoad) -> httpx.Response:
    """Write: the next user posts to their followers (a fresh body, never a duplicate)."""
    user = state.next_user()
    response = await client.post(
        f"{API}/posts",
        json={"body": f"Load-test status {secrets.token_hex(8)}", "audience": "followers"},
        headers=user.headers,
    )
    if response.status_code == 201:
        state.posts.append(str(response.json()["id"]))
    return response


async def react(client: httpx.AsyncClient, state: NewsfeedLoad) -> httpx.Response:
    """Write: the next user reacts to a random post (a repeat keeps or changes the reaction).
    Posts are for followers, so a 404 (not a follower) is an expected answer too."""
    user = state.next_user()
    kind = ("like", "love", "haha", "wow")[state.rng.randrange(4)]
    return await client.put(
        f"{API}/posts/{state.random_post()}/reactions", json={"kind": kind}, headers=user.headers
    )


async def comment(client: httpx.AsyncClient, state: NewsfeedLoad) -> httpx.Response:
    """Write: the next user comments on a random post (404 when they may not see it)."""
    user = state.next_user()
    return await client.post(
        f"{API}/posts/{state.random_post()}/comments",
        json={"body": f"Load-test comment {secrets.token_hex(6)}"},
        headers=user.headers,
    )


async def newsfeed_json(client: httpx.AsyncClient, state: NewsfeedLoad) -> httpx.Response:
    """Read: a random user's Newsfeed, first page, through the API."""
    return await client.get(f"{API}/newsfeed", headers=state.random_user().headers)


async def home_page(client: httpx.AsyncClient, state: NewsfeedLoad) -> httpx.Response:
    """Read: a random user's home page (HTML)."""
    return await client.get(PAGE, headers=state.random_user().headers)


_OK = frozenset({200})
_SEEN = frozenset({200, 404})
"""Reacting to or commenting on a followers-only post of someone one does not follow is 404."""
LOAD_MIX = LoadMix(
    setup=prepare_users,
    actions=(
        LoadAction("newsfeed-json", "read", READ_WEIGHTS["newsfeed-json"], newsfeed_json, _OK),
        LoadAction("home-page", "read", READ_WEIGHTS["home-page"], home_page, _OK),
        LoadAction("post", "write", WRITE_WEIGHTS["post"], publish, frozenset({201})),
        LoadAction("react", "write", WRITE_WEIGHTS["react"], react, _SEEN),
        LoadAction("comment", "write", WRITE_WEIGHTS["comment"], comment, frozenset({201, 404})),
    ),
    setup_size=200,
)

CAPACITY = CapacityModel(
    slug="facebook-newsfeed",
    source="seed-000 §1, article lines 69-82",
    daily_active_users=100e6,
    writes_per_day=70e6,
    reads_per_write=10,
    object_bytes=2_000,
    retention_years=3,
    peak_factor=2,
    write_noun="writes (posts, comments, reactions)",
    read_noun="feed reads",
    object_noun="post",
    seed={
        "daily_active_users": SeedClaim(100e6, "100 Million"),
        "object_bytes": SeedClaim(2_000, "Size of each post : 2 KB"),
        "reads_per_day": SeedClaim(700e6, "Total newsfeed requests per day : 700 Million"),
        "reads_per_second": SeedClaim(8_100, "700 Million/24/3600 = ~8100 requests/second"),
        "requests_per_second": SeedClaim(
            8_100,
            "~8100 requests/second",
            why=(
                "the seed's requests are feed reads only; the 810 writes/s it never estimates "
                "(posts, comments, reactions) bring the total to 8,912/s"
            ),
        ),
    },
    assumed={
        "writes_per_day": (
            "the seed says only 'read heavy': 0.7 writes per active user a day (a post, "
            "comment or reaction from most people on most days)"
        ),
        "reads_per_write": "700 M feed reads over the assumed 70 M writes",
        "retention_years": "the seed gives no horizon; 3 years, as the other seeds use",
        "peak_factor": "the seed states no peak; 2x the daily average for the evening peak",
    },
    # FEED.md's read target for the home feed: p99 under 50 ms at the seed's rate.
    p99_target_ms=50.0,
    load=LOAD_MIX,
)
