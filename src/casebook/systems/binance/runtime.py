"""Start and stop Binance in a process: the spot venue "binance" with its pairs, the simulated
chain with the DEX, and the custodial wallets whose deposits credit the venue accounts.

`WALLETS` is built at import (the routers close over it); its `secret` (the platform's signing
key, which seals deposit keys) is set by `start`, since settings exist only then. One process
serves one platform, so one secret."""

from __future__ import annotations

import time
from typing import Any

from casebook.engines.matching import mount
from casebook.engines.matching import venue as matching
from casebook.platform.context import Platform
from casebook.systems.binance import chain as chains
from casebook.systems.binance.dex import binance_chain
from casebook.systems.binance.futures_jobs import start_futures, stop_futures
from casebook.systems.binance.launchpad import start_launchpad
from casebook.systems.binance.margin import start_margin
from casebook.systems.binance.spot import SCALE, VENUE, VenueSpot, list_pairs
from casebook.systems.binance.wallets import AssetPolicy, Wallets

CHAIN = binance_chain()
POLICIES = {
    "BTC": AssetPolicy(
        confirmations=2,
        withdrawal_fee=20_000,
        daily_withdrawal_limit=100 * SCALE,
        review_threshold=5 * SCALE,
    ),
    "ETH": AssetPolicy(
        confirmations=3,
        withdrawal_fee=100_000,
        daily_withdrawal_limit=2_000 * SCALE,
        review_threshold=100 * SCALE,
    ),
    "BNB": AssetPolicy(
        confirmations=2,
        withdrawal_fee=500_000,
        daily_withdrawal_limit=10_000 * SCALE,
        review_threshold=500 * SCALE,
    ),
    "USDT": AssetPolicy(
        confirmations=3,
        withdrawal_fee=1 * SCALE,
        daily_withdrawal_limit=2_000_000 * SCALE,
        review_threshold=100_000 * SCALE,
    ),
}
"""Per asset: confirmations before a deposit is credited, the withdrawal fee, the daily limit
and the amount from which a withdrawal waits for staff (minor units, 8 decimals)."""
WALLETS = Wallets(CHAIN, POLICIES, secret="", spot=VenueSpot())
WALLET_JOB = "binance.wallet-cycle"
WALLET_INTERVAL = 2.0


async def _wallet_job(platform: Platform, payload: dict[str, Any]) -> None:
    """Credit confirmed deposits and settle withdrawals the chain decided, then schedule the
    next run (both steps are exactly-once however often they run; wallets.py)."""
    try:
        await WALLETS.credit_deposits(platform.db)
        await WALLETS.settle_withdrawals(platform.db)
    finally:
        await schedule_wallet_cycle(platform)


async def schedule_wallet_cycle(platform: Platform, now: float | None = None) -> str:
    """Enqueue the next wallet cycle at the next interval boundary, keyed by it (one per slot
    across a cluster)."""
    now = time.time() if now is None else now
    slot = int(now // WALLET_INTERVAL) + 1
    return await platform.jobs.enqueue(
        WALLET_JOB, {}, key=str(slot), delay=max(0.0, slot * WALLET_INTERVAL - now)
    )


async def start(platform: Platform) -> None:
    WALLETS.secret = platform.settings.signing_key
    await mount.startup(platform, matching.VenueConfig(venue=VENUE))
    await list_pairs(platform)
    chains.install(platform, CHAIN)
    platform.jobs.register(WALLET_JOB, _wallet_job, retries=3)
    await chains.schedule_block(platform)
    await schedule_wallet_cycle(platform)
    await start_launchpad(platform)
    await start_margin(platform)
    await start_futures(platform)


async def stop(platform: Platform) -> None:
    await stop_futures(platform)
    await mount.shutdown(platform, VENUE)
