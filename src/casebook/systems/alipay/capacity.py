"""Alipay's capacity model: seed-002 §5 ("Scaling").

The article's inputs: 800 million users, 200 million daily active, 5 transactions per user per
day (1 billion a day), read:write 100:1, 1 KB per transaction, a 3-year horizon. Its slips:

- it derives "transactions uploaded per day = 1/100 x 1 billion = 10 million" from the 100:1
  ratio, although the 1 billion transactions are themselves the writes; every figure below starts
  from 1 billion;
- so its storage is 100 times too small: 1 billion x 1 KB = 1 TB a day, not 10 GB, and about
  1.1 PB over three years, not 10.95 TB;
- its 11,574 requests/s counts the writes only (1 billion / 86,400 s); with the stated 100:1 reads
  that is about 1.17 million requests/s in all.
"""

from __future__ import annotations

from casebook.platform.capacity import CapacityModel, SeedClaim

CAPACITY = CapacityModel(
    slug="alipay",
    source="seed-002 §5, Scaling",
    daily_active_users=200e6,
    writes_per_day=1e9,
    reads_per_write=100,
    object_bytes=1_000,
    retention_years=3,
    peak_factor=3,
    write_noun="transactions",
    read_noun="balance and history reads",
    object_noun="transaction",
    seed={
        "daily_active_users": SeedClaim(200e6, "DAU: 200 million"),
        "writes_per_day": SeedClaim(1e9, "5 transactions per user per day → 1 billion/day"),
        "reads_per_write": SeedClaim(100, "read:write = 100:1"),
        "object_bytes": SeedClaim(1_000, "1 KB per transaction"),
        "retention_years": SeedClaim(3, "the next 3 years"),
        "writes_per_second": SeedClaim(11_574, "1 billion / (24 x 3600) = 11,574 req/s"),
        "storage_per_day": SeedClaim(
            10e9,
            "10 million x 1 KB = 10 GB/day",
            why="the seed stores 10M 'uploaded' transactions a day; 1B x 1 KB = 1 TB a day",
        ),
        "storage_over_horizon": SeedClaim(
            10.95e12,
            "10 GB x 365 x 3 = 10.95 TB",
            why="from its 10 GB/day; at 1 TB a day three years hold about 1.1 PB",
        ),
    },
    assumed={
        "peak_factor": "the seed gives no peak; payments peak at meals and festivals, so 3x",
    },
)
