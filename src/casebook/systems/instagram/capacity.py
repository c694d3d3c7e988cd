"""Instagram's capacity model: seed-001 §1 ("Scaling Requirements", article lines 83-97).

The article's inputs: 30 million monthly active users uploading 3 photos each a month, 10 MB a
photo, "Total = 30⁷ * 10 * 3 = 900 TB of storage ... every month" and "900 * 12 * 5 = 54 PB" for
5 years. Checked:

- 30 M x 3 x 10 MB = 900 TB a month is right; "30⁷" is a typo for 30 million (30^7 would be
  21.87 billion users). 900 TB x 12 x 5 = 54 PB is right too (decimal units). As a daily rate
  that is 90 M x 12 / 365 = 2.96 M photos a day (34.2 a second), 29.6 TB a day.
- The growth example slips: 10 M users growing 10 % a month are 10 M x 1.1^12 = 31.4 M after a
  year, not "19.1 million" (`users_after` computes it; 19.1 M is what 10 M x 1.1^6.8 would be).
- It gives no DAU, no request rate and no read:write ratio, only "read heavy", and a feed
  latency target of ~350 ms. We assume 30 reads (feed pages, profiles, single posts) per photo
  uploaded: 88.8 M reads a day, about 9 per user a day if a third of the monthly users come
  daily. That gives 1,062 requests/s on average; 2x at the evening peak (assumed).
- The 10 MB is what a phone uploads. This system keeps no original: the processing job writes
  1080/640/320-px JPEG renditions (a few hundred KB together) and deletes the upload, so the
  stored bytes are a small fraction of the seed's 54 PB; the model keeps the seed's 10 MB to
  compare like with like.

The load mix keeps 30:1: for every 2 writes — an upload of a photo (`POST /media`, the seed's
write) and the publication of an earlier upload once processed (`POST /photos`) — 60 reads: the
home feed JSON (30), a random profile with its grid (10), a random post (10) and the home page
(HTML, 10). Users log in from their own addresses in 198.18.0.0/15 (RFC 2544's benchmark range)
through `X-Forwarded-For`, which a server run behind `--proxy-headers` trusts from loopback, so
the per-address login limit does not throttle the setup.
"""

from __future__ import annotations

import asyncio
import io
import random
import secrets
from collections import deque
from dataclasses import dataclass, field
from functools import lru_cache

import httpx
from PIL import Image

from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    SetupFailed,
    SimulatedUser,
    benchmark_address,
    follow_pairs,
    register_and_log_in,
    run_concurrently,
    setup_step,
)

API = "/api/instagram"
PAGE = "/instagram/"
MONTHLY_USERS = 30e6
PHOTOS_PER_USER_MONTH = 3
PHOTO_BYTES = 10e6
PHOTOS_PER_DAY = MONTHLY_USERS * PHOTOS_PER_USER_MONTH * 12 / 365
USERS = 20
"""Load-test accounts (a ring of follows plus random picks, so every feed has posts)."""
FOLLOWS = 3
SETUP_CONCURRENCY = 8
PROCESSING_POLLS = 100
POLL_INTERVAL = 0.1
READ_WEIGHTS = {"feed-json": 30, "profile-json": 10, "post-json": 10, "home-page": 10}
WRITE_WEIGHTS = {"upload": 1, "publish": 1}


def users_after(start: float, monthly_growth: float, months: int) -> float:
    """Users after `months` of compound growth: `start · (1 + g)^months`. O(1)."""
    return float(start * (1 + monthly_growth) ** months)


@lru_cache(maxsize=1)
def load_photo() -> bytes:
    """A small real JPEG (640x480) for load uploads, made once."""
    image = Image.new("RGB", (640, 480), (40, 120, 200))
    image.paste((240, 200, 40), (0, 0, 320, 240))
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()


@dataclass
class InstagramLoad:
    """What the actions share: the users, the published posts and the uploads awaiting
    publication (oldest first). Writes take users in turn; reads pick at random. O(1) each."""

    users: list[SimulatedUser]
    posts: list[str] = field(default_factory=list)
    uploads: deque[tuple[SimulatedUser, str]] = field(default_factory=deque)
    rng: random.Random = field(default_factory=random.Random)
    turn: int = 0

    def next_user(self) -> SimulatedUser:
        self.turn += 1
        return self.users[self.turn % len(self.users)]

    def random_user(self) -> SimulatedUser:
        return self.users[self.rng.randrange(len(self.users))]

    def random_post(self) -> str:
        return self.posts[self.rng.randrange(len(self.posts))]


async def _wait_ready(client: httpx.AsyncClient, user: SimulatedUser, media_id: str) -> None:
    for _ in range(PROCESSING_POLLS):
        view = setup_step(
            await client.get(f"{API}/media/{media_id}", headers=user.headers), 200, "read media"
        )
        if view["status"] == "ready":
            return
        if view["status"] == "failed":
            raise SetupFailed(f"media {media_id} failed processing: {view['error']}")
        await asyncio.sleep(POLL_INTERVAL)
    raise SetupFailed(f"media {media_id} was not processed in time (is the job worker running?)")


