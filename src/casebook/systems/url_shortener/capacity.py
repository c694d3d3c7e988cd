"""The URL Shortener's capacity model: seed-003 §1 ("Scaling Requirements — Capacity Estimation").

The article's inputs: about 80 million new URLs a day, reads:writes 8:1, 90 bytes per URL, a
5-year horizon. Its arithmetic has three slips, kept here next to the corrected figures:

- 80 million / 86,400 s = 925.9 writes/s; the article rounds to 930 and then multiplies the
  rounded value by 8, so its 7,440 reads/s is 0.4 % high (7,407).
- 80 million x 90 B = 7.2 GB/day; the article says 7 GB.
- It multiplies by the 5 years twice: 146 billion records already span 5 years, so storage is
  146 billion x 90 B = 13.1 TB, not 90 B x 5 x 146 billion = 65.7 TB.

The load mix is the seed's 8:1: eight redirects (`GET /s/<code>` of a link created earlier,
expecting 301/302, not followed) for every new link (`POST /api/url-shortener/links` with an
API key, a 90-byte target like the seed's average URL). The seed's traffic comes from a
population, not one client: the setup registers one user with as many API keys, and sends each
simulated client's writes from its own address in 198.18.0.0/15 (the range set aside for
benchmarks, RFC 2544) through `X-Forwarded-For`, which the server trusts from loopback as it
would from its load balancer. The population is sized from the shortener's per-key and per-IP
limits (`CASEBOOK_URL_SHORTENER_*`, read from this process's environment) with 2x headroom, so
the limits admit the seed's rate instead of answering 429.
"""

from __future__ import annotations

import random
import secrets
import string
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
    register_and_log_in,
    run_concurrently,
    setup_step,
)
from casebook.systems.url_shortener.config import ShortenerSettings

API = "/api/url-shortener"
WRITE_SCOPE = "url-shortener:write"
URL_BYTES = 90
"""The seed's average URL length; load-test targets are exactly this long."""
SETUP_CONCURRENCY = 16
_URL_ALPHABET = string.ascii_lowercase + string.digits


@dataclass(frozen=True)
class SimulatedClient:
    """One user agent of the population: its API key and its address, as request headers."""

    headers: dict[str, str]


@dataclass
class ShortenerLoad:
    """What the actions share: the clients that write and the codes that exist to be read.

    Reads pick a code uniformly at random (O(1)); writes take clients in turn, so each key and
    address carries an equal share, and append the code they created.
    """

    clients: list[SimulatedClient]
    codes: list[str]
    rng: random.Random = field(default_factory=random.Random)
    turn: int = 0

    def next_client(self) -> SimulatedClient:
        self.turn += 1
        return self.clients[self.turn % len(self.clients)]

    def random_code(self) -> str:
        return self.codes[self.rng.randrange(len(self.codes))]

    def target_url(self) -> str:
        """A distinct `URL_BYTES`-long https URL."""
        prefix = "https://example.com/load/"
        tail = "".join(self.rng.choices(_URL_ALPHABET, k=URL_BYTES - len(prefix)))
        return prefix + tail


def population(setup: LoadSetup, write_share: float, limits: ShortenerSettings) -> tuple[int, int]:
    """(API keys, addresses) needed for `setup`'s write rate and link creation within `limits`.

    Each key and address may shorten `limit` per minute with a burst of `limit`; the run's writes
    are spread so each stays at 1/HEADROOM of its sustained rate, and the setup's links so each
    uses at most 1/HEADROOM of its burst.
    """

    def needed(per_minute: int) -> int:
        sustained = clients_needed(setup.rate * write_share, per_minute / 60)
        return max(1, sustained + clients_needed(setup.items, per_minute))

    keys = needed(limits.shorten_per_minute_api_key)
    return keys, max(keys, needed(limits.shorten_per_minute_ip))


