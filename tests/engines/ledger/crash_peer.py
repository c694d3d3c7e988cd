"""A process that writes ledger batches until it is killed, for tests/engines/ledger/test_crash.py.

    python -m tests.engines.ledger.crash_peer DATABASE_URL SOURCE_ID WALLET_ID [WALLET_ID ...]

Batch n (n = 0, 1, …) holds BATCH transfers with ids n * 1000 + 1 … n * 1000 + BATCH: single
transfers and holds from SOURCE (an account that may go negative) to the wallets, and the posts
of batch n - 1's holds. After each commit it prints `committed n`; it never stops by itself.
"""

from __future__ import annotations

import asyncio
import sys

from casebook.engines.ledger import Ledger, Outcome, Transfer, TransferKind
from casebook.platform.db import Database

BATCH = 60


def batch(n: int, source: int, wallets: list[int]) -> list[Transfer]:
    base = n * 1000
    transfers = []
    for i in range(BATCH // 3):
        wallet = wallets[i % len(wallets)]
        transfers.append(
            Transfer(id=base + 1 + i, debit_account_id=source, credit_account_id=wallet, amount=7)
        )
        transfers.append(
            Transfer(
                id=base + 101 + i,
                debit_account_id=source,
                credit_account_id=wallet,
                amount=5,
                kind=TransferKind.PENDING,
            )
        )
        if n > 0:
            transfers.append(
                Transfer(
                    id=base + 201 + i,
                    kind=TransferKind.POST,
                    pending_id=base - 1000 + 101 + i,
                    amount=3,
                )
            )
    return transfers


def batch_ids(n: int) -> list[int]:
    base = n * 1000
    ids = [base + 1 + i for i in range(BATCH // 3)] + [base + 101 + i for i in range(BATCH // 3)]
    if n > 0:
        ids += [base + 201 + i for i in range(BATCH // 3)]
    return ids


async def main(url: str, source: int, wallets: list[int]) -> None:
    db = Database(url)
    n = 0
    while True:
        async with db.session(write=True) as session:
            outcomes = await Ledger(session).create_transfers(batch(n, source, wallets))
            if any(o is not Outcome.OK for o in outcomes):
                raise SystemExit(f"batch {n} refused: {set(outcomes)}")
        print(f"committed {n}", flush=True)
        n += 1


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), [int(a) for a in sys.argv[3:]]))
