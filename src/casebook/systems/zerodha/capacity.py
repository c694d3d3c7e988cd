"""Zerodha's capacity model: seed-000 §3 ("Scaling", a "small scale simulation").

The article's inputs: 10 M users, 2 M daily active, 5 trades per user per day (10 M trades a
day), read:write 100:1, 1 KB per trade record: 10 GB a day, 10.95 TB over three years, and
10 M / 86,400 ≈ 115 writes/s. Its `simulate_zerodha()` converts to "TB" with a factor that
yields MB (the slip is noted; the figures here are computed in bytes).
"""

from __future__ import annotations

from casebook.platform.capacity import CapacityModel, SeedClaim

CAPACITY = CapacityModel(
    slug="zerodha",
    source="seed-000 §3, Scaling",
    daily_active_users=2_000_000,
    writes_per_day=10_000_000,
    reads_per_write=100,
    object_bytes=1_000,
    retention_years=3,
    peak_factor=10,
    write_noun="trades",
    read_noun="quote, order, position and holding reads",
    object_noun="trade record",
    seed={
        "daily_active_users": SeedClaim(2_000_000, "DAU: 2 M"),
        "writes_per_day": SeedClaim(10_000_000, "5 trades per user per day → 10 M trades/day"),
        "reads_per_write": SeedClaim(100, "read:write = 100:1"),
        "object_bytes": SeedClaim(1_000, "1 KB per trade record"),
        "retention_years": SeedClaim(3, "3 years"),
        "storage_per_day": SeedClaim(10e9, "10 GB/day"),
        "storage_over_horizon": SeedClaim(10.95e12, "10 GB x 3 x 365 = 10.95 TB"),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; Indian equity trading bunches at the 09:15 open and the "
            "15:30 close, so 10x the daily average"
        ),
    },
)
