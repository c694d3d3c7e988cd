"""Kill a process while it writes batches: nothing committed is lost, nothing is half-posted."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.db import Database
from tests.engines.ledger.conftest import open_mint, open_wallets
from tests.engines.ledger.crash_peer import batch_ids

ROOT = Path(__file__).resolve().parents[3]


async def test_a_process_killed_mid_batch_loses_nothing_committed_and_half_posts_nothing(
    db: Database, database_url: str
) -> None:
    source = await open_mint(db)
    wallets = await open_wallets(db, *(f"u:{i}" for i in range(5)))
    writer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.engines.ledger.crash_peer",
        database_url,
        str(source.id),
        *(str(w.id) for w in wallets),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert writer.stdout is not None
    last = -1
    try:
        while last < 4:
            line = await asyncio.wait_for(writer.stdout.readline(), timeout=60)
            assert line.startswith(b"committed "), line
            last = int(line.split()[1])
    finally:
        writer.send_signal(signal.SIGKILL)  # mid-batch: the next one is being written right now
        await writer.wait()
    assert writer.returncode == -signal.SIGKILL

    async with db.session() as session:
        ledger = Ledger(session)
        for n in range(last + 1):
            found = await ledger.transfers(batch_ids(n))
            assert len(found) == len(batch_ids(n)), f"committed batch {n} lost transfers"
        n = last + 1
        while found := await ledger.transfers(batch_ids(n)):
            # Committed after the last line we read (the kill came between COMMIT and print).
            assert len(found) == len(batch_ids(n)), f"batch {n} is half-posted"
            n += 1
        assert not await ledger.transfers(batch_ids(n + 1))
        report = await verify(session)
    assert report.ok, report.breaks
