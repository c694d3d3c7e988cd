"""Robinhood's capacity model: seed-001 §2 ("Scaling").

The article's inputs: 10 M daily active users (of 50 M), 5 trades per user per day (50 M
trades a day), read:write 10:1 (500 M reads a day), 1 KB per trade record, 3 years: 50 GB a day
and 54.75 TB over three years — its arithmetic holds. Its 5,787 requests/s is 500 M / 86,400,
the reads alone; with the writes it is 6,366/s on average. The peak is assumed.
"""

from __future__ import annotations

from casebook.platform.capacity import CapacityModel, SeedClaim

CAPACITY = CapacityModel(
    slug="robinhood",
    source="seed-001 §2, Scaling",
    daily_active_users=10_000_000,
    writes_per_day=50_000_000,
    reads_per_write=10,
    object_bytes=1_000,
    retention_years=3,
    peak_factor=5,
    write_noun="trades",
    read_noun="quote, chart, portfolio and order reads",
    object_noun="trade record",
    seed={
        "daily_active_users": SeedClaim(10_000_000, "DAU: 10M"),
        "writes_per_day": SeedClaim(50_000_000, "5 trades per user per day → 50M trades/day"),
        "reads_per_write": SeedClaim(10, "read:write = 10:1"),
        "object_bytes": SeedClaim(1_000, "1 KB per trade"),
        "retention_years": SeedClaim(3, "3 years"),
        "storage_per_day": SeedClaim(50e9, "50 GB/day"),
        "storage_over_horizon": SeedClaim(54.75e12, "3 years: 54.75 TB"),
    },
    assumed={
        "peak_factor": (
            "the seed names 'elasticity for peak trading' without a figure; US equity trading "
            "bunches at the open and the close, so 5x the daily average"
        ),
    },
)
