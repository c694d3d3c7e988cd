"""Telegram's capacity model: seed-002 §1 ("Scaling", a "small scale simulation").

The article's inputs: 200 million daily active users sending 20 messages a day (4 billion
messages a day) of 80 bytes (320 GB a day), kept 3 years (it says 350 TB; 320 GB x 1,095 days is
350.4 TB). It states no request rate, no read:write ratio and no peak; its derived average is
4 B / 86,400 ≈ 46,296 messages/s.

Assumed here: one read per write. The seed's "important features" are one-to-one messages and
push notifications; a message is stored once and fetched once by its recipient (big groups and
channels are read by paging the one stored copy, fan-out on read, so they add reads without
adding storage — a heavier read mix is a knob of the load test, not a seed figure). Peak: 2x the
daily average, the usual evening peak of a messenger.

The load mix drives the real API at that 1:1 ratio: users in pairs, each pair in one private
chat; a write sends an 80-character text (the seed's message size) into the pair's chat, a read
pages the newest 20 messages of it. Each simulated user has its own benchmark address
(198.18.0.0/15, RFC 2544) so per-address log-in limits hold, and the population is sized to the
engine's send limit (30/s per user) with 2x headroom.
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

API = "/api/telegram"
PAIR = 2
MESSAGE_CHARS = 80
"""The seed's 80-byte message (ASCII text: one byte a character)."""
SETUP_CONCURRENCY = 16


@dataclass(frozen=True)
class LoadUser:
    headers: dict[str, str]
    chat_id: str


@dataclass
class TelegramLoad:
    """The simulated users, each with its private chat; actions pick one at random (O(1))."""

    users: list[LoadUser]
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> LoadUser:
        return self.users[self.rng.randrange(len(self.users))]


def population(setup: LoadSetup, write_share: float) -> int:
    """Users needed so each sends at most 1/HEADROOM of the engine's sustained send rate: at
    least one pair and `setup.items`, rounded up to whole pairs."""
    needed = max(
        PAIR, setup.items, clients_needed(setup.rate * write_share, MessagingConfig().send_rate)
    )
    return needed + needed % PAIR


async def prepare_users(client: httpx.AsyncClient, setup: LoadSetup) -> TelegramLoad:
    """Register the population and pair it up in private chats. Raises SetupFailed naming the
    refused step."""
    count = population(setup, LOAD_MIX.share("write"))
    tag = secrets.token_hex(4)
    addresses = [benchmark_address(n) for n in range(count)]
    people = await run_concurrently(
        (
            register_and_log_in(
                client,
                email=f"telegram-load-{tag}-{n}@example.com",
                display_name=f"Load {n}",
                who="a load-test user",
                address=address,
            )
            for n, address in enumerate(addresses)
        ),
        SETUP_CONCURRENCY,
    )
    users: list[LoadUser] = []
    for start in range(0, count, PAIR):
        first, second = people[start], people[start + 1]
        chat = setup_step(
            await client.post(
                f"{API}/conversations",
                json={"kind": "direct", "user_id": second.user_id},
                headers=first.headers,
            ),
            frozenset({200, 201}),
            "start a load-test chat",
        )
        users += [LoadUser(first.headers, chat["id"]), LoadUser(second.headers, chat["id"])]
    return TelegramLoad(users)


async def send_message(client: httpx.AsyncClient, state: TelegramLoad) -> httpx.Response:
    """Write: an 80-character text into the user's private chat."""
    user = state.pick()
    text = "".join(state.rng.choices("abcdefghij klmnopqrstuvwxyz", k=MESSAGE_CHARS))
    return await client.post(
        f"{API}/conversations/{user.chat_id}/messages",
        json={"client_id": secrets.token_hex(8), "kind": "text", "body": text},
        headers=user.headers,
    )


async def read_history(client: httpx.AsyncClient, state: TelegramLoad) -> httpx.Response:
    """Read: the newest page of 20 messages of the user's private chat."""
    user = state.pick()
    return await client.get(
        f"{API}/conversations/{user.chat_id}/messages",
        params={"limit": 20},
        headers=user.headers,
    )


LOAD_MIX = LoadMix(
    setup=prepare_users,
    actions=(
        LoadAction("read-history", "read", 1, read_history, frozenset({200})),
        LoadAction("send-message", "write", 1, send_message, frozenset({201})),
    ),
    setup_size=PAIR,
)

CAPACITY = CapacityModel(
    slug="telegram",
    source="seed-002 §1 (Scaling)",
    daily_active_users=200e6,
    writes_per_day=4e9,
    reads_per_write=1,
    object_bytes=80,
    retention_years=3,
    peak_factor=2,
    write_noun="messages sent",
    read_noun="messages fetched",
    object_noun="message",
    seed={
        "daily_active_users": SeedClaim(200e6, "DAU 200 M"),
        "writes_per_day": SeedClaim(4e9, "20 messages/user/day → 4 B messages/day"),
        "object_bytes": SeedClaim(80, "message size 80 bytes"),
        "retention_years": SeedClaim(3, "3 years"),
        "writes_per_second": SeedClaim(46_296, "4 B / 86,400 ≈ 46 K msg/s on average"),
        "storage_per_day": SeedClaim(320e9, "4 B x 80 bytes = 320 GB/day"),
        "storage_over_horizon": SeedClaim(
            350e12,
            "320 GB x 3 x 365 = 350 TB",
            why="rounded down: 320 GB x 1,095 days is 350.4 TB",
        ),
    },
    assumed={
        "reads_per_write": (
            "the seed states no read ratio; its key features are 1:1 messages and pushes, so "
            "each stored message is fetched once by its recipient (groups and channels page "
            "one stored copy: fan-out on read)"
        ),
        "peak_factor": (
            "the seed states no peak; 2x the daily average is the usual allowance for a "
            "messaging service's evening peak"
        ),
    },
    # Chat feels instant under ~100 ms end to end; the server's share must stay well inside.
    p99_target_ms=100.0,
    load=LOAD_MIX,
)
