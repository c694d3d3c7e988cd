"""The owner process of tests/engines/matching/test_cluster_kill.py: trades until it is killed.

    python -m tests.engines.matching.cluster_peer DATABASE_URL REDIS_URL VAR_DIR

Starts the venue "cluster-kill" in cluster mode on DATABASE_URL + REDIS_URL, lists AAPL (taking
its lease, since it starts first), funds three accounts and runs kill_peer's traders (places,
replaces, cancels, several in flight), printing `done n` after each command. It also serves the
commands another process routes to it. It never stops by itself.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from casebook.engines.matching import venue as venues
from casebook.engines.matching.cluster import ClusterConfig
from casebook.engines.matching.venue import InstrumentSpec, VenueConfig
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from tests.engines.matching.kill_peer import IN_FLIGHT, TRADERS, trader

VENUE = "cluster-kill"
FAST = ClusterConfig(
    lease_seconds=1.0,
    renew_seconds=0.25,
    request_timeout=15.0,
    resend_seconds=0.2,
    follow_seconds=0.3,
)
CONFIG = VenueConfig(venue=VENUE, snapshot_every=10, cluster=FAST)


async def main(url: str, redis_url: str, var_dir: str) -> None:
    settings = Settings(
        var_dir=Path(var_dir),
        database_url=url,
        redis_url=redis_url,
        secret_key="cluster-peer-secret-key-that-is-long-enough",
        environment="test",
        auto_migrate=False,
        demo_data=False,
        worker_id=7,
    )
    platform = Platform.start(settings)
    venue = await venues.start(platform, CONFIG)
    async with platform.db.session() as session:
        aapl = await venue.list_instrument(
            session,
            InstrumentSpec(
                symbol="AAPL",
                base_asset="AAPL",
                quote_asset="USD",
                maker_fee_bps=5,
                taker_fee_bps=10,
            ),
        )
    assert venue.cluster is not None
    await venue.cluster.tick()
    assert venue.cluster.owns(aapl.id)
    accounts = []
    async with platform.db.session(write=True) as session:
        for i in range(TRADERS):
            account = await venue.open_account(session, f"trader-{i}", None)
            await venue.credit(session, account, "USD", 50_000, new_id(), "seed")
            await venue.credit(session, account, "AAPL", 200, new_id(), "seed")
            accounts.append(account)
    counter = [0]
    await asyncio.gather(
        *(
            trader(venue, aapl.id, accounts[i % TRADERS], i, counter)
            for i in range(TRADERS * IN_FLIGHT)
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3]))
