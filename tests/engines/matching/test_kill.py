"""Kill a trading process with SIGKILL mid-stream: after a restart the book is exactly what the
committed orders say, every hold belongs to an open order, and the ledger balances."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from sqlalchemy import select

from casebook.engines.matching import venue as venues
from casebook.engines.matching.models import MatchingOrder
from casebook.engines.matching.types import Side
from casebook.engines.matching.venue import VenueConfig
from casebook.platform.context import Platform
from tests.engines.matching.conftest import assert_books_balance, balances
from tests.engines.matching.kill_peer import VENUE

ROOT = Path(__file__).resolve().parents[3]


async def test_a_venue_killed_mid_stream_restarts_with_the_committed_book(
    platform: Platform, database_url: str, tmp_path: Path
) -> None:
    peer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.engines.matching.kill_peer",
        database_url,
        str(tmp_path / "peer"),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert peer.stdout is not None
    done = 0
    try:
        while done < 120:
            line = await asyncio.wait_for(peer.stdout.readline(), timeout=60)
            assert line.startswith(b"done "), line
            done = int(line.split()[1])
    finally:
        peer.send_signal(signal.SIGKILL)  # commands are in flight: a batch is being written
        await peer.wait()
    assert peer.returncode == -signal.SIGKILL

    venue = await venues.start(platform, VenueConfig(venue=VENUE))
    try:
        (aapl,) = venue.listed.values()
        market = aapl.market
        async with platform.db.session() as session:
            rows = list(
                await session.scalars(select(MatchingOrder).where(MatchingOrder.venue == VENUE))
            )
        assert not [r.id for r in rows if r.status == "pending"]  # recovery submitted them
        resting = sorted(
            (r.id, r.account_id, Side.BUY if r.side == "buy" else Side.SELL, r.price, r.open_qty)
            for r in rows
            if r.status in ("open", "partially_filled")
        )
        book = venue.book(aapl.id)
        assert sorted(o[:5] for o in book.open_orders()) == resting
        assert book.trade_seq > 0
        for account in {r.account_id for r in rows}:
            held = {"USD": 0, "AAPL": 0}
            for _, owner, side, price, open_qty in resting:
                if owner == account:
                    held[market.hold_asset(side)] += market.hold_amount(side, price, open_qty)
            for asset, (total, locked) in (await balances(venue, account)).items():
                assert locked == held[asset] and 0 <= locked <= total, (account, asset)
        await assert_books_balance(venue)
    finally:
        await venues.stop(platform, VENUE)