async def prepare_users(
    client: httpx.AsyncClient, setup: LoadSetup, users: int = USERS
) -> InstagramLoad:
    """Register and log in `users` accounts, each from its own address; have each follow
    `FOLLOWS` others; publish `setup.items` photo posts (at least one), waiting for each
    upload's processing. Raises SetupFailed naming the step the server refused."""
    count = max(2, users)
    run = secrets.token_hex(3)

    async def register(number: int) -> SimulatedUser:
        user = await register_and_log_in(
            client,
            email=f"ig{run}{number}@load.example.com",
            display_name=f"Load {number}",
            who="a user",
            address=benchmark_address(number),
        )
        # Create the Instagram profile before any follow: concurrent first follows between
        # two users without profiles insert both profiles in opposite orders, which
        # PostgreSQL may answer with a deadlock (the engine's `graph.follow`).
        setup_step(await client.get(f"{API}/me", headers=user.headers), 200, "open a profile")
        return user

    state = InstagramLoad(
        await run_concurrently((register(n) for n in range(count)), SETUP_CONCURRENCY)
    )

    async def follow(i: int, j: int) -> None:
        follower, followee = state.users[i], state.users[j]
        setup_step(
            await client.post(f"{API}/users/{followee.user_id}/follow", headers=follower.headers),
            200,
            "follow another user",
        )

    await run_concurrently(
        (follow(i, j) for i, j in follow_pairs(count, FOLLOWS, state.rng)), SETUP_CONCURRENCY
    )

    for _ in range(max(1, setup.items)):
        # One at a time: each publishes the upload it just made.
        setup_step(await upload(client, state), 202, "upload a photo")
        user, media_id = state.uploads.popleft()
        await _wait_ready(client, user, media_id)
        state.uploads.appendleft((user, media_id))
        setup_step(await publish(client, state), 201, "publish a photo")
    return state


async def upload(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Write: the next user uploads a photo (processing runs as a job)."""
    user = state.next_user()
    response = await client.post(
        f"{API}/media",
        content=load_photo(),
        headers={**user.headers, "Content-Type": "image/jpeg"},
    )
    if response.status_code == 202:
        state.uploads.append((user, str(response.json()["id"])))
    return response


async def publish(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Write: publish the oldest upload as a post to the uploader's followers. 409 while it is
    still being processed (it is then retried by a later publish)."""
    if not state.uploads:
        await upload(client, state)
    user, media_id = state.uploads.popleft()
    response = await client.post(
        f"{API}/photos",
        json={"media_ids": [media_id], "caption": f"Load #photo {secrets.token_hex(4)}"},
        headers=user.headers,
    )
    if response.status_code == 201:
        state.posts.append(str(response.json()["id"]))
    elif response.status_code == 409 and "not-ready" in response.text:
        state.uploads.append((user, media_id))
    return response


async def feed_json(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Read: a random user's home feed, first page."""
    return await client.get(f"{API}/feed", headers=state.random_user().headers)


async def profile_json(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Read: a random user's profile with its grid, as another random user."""
    target = state.random_user()
    return await client.get(f"{API}/profiles/{target.user_id}", headers=state.random_user().headers)


async def post_json(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Read: a random post (public audience, so every user may see it)."""
    return await client.get(
        f"{API}/posts/{state.random_post()}", headers=state.random_user().headers
    )


async def home_page(client: httpx.AsyncClient, state: InstagramLoad) -> httpx.Response:
    """Read: a random user's home page (HTML: the tray and the feed)."""
    return await client.get(PAGE, headers=state.random_user().headers)


_OK = frozenset({200})
LOAD_MIX = LoadMix(
    setup=prepare_users,
    actions=(
        LoadAction("feed-json", "read", READ_WEIGHTS["feed-json"], feed_json, _OK),
        LoadAction("profile-json", "read", READ_WEIGHTS["profile-json"], profile_json, _OK),
        LoadAction("post-json", "read", READ_WEIGHTS["post-json"], post_json, _OK),
        LoadAction("home-page", "read", READ_WEIGHTS["home-page"], home_page, _OK),
        LoadAction("upload", "write", WRITE_WEIGHTS["upload"], upload, frozenset({202})),
        LoadAction("publish", "write", WRITE_WEIGHTS["publish"], publish, frozenset({201, 409})),
    ),
    setup_size=50,
)

CAPACITY = CapacityModel(
    slug="instagram",
    source="seed-001 §1, article lines 83-97",
    writes_per_day=PHOTOS_PER_DAY,
    reads_per_write=30,
    object_bytes=PHOTO_BYTES,
    retention_years=5,
    peak_factor=2,
    write_noun="photo uploads",
    read_noun="feed, profile and post reads",
    object_noun="photo",
    seed={
        "object_bytes": SeedClaim(10e6, "Size of each Photo : 10 MB"),
        "storage_over_horizon": SeedClaim(54e15, "900 * 12 * 5 = 54 PB"),
    },
    assumed={
        "reads_per_write": (
            "the seed says only 'read heavy': 30 feed, profile and post reads per photo "
            "uploaded (about 9 a day per user if a third of the 30 M monthly users come daily)"
        ),
        "peak_factor": "the seed states no peak; 2x the daily average for the evening peak",
    },
    # The seed's non-functional requirement: "Latency should be ~350ms for the feed generation".
    p99_target_ms=350.0,
    load=LOAD_MIX,
)
