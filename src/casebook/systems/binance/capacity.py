"""Binance's capacity model: seed-004 §2 ("Scaling").

The article's inputs: 50 M users, 10 M daily active, 5 trades per user per day → 50 M trades
executed a day, a 100:1 read:write ratio, 1 KB per trade, a 3-year horizon, and 50 M / 86,400 ≈
579 trades/s. Its slips: it then divides the 50 M trades by the read:write ratio ("trades placed
= 500,000") and sizes storage from that (500 MB/day), and writes the 3-year total as "547.5 TB"
where 500 MB x 1,095 days is 547.5 GB. Every executed trade is stored, so storage here follows
the 50 M trades: 50 GB a day, 54.75 TB over three years. Its request rate (579/s, from 50 M)
agrees with ours.

One book's single writer handles hundreds of thousands of commands a second (bench/matching.py);
a node's bound is the database's commit rate, and pairs shard across processes (cluster mode).
"""

from __future__ import annotations

from casebook.platform.capacity import CapacityModel, SeedClaim

CAPACITY = CapacityModel(
    slug="binance",
    source="seed-004 §2, Scaling",
    daily_active_users=10_000_000,
    writes_per_day=50_000_000,
    reads_per_write=100,
    object_bytes=1_000,
    retention_years=3,
    peak_factor=10,
    write_noun="trades",
    read_noun="market-data, order and balance reads",
    object_noun="trade record",
    seed={
        "daily_active_users": SeedClaim(10_000_000, "DAU 10M"),
        "writes_per_day": SeedClaim(50_000_000, "5 trades/user/day → 50M trades executed/day"),
        "reads_per_write": SeedClaim(100, "Read:write 100:1"),
        "object_bytes": SeedClaim(1_000, "Avg trade 1 KB"),
        "retention_years": SeedClaim(3, "3 years"),
        "writes_per_second": SeedClaim(579, "50M / 86,400 ≈ 579 trades/s"),
        "storage_per_day": SeedClaim(
            500e6,
            "trades placed/day = 1/100 x 50M = 500,000 → 500 MB/day",
            why="the seed divides executed trades by the read:write ratio; every one of the "
            "50M trades is stored, 1 KB each",
        ),
        "storage_over_horizon": SeedClaim(
            547.5e12,
            '500 MB x 365 x 3 = "547.5 TB"',
            why="500 MB x 1,095 days is 547.5 GB (the seed writes TB); with all 50M trades "
            "stored it is 54.75 TB",
        ),
    },
    assumed={
        "peak_factor": (
            "the seed states no peak; crypto trades around the clock but bursts on volatility, "
            "so 10x the daily average"
        ),
    },
)
