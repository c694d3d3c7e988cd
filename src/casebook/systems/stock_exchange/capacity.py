"""The Stock Exchange's capacity model: seed-000 §2 ("Scaling", a "small-scale simulation").

The article's inputs: 10,000 daily active users, 5 trades per user per day (50,000 trades a day),
200 bytes per trade record, a 3-year horizon: 10 MB a day and 10.95 GB over three years — its
arithmetic holds. It states no request rate (50,000 / 86,400 s is about 0.58 trades/s), no
read:write ratio and no peak; the assumptions below fill them in and say why.

A trade is the stored object; each needs at least two orders (often more: cancels, replaces),
and the book's single writer per instrument handles hundreds of thousands of commands a second
(bench/matching.py), so the database's commit rate, not matching, bounds one node.
"""

from __future__ import annotations

from casebook.platform.capacity import CapacityModel, SeedClaim

CAPACITY = CapacityModel(
    slug="stock-exchange",
    source="seed-000 §2, Scaling",
    daily_active_users=10_000,
    writes_per_day=50_000,
    reads_per_write=20,
    object_bytes=200,
    retention_years=3,
    peak_factor=10,
    write_noun="trades",
    read_noun="quote, depth, order and balance reads",
    object_noun="trade record",
    seed={
        "daily_active_users": SeedClaim(10_000, "DAU: 10,000"),
        "writes_per_day": SeedClaim(50_000, "5 trades per user per day → 50,000 trades/day"),
        "object_bytes": SeedClaim(200, "200 bytes per trade record"),
        "retention_years": SeedClaim(3, "3 years"),
        "storage_per_day": SeedClaim(10e6, "10 MB/day"),
        "storage_over_horizon": SeedClaim(10.95e9, "10 MB x 3 x 365 = 10.95 GB"),
    },
    assumed={
        "reads_per_write": (
            "the seed states no ratio; a trader polls quotes, depth, orders and balances about "
            "20 times per trade (market data itself streams over the WebSocket, not counted)"
        ),
        "peak_factor": (
            "the seed states no peak; equity trading bunches at the open and the close, so "
            "10x the daily average"
        ),
    },
)
