"""Viber's capacity model: seed-000 §4 ("Scaling Requirements").

The article's inputs: 500 million users, 100 million daily active, 5 messages per user a day
(500 million messages a day), reads:writes 50:1 (25 billion messages received a day), 50 KB per
message on average (media included), a 3-year horizon. Its arithmetic has three slips, kept
here next to the corrected figures:

- Storage: "25 B x 50 KB = 1.25 PB/day" multiplies the messages RECEIVED by the size. A message
  is stored once when it is sent (fan-out on read: a group's readers page through one copy), so
  storage is 500 million x 50 KB = 25 TB/day, 50x less.
- It carries the slip into the horizon: 1.25 PB x 365 x 3 = 1,368.75 PB, which it gives as
  1,369.5 PB (≈ 1.37 EB); the messages written over 3 years take 27.4 PB.
- Its request rate, 500 million / 86,400 ≈ 5,787/s, counts writes only; with the 50 reads per
  write the service answers about 295,000 requests/s on average.

The load mix is the seed's 50:1: fifty history reads (`GET /conversations/{id}/messages`, one
page of 20) for every message sent (`POST /conversations/{id}/messages`). Messages go to group
chats because a 1:1 chat is end-to-end encrypted, and encrypting is the client's work (a load
generator that ran the Double Ratchet would measure itself, not the server). The 50 KB average
is mostly media, which goes to the blob store, not through these requests: the load test sends
200-character texts. Each simulated user has its own benchmark address (198.18.0.0/15, RFC 2544)
so per-address log-in limits hold, and the population is sized to the send limit (30/s per
user) with 2x headroom.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field

import httpx

from casebook.engines.messaging.runtime import MessagingConfig
from casebook.platform.capacity import (
    CapacityModel,
    LoadAction,
    LoadMix,
    LoadSetup,
    SeedClaim,
    benchmark_address,
    clients_needed,
    register_and_log_in,
    run_concurrently,
    setup_step,
)

API = "/api/viber"
GROUP_SIZE = 10
TEXT_CHARS = 200
SETUP_CONCURRENCY = 16


@dataclass(frozen=True)
class LoadUser:
    headers: dict[str, str]
    group_id: str


@dataclass
class ViberLoad:
    """The simulated users, each in one group; actions pick a user at random (O(1))."""

    users: list[LoadUser]
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> LoadUser:
        return self.users[self.rng.randrange(len(self.users))]


def population(setup: LoadSetup, write_share: float) -> int:
    """Users needed so each sends at most 1/HEADROOM of the engine's sustained send rate; at
    least one full group, at least `setup.items`."""
    needed = clients_needed(setup.rate * write_share, MessagingConfig().send_rate)
    return max(GROUP_SIZE, setup.items, needed)


async def prepare_users(client: httpx.AsyncClient, setup: LoadSetup) -> ViberLoad:
    """Register the population and put it in groups of GROUP_SIZE (the last may be smaller).
    Raises SetupFailed naming the refused step."""
    count = population(setup, LOAD_MIX.share("write"))
    tag = secrets.token_hex(4)
    addresses = [benchmark_address(n) for n in range(count)]
    people = await run_concurrently(
        (
            register_and_log_in(
                client,
                email=f"viber-load-{tag}-{n}@example.com",
                display_name=f"Load {n}",
                who="a load-test user",
                address=address,
            )
            for n, address in enumerate(addresses)
        ),
        SETUP_CONCURRENCY,
    )
    users: list[LoadUser] = []
    for start in range(0, count, GROUP_SIZE):
        members = people[start : start + GROUP_SIZE]
        group = setup_step(
            await client.post(
                f"{API}/create_group_chat",
                json={
                    "name": f"load {tag} {start}",
                    "participants": [m.user_id for m in members[1:]],
                },
                headers=members[0].headers,
            ),
            201,
            "create a load-test group",
        )
        group_id = group["group_chat"]["group_id"]
        users += [LoadUser(member.headers, group_id) for member in members]
    return ViberLoad(users)


async def send_message(client: httpx.AsyncClient, state: ViberLoad) -> httpx.Response:
    """Write: a 200-character text into the user's group."""
    user = state.pick()
    text = "".join(state.rng.choices("abcdefghij klmnopqrstuvwxyz", k=TEXT_CHARS))
    return await client.post(
        f"{API}/conversations/{user.group_id}/messages",
        json={"client_id": secrets.token_hex(8), "kind": "text", "body": text},
        headers=user.headers,
    )


async def read_history(client: httpx.AsyncClient, state: ViberLoad) -> httpx.Response:
    """Read: the newest page of 20 messages of the user's group."""
    user = state.pick()
    return await client.get(
        f"{API}/conversations/{user.group_id}/messages",
        params={"limit": 20},
        headers=user.headers,
    )


LOAD_MIX = LoadMix(
    setup=prepare_users,
    actions=(
        LoadAction("read-history", "read", 50, read_history, frozenset({200})),
        LoadAction("send-message", "write", 1, send_message, frozenset({201})),
    ),
    setup_size=GROUP_SIZE,
)

CAPACITY = CapacityModel(
    slug="viber",
    source="seed-000 §4, article lines 1311-1614",
    daily_active_users=100e6,
    writes_per_day=500e6,
    reads_per_write=50,
    object_bytes=50_000,
    retention_years=3,
    peak_factor=2,
    write_noun="messages sent",
    read_noun="messages received",
    object_noun="message",
    seed={
        "daily_active_users": SeedClaim(100e6, "100 M DAU"),
        "writes_per_day": SeedClaim(500e6, "5 messages/user/day → 500 M messages/day"),
        "reads_per_write": SeedClaim(50, "50:1 read-heavy"),
        "object_bytes": SeedClaim(50_000, "50 KB per message"),
        "retention_years": SeedClaim(3, "3 years"),
        "reads_per_day": SeedClaim(25e9, "25 B messages received a day"),
        "writes_per_second": SeedClaim(5787, "500 M / 86,400 ≈ 5,787 req/s"),
        "requests_per_second": SeedClaim(
            5787,
            "≈ 5,787 req/s",
            why=(
                "the seed's request rate counts the writes only; with 50 reads per write the "
                "service answers 5,787 x 51 ≈ 295,000 requests/s"
            ),
        ),
        "storage_per_day": SeedClaim(
            1.25e15,
            "25 B x 50 KB = 1.25 PB/day",
            why=(
                "the seed multiplies the messages received by the size; a message is stored "
                "once when sent, so 500 M x 50 KB = 25 TB/day"
            ),
        ),
        "storage_over_horizon": SeedClaim(
            1369.5e15,
            "1,369.5 PB (≈ 1.37 EB) over 3 years",
            why=(
                "it carries the read-based 1.25 PB/day over 3 years (and 1.25 PB x 1,095 is "
                "1,368.75 PB, not 1,369.5); the messages written take 27.4 PB"
            ),
        ),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; 2x the daily average is the usual allowance for a "
            "messaging service's evening peak"
        ),
    },
    # Chat feels instant under ~100 ms end to end; the server's share must stay well inside.
    p99_target_ms=100.0,
    load=LOAD_MIX,
)
