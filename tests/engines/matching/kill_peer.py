"""A process that trades on a venue until it is killed, for tests/engines/matching/test_kill.py.

    python -m tests.engines.matching.kill_peer DATABASE_URL VAR_DIR

Starts the venue "kill-venue" on DATABASE_URL, lists AAPL, funds three accounts, then places,
replaces and cancels orders concurrently (several in flight at once, so batches hold many
commands) and prints `done n` after each command returns. It never stops by itself.
"""

from __future__ import annotations

import asyncio
import random
import sys
from pathlib import Path

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import OrderNotOpen
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import InstrumentSpec, NewOrder, Venue, VenueConfig
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings

VENUE = "kill-venue"
TRADERS = 3
IN_FLIGHT = 4


async def trader(
    venue: Venue, instrument_id: int, account: int, seed: int, counter: list[int]
) -> None:
    rng = random.Random(seed)
    mine: list[int] = []
    while True:
        roll = rng.random()
        try:
            if roll < 0.6 or not mine:
                side = rng.choice((Side.BUY, Side.SELL))
                view = await venue.place(
                    NewOrder(account, instrument_id, side, rng.randint(1, 4), rng.randint(95, 105))
                )
                mine.append(view.id)
            elif roll < 0.8:
                await venue.cancel(account, rng.choice(mine))
            else:
                await venue.replace(
                    account, rng.choice(mine), rng.randint(95, 105), rng.randint(1, 4)
                )
        except (InsufficientFunds, OrderNotOpen):
            pass
        counter[0] += 1
        print(f"done {counter[0]}", flush=True)


async def main(url: str, var_dir: str) -> None:
    settings = Settings(
        var_dir=Path(var_dir),
        database_url=url,
        redis_url="",
        secret_key="kill-peer-secret-key-that-is-long-enough",
        environment="test",
        auto_migrate=False,
        demo_data=False,
        worker_id=7,
    )
    platform = Platform.start(settings)
    venue = await venues.start(platform, VenueConfig(venue=VENUE, snapshot_every=10))
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
    asyncio.run(main(sys.argv[1], sys.argv[2]))
