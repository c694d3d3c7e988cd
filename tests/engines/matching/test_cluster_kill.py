"""Cluster mode: the owner of a book is killed with SIGKILL while both processes trade on it.

The peer (cluster_peer.py, a real process) owns AAPL and trades; this process's venue routes its
own orders to it. After the kill, the lease lapses, this process takes the book over from the
journal, re-submits the orders held but never journaled, and answers the commands it had in
flight (re-sent to itself). Then: this process owns the book, it equals the open orders the
database holds, no order is left pending, every account's locked funds are the holds of its open
orders, and the ledger verifies."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from casebook.engines.ledger import InsufficientFunds
from casebook.engines.matching import venue as venues
from casebook.engines.matching.errors import OrderNotOpen
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import NewOrder, Venue
from casebook.platform.context import Platform
from tests.engines.matching.cluster_peer import CONFIG, VENUE
from tests.engines.matching.conftest import assert_books_balance, balances, funded

ROOT = Path(__file__).resolve().parents[3]


def tail(log: Path) -> str:
    return log.read_text()[-3000:]


async def read_done(stream: asyncio.StreamReader, at_least: int, log: Path) -> int:
    done = 0
    while done < at_least:
        line = await asyncio.wait_for(stream.readline(), timeout=60)
        assert line, f"the peer ended: {tail(log)}"
        if line.startswith(b"done "):  # other lines are the peer's log
            done = int(line.split()[1])
    return done


async def trade(venue: Venue, account: int, instrument_id: int, seed: int,
                stop: asyncio.Event, done: list[int]) -> None:  # fmt: skip
    rng = random.Random(seed)
    mine: list[int] = []
    while not stop.is_set():
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
                await venue.replace(account, rng.choice(mine), rng.randint(95, 105), None)
        except (InsufficientFunds, OrderNotOpen):
            pass
        done[0] += 1


async def test_the_owner_killed_mid_stream_is_replaced_by_the_other_process(
    platform: Platform, database_url: str, tmp_path: Path
) -> None:
    if platform.redis is None:
        pytest.skip("cluster mode needs PostgreSQL + Redis (CASEBOOK_TEST_BACKENDS=postgres)")
    peer_log = tmp_path / "peer.log"
    peer = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.engines.matching.cluster_peer",
        database_url, platform.settings.redis_url, str(tmp_path / "peer"),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=peer_log.open("wb"),
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert peer.stdout is not None
    stop = asyncio.Event()
    done = [0]
    tasks: list[asyncio.Task[None]] = []
    venue: Venue | None = None
    try:
        await read_done(peer.stdout, 30, peer_log)
        venue = await venues.start(platform, CONFIG)
        assert venue.cluster is not None
        (aapl,) = venue.listed
        assert not venue.cluster.owns(aapl)
        mine = await funded(venue, "routed", USD=50_000, AAPL=200)
        tasks = [
            asyncio.create_task(trade(venue, mine, aapl, seed, stop, done)) for seed in range(4)
        ]
        while done[0] < 20:  # served by the peer, over the bus
            await read_done(peer.stdout, 1, peer_log)
        assert not venue.cluster.owns(aapl)
        peer.send_signal(signal.SIGKILL)  # both processes have commands in flight
        await peer.wait()
        assert peer.returncode == -signal.SIGKILL
        at_kill = done[0]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while done[0] < at_kill + 30:
            assert loop.time() < deadline, "the book was not taken over"
            await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(asyncio.gather(*tasks), timeout=60)
        assert venue.cluster.owns(aapl) and venue.cluster.takeovers == 1

        market = venue.listed[aapl].market
        async with platform.db.session() as session:
            rows = list(
                await session.scalars(select(MatchingOrder).where(MatchingOrder.venue == VENUE))
            )
        assert not [r.id for r in rows if r.status == "pending"]
        resting = sorted(
            (r.id, r.account_id, Side.BUY if r.side == "buy" else Side.SELL, r.price, r.open_qty)
            for r in rows
            if r.status in ("open", "partially_filled")
        )
        assert sorted(o[:5] for o in venue.book(aapl).open_orders()) == resting
        assert {r.account_id for r in rows} > {mine}
        for account in {r.account_id for r in rows}:
            held = {"USD": 0, "AAPL": 0}
            for _, owner, side, price, open_qty in resting:
                if owner == account:
                    held[market.hold_asset(side)] += market.hold_amount(side, price, open_qty)
            for asset, (total, locked) in (await balances(venue, account)).items():
                assert locked == held[asset] and 0 <= locked <= total, (account, asset)
        await assert_books_balance(venue)
    finally:
        stop.set()
        if peer.returncode is None:
            peer.send_signal(signal.SIGKILL)
            await peer.wait()
        for task in tasks:
            task.cancel()
        if venue is not None:
            await venues.stop(platform, VENUE)
