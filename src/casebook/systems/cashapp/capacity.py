"""CashApp's capacity model: seed-001 §4 ("Scaling").

The article's inputs: 100 million users, 20 million daily active, 5 transactions per user per day
(100 million a day), "read-heavy" at 100:1, 10 KB per transaction, a 3-year horizon. Its slips:

- it derives "transactions uploaded per day = 1 million" from the 100:1 ratio, although the 100
  million transactions are themselves the writes; every figure below starts from 100 million;
- so its storage is 100 times too small: 100 million x 10 KB = 1 TB a day, not 10 GB, and about
  1.1 PB over three years, not 10.95 TB;
- its 1,157 requests/s counts the writes only (100 million / 86,400 s); with the stated 100:1
  reads that is about 117,000 requests/s in all.

`casebook load cashapp` drives that 100:1 mix (`LOAD`) against a running server.
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
    benchmark_address,
    register_and_log_in,
    setup_step,
)

API = "/api/cashapp"
START_CASH = 10_000_000
"""Each simulated user starts with $100,000, so a run's 1-cent payments never run dry."""
USERS_PER_ITEM = 20


@dataclass
class CashAppLoad:
    """The simulated users: their bearer headers and $cashtags. Actions pick users at random."""

    headers: list[dict[str, str]]
    cashtags: list[str]
    rng: random.Random = field(default_factory=random.Random)

    def pick(self) -> int:
        return self.rng.randrange(len(self.headers))


async def _setup(client: httpx.AsyncClient, setup: LoadSetup) -> CashAppLoad:
    """Register `items / 20` users (4 to 100), each from its own benchmark address (RFC 2544) so
    the per-address login limit admits them, with a $cashtag and $100,000 added from the bank."""
    count = max(4, min(100, setup.items // USERS_PER_ITEM))
    state = CashAppLoad([], [])
    run = secrets.token_hex(3)
    for i in range(count):
        user = await register_and_log_in(
            client,
            email=f"load-{run}-{i}@example.com",
            display_name=f"Load {i}",
            who="a load-test user",
            address=benchmark_address(i),
        )
        # Only the sign-in comes from the user's own address; payments carry the token alone.
        headers = {"Authorization": f"Bearer {user.access_token}"}
        cashtag = f"$load{run}{i}"
        setup_step(
            await client.put(f"{API}/profile", json={"cashtag": cashtag}, headers=headers),
            200,
            "set a load-test user's $cashtag",
        )
        setup_step(
            await client.post(f"{API}/add-cash", json={"amount": START_CASH}, headers=headers),
            200,
            "add cash to a load-test user's balance",
        )
        state.headers.append(headers)
        state.cashtags.append(cashtag)
    return state


async def _balance(client: httpx.AsyncClient, state: CashAppLoad) -> httpx.Response:
    return await client.get(f"{API}/balance", headers=state.headers[state.pick()])


async def _activity(client: httpx.AsyncClient, state: CashAppLoad) -> httpx.Response:
    return await client.get(f"{API}/activity?limit=20", headers=state.headers[state.pick()])


async def _pay(client: httpx.AsyncClient, state: CashAppLoad) -> httpx.Response:
    payer = state.pick()
    payee = (payer + 1 + state.rng.randrange(len(state.cashtags) - 1)) % len(state.cashtags)
    return await client.post(
        f"{API}/payments",
        json={"to": state.cashtags[payee], "amount": 1},
        headers=state.headers[payer],
    )


LOAD: LoadMix[CashAppLoad] = LoadMix(
    setup=_setup,
    actions=(
        LoadAction("balance", "read", 50, _balance, frozenset({200})),
        LoadAction("activity", "read", 50, _activity, frozenset({200})),
        LoadAction("pay", "write", 1, _pay, frozenset({201})),
    ),
    setup_size=200,
)
"""The seed's 100:1 mix: half the reads are balances, half activity pages; writes are 1-cent
payments between random pairs of simulated users."""

CAPACITY = CapacityModel(
    slug="cashapp",
    source="seed-001 §4, Scaling",
    daily_active_users=20e6,
    writes_per_day=100e6,
    reads_per_write=100,
    object_bytes=10_000,
    retention_years=3,
    peak_factor=3,
    write_noun="transactions",
    read_noun="balance and activity reads",
    object_noun="transaction",
    seed={
        "daily_active_users": SeedClaim(20e6, "DAU: 20M"),
        "writes_per_day": SeedClaim(100e6, "5 transactions per user per day → 100M/day"),
        "reads_per_write": SeedClaim(100, "read:write = 100:1"),
        "object_bytes": SeedClaim(10_000, "10 KB per transaction"),
        "retention_years": SeedClaim(3, "3 years"),
        "writes_per_second": SeedClaim(1_157, "100M / 86,400 ≈ 1,157 req/s"),
        "storage_per_day": SeedClaim(
            10e9,
            "10 GB/day",
            why="the seed stores 1M 'uploaded' transactions a day; 100M x 10 KB = 1 TB a day",
        ),
        "storage_over_horizon": SeedClaim(
            10.95e12,
            "10.95 TB",
            why="from its 10 GB/day; at 1 TB a day three years hold about 1.1 PB",
        ),
    },
    assumed={
        "peak_factor": "the seed gives no peak; payments cluster at meal times and paydays, so 3x",
    },
    load=LOAD,
)