async def prepare_population(client: httpx.AsyncClient, setup: LoadSetup) -> ShortenerLoad:
    """Register a user, create its API keys, and create `setup.items` links to read.

    Raises SetupFailed naming the step the server refused; transport errors propagate.
    """
    keys, addresses = population(setup, LOAD_MIX.share("write"), ShortenerSettings())
    token = secrets.token_hex(6)
    owner = await register_and_log_in(
        client,
        email=f"load-{token}@example.com",
        display_name="Load test",
        who="the load-test user",
        address=benchmark_address(0),
    )

    async def create_key(number: int) -> str:
        response = await client.post(
            "/api/auth/api-keys",
            json={"name": f"load test {token} #{number}", "scopes": [WRITE_SCOPE]},
            headers=owner.headers,
        )
        return str(setup_step(response, 201, "create an API key")["key"])

    api_keys = await run_concurrently((create_key(n) for n in range(keys)), SETUP_CONCURRENCY)
    state = ShortenerLoad(
        clients=[
            SimulatedClient(
                {
                    "Authorization": f"Bearer {api_keys[n % keys]}",
                    "X-Forwarded-For": benchmark_address(n),
                }
            )
            for n in range(addresses)
        ],
        codes=[],
    )

    async def create_link() -> str:
        response = await shorten(client, state)
        return str(setup_step(response, 201, "create a link to read")["code"])

    state.codes = await run_concurrently(
        (create_link() for _ in range(setup.items)), SETUP_CONCURRENCY
    )
    if not state.codes:
        raise SetupFailed("the load test needs at least one link to read")
    return state


async def shorten(client: httpx.AsyncClient, state: ShortenerLoad) -> httpx.Response:
    """Write: create a link with the next client's API key; its code becomes readable."""
    response = await client.post(
        f"{API}/links", json={"url": state.target_url()}, headers=state.next_client().headers
    )
    if response.status_code == 201:
        state.codes.append(response.json()["code"])
    return response


async def follow(client: httpx.AsyncClient, state: ShortenerLoad) -> httpx.Response:
    """Read: the redirect of a random existing code, not followed."""
    return await client.get(f"/s/{state.random_code()}")


LOAD_MIX = LoadMix(
    setup=prepare_population,
    actions=(
        LoadAction("redirect", "read", 8, follow, frozenset({301, 302})),
        LoadAction("shorten", "write", 1, shorten, frozenset({201})),
    ),
    setup_size=1000,
)

CAPACITY = CapacityModel(
    slug="url-shortener",
    source="seed-003 §1, article lines 1768-1794",
    writes_per_day=80e6,
    reads_per_write=8,
    object_bytes=90,
    retention_years=5,
    peak_factor=2,
    write_noun="new short URLs",
    read_noun="redirects",
    object_noun="URL",
    seed={
        "writes_per_day": SeedClaim(80e6, "~80 million URLs a day"),
        "reads_per_write": SeedClaim(8, "8:1"),
        "object_bytes": SeedClaim(90, "90 bytes"),
        "retention_years": SeedClaim(5, "5 years"),
        "writes_per_second": SeedClaim(
            930,
            "930 writes/s",
            why="80 million / 86,400 s = 925.9; the seed rounds it up to 930",
        ),
        "reads_per_second": SeedClaim(
            7440,
            "7,440 reads/s",
            why="the seed multiplies its rounded 930 by 8; 925.9 x 8 = 7,407",
        ),
        "storage_per_day": SeedClaim(
            7e9, "7 GB/day", why="80 million x 90 B = 7.2 GB; the seed rounds it down"
        ),
        "records_over_horizon": SeedClaim(146e9, "146 billion"),
        "storage_over_horizon": SeedClaim(
            65.7e12,
            "65.7 TB",
            why=(
                "the seed multiplies by the 5 years twice (90 B x 5 x 146 billion); the 146 "
                "billion records already span 5 years, so 146 billion x 90 B = 13.1 TB"
            ),
        ),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; 2x the daily average is the usual allowance for a "
            "consumer service's busiest hour"
        ),
    },
    # The seed asks for "real-time low-latency" redirects; 50 ms at p99 on one node leaves the
    # rest of a user's click budget to the network.
    p99_target_ms=50.0,
    load=LOAD_MIX,
)
