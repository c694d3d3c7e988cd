"""Razorpay's capacity model: seed-003 §3 ("Scaling Requirements — Capacity Estimation",
article lines 3179-3203).

The article's inputs: 10 million users, 2 million daily active, 2 transactions per user a day
(4 million transactions a day), reads:writes 100:1, 1 KB per transaction record, a 3-year
horizon. Its first product is right (2 M x 2 = 4 M a day), but it then divides the transactions
by the read ratio:

- "Total number of transactions recorded per day: 4 million / 100 = 40,000". A transaction is a
  payment, and every payment is recorded (it is the write); 100:1 says each payment is read 100
  times (status polls, the dashboard, reconciliation), not that one payment in a hundred is
  kept. So 4,000,000 records a day, not 40,000 (which would be 0.02 payments per user a day).
- Its storage follows from that slip: 4 M x 1 KB = 4 GB a day, not 40 MB; over 3 years
  4 GB x 365 x 3 = 4.38 TB, not 43.8 GB (both off by the same 100x).
- "Requests per second: 4 million transactions / 86,400 = 46 requests/second" is the payment
  (write) rate alone; with 100 reads per payment the API serves 4,676 requests/s on average.

The 1 KB record is the seed's and is kept as stated: here a payment writes more than one row
(the payment, its order, three ledger transfers: hold, capture, fee), so the true footprint is
several KB; the seed's figure is the logical transaction record it priced.

The load mix is the seed's 100:1: a hundred payment fetches (`GET /v1/payments/{id}`, the
merchant's HTTP Basic key) for every new payment (`POST /v1/payments/create/json`, a card
payment captured at once through the router, the simulated gateways and the ledger). One
merchant is the whole population; `/v1` has no per-key rate limit.
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

API = "/api/razorpay"
CARD = {"number": "4111111111111111", "expiry_month": 12, "expiry_year": 2099, "cvv": "123"}


@dataclass
class RazorpayLoad:
    """What the actions share: the merchant's Basic credentials and the payments to fetch.

    Fetches pick a payment uniformly at random (O(1)); new payments are not added to the pool,
    so every fetch hits a payment known to exist.
    """

    auth: tuple[str, str]
    payment_ids: list[str]
    rng: random.Random = field(default_factory=random.Random)

    def random_payment(self) -> str:
        return self.payment_ids[self.rng.randrange(len(self.payment_ids))]


def payment_body(rng: random.Random) -> dict[str, Any]:
    """A card payment of ₹100-₹5,000 captured at once, like a checkout's."""
    return {
        "amount": rng.randrange(100, 5_001) * 100,
        "currency": "INR",
        "method": "card",
        "card": CARD,
        "email": "load@example.com",
        "contact": "+919900000000",
        "capture": True,
    }


async def prepare_merchant(client: httpx.AsyncClient, setup: LoadSetup) -> RazorpayLoad:
    """Register a user, open a merchant account (its key pair authenticates the load) and make
    `setup.items` payments to fetch (at least one).

    Raises SetupFailed naming the step the server refused; transport errors propagate.
    """
    owner = await register_and_log_in(
        client,
        email=f"load-{secrets.token_hex(6)}@example.com",
        display_name="Load-test merchant",
        who="the load-test merchant",
    )
    opened = setup_step(
        await client.post(
            f"{API}/merchants", json={"name": "Load-test merchant"}, headers=owner.headers
        ),
        201,
        "open the merchant account",
    )
    state = RazorpayLoad((opened["key_id"], opened["key_secret"]), [])
    for _ in range(max(1, setup.items)):
        paid = setup_step(
            await client.post(
                f"{API}/v1/payments/create/json", json=payment_body(state.rng), auth=state.auth
            ),
            200,
            "make a payment to fetch",
        )
        state.payment_ids.append(str(paid["id"]))
    return state


async def fetch_payment(client: httpx.AsyncClient, state: RazorpayLoad) -> httpx.Response:
    """Read: one of the merchant's payments (`client.payment.fetch`)."""
    return await client.get(f"{API}/v1/payments/{state.random_payment()}", auth=state.auth)


async def create_payment(client: httpx.AsyncClient, state: RazorpayLoad) -> httpx.Response:
    """Write: a new card payment, authorized at a gateway and captured on the ledger."""
    return await client.post(
        f"{API}/v1/payments/create/json", json=payment_body(state.rng), auth=state.auth
    )


LOAD_MIX = LoadMix(
    setup=prepare_merchant,
    actions=(
        LoadAction("fetch-payment", "read", 100, fetch_payment, frozenset({200})),
        LoadAction("create-payment", "write", 1, create_payment, frozenset({200})),
    ),
    setup_size=200,
)

CAPACITY = CapacityModel(
    slug="razorpay",
    source="seed-003 §3, article lines 3179-3203",
    daily_active_users=2_000_000,
    writes_per_day=4_000_000,
    reads_per_write=100,
    object_bytes=1e3,
    retention_years=3,
    peak_factor=3,
    write_noun="payments",
    read_noun="payment reads",
    object_noun="transaction record",
    seed={
        "daily_active_users": SeedClaim(2_000_000, "Daily active users (DAU): 2 million"),
        "writes_per_day": SeedClaim(
            40_000,
            "4 million / 100 = 40,000 transactions/day",
            why=(
                "2 M users x 2 transactions = 4 M payments a day, each one recorded; dividing "
                "by the 100:1 read ratio would mean 0.02 payments per user a day"
            ),
        ),
        "reads_per_write": SeedClaim(100, "read-to-write ratio to be 100:1"),
        "object_bytes": SeedClaim(1e3, "each transaction record is approximately 1 KB"),
        "retention_years": SeedClaim(3, "For the next 3 years"),
        "storage_per_day": SeedClaim(
            40e6,
            "40,000 transactions/day * 1 KB = 40 MB/day",
            why="4 M records a day x 1 KB = 4 GB a day; the seed's 40,000 records is 100x low",
        ),
        "storage_over_horizon": SeedClaim(
            43.8e9,
            "40 MB * 365 days * 3 years = 43.8 GB",
            why="4 GB x 365 x 3 = 4.38 TB; the same 100x slip as the records per day",
        ),
        "writes_per_second": SeedClaim(
            4_000_000 / 86_400, "4 million transactions / (24 hours * 3600 seconds)"
        ),
        "requests_per_second": SeedClaim(
            46,
            "4 million transactions / (24 hours * 3600 seconds) = 46 requests/second",
            why=(
                "46/s is the payments alone; with 100 reads per payment the API serves "
                "46.3 + 4,630 = 4,676 requests/s on average"
            ),
        ),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; Indian payment traffic gathers in evening hours and "
            "sale days, so 3x the daily average rather than the usual 2x"
        ),
    },
    # A checkout waits on the payment call; Razorpay-like gateways answer in a few hundred ms
    # including the bank, so our own share (without gateway latency) should stay under 250 ms.
    p99_target_ms=250.0,
    load=LOAD_MIX,
)
