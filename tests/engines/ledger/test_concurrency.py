"""Real concurrency against one database: many tasks, each with its own session and connection."""

from __future__ import annotations

import asyncio
import random

from casebook.engines.ledger import InsufficientFunds, Ledger, Outcome, Transfer, TransferKind
from casebook.engines.ledger.verify import verify
from casebook.platform.db import Database
from casebook.platform.ids import new_id
from tests.engines.ledger.conftest import open_mint, open_wallets


async def test_racing_spenders_cannot_spend_one_balance_twice(db: Database) -> None:
    mint = await open_mint(db)
    alice, *shops = await open_wallets(db, "u:alice", *(f"m:{i}" for i in range(4)))
    async with db.session(write=True) as session:
        await Ledger(session).transfer(
            Transfer(
                id=new_id(), debit_account_id=mint.id, credit_account_id=alice.id, amount=1_000
            )
        )

    async def spend(shop_id: int) -> bool:
        try:
            async with db.session(write=True) as session:
                await Ledger(session).transfer(
                    Transfer(
                        id=new_id(),
                        debit_account_id=alice.id,
                        credit_account_id=shop_id,
                        amount=300,
                    )
                )
        except InsufficientFunds:
            return False
        return True

    results = await asyncio.gather(*(spend(shops[i % 4].id) for i in range(12)))
    assert sum(results) == 3
    async with db.session() as session:
        assert (await Ledger(session).account(alice.id)).posted == 100
        assert (await verify(session)).ok


async def test_transfers_in_both_directions_between_the_same_accounts_never_deadlock_or_drift(
    db: Database,
) -> None:
    mint = await open_mint(db)
    wallets = await open_wallets(db, *(f"u:{i}" for i in range(4)))
    async with db.session(write=True) as session:
        await Ledger(session).create_transfers(
            [
                Transfer(id=new_id(), debit_account_id=mint.id, credit_account_id=w.id, amount=500)
                for w in wallets
            ]
        )
    rng = random.Random(7)
    plans = [
        [
            Transfer(
                id=new_id(),
                debit_account_id=(pair := rng.sample(wallets, 2))[0].id,
                credit_account_id=pair[1].id,
                amount=rng.randint(1, 200),
                kind=rng.choice([TransferKind.SINGLE, TransferKind.PENDING]),
            )
            for _ in range(rng.randint(1, 6))
        ]
        for _ in range(24)
    ]

    async def run(batch: list[Transfer]) -> list[Outcome]:
        async with db.session(write=True) as session:
            return await Ledger(session).create_transfers(batch)

    outcomes = await asyncio.gather(*(run(batch) for batch in plans))
    assert any(o is Outcome.OK for batch in outcomes for o in batch)
    async with db.session() as session:
        report = await verify(session)
        accounts = await Ledger(session).accounts(w.id for w in wallets)
    assert report.ok, report.breaks
    assert sum(a.posted for a in accounts.values()) == 2_000
    assert all(a.available >= 0 for a in accounts.values())


async def test_one_hold_captured_and_voided_at_once_resolves_exactly_once(db: Database) -> None:
    mint = await open_mint(db)
    alice, shop = await open_wallets(db, "u:alice", "m:shop")
    hold = new_id()
    async with db.session(write=True) as session:
        await Ledger(session).create_transfers(
            [
                Transfer(
                    id=new_id(), debit_account_id=mint.id, credit_account_id=alice.id, amount=100
                ),
                Transfer(
                    id=hold,
                    debit_account_id=alice.id,
                    credit_account_id=shop.id,
                    amount=100,
                    kind=TransferKind.PENDING,
                ),
            ]
        )

    async def resolve(kind: TransferKind) -> Outcome:
        async with db.session(write=True) as session:
            (outcome,) = await Ledger(session).create_transfers(
                [Transfer(id=new_id(), kind=kind, pending_id=hold)]
            )
            return outcome

    outcomes = await asyncio.gather(
        *(resolve(k) for k in [TransferKind.POST, TransferKind.VOID] * 4)
    )
    assert outcomes.count(Outcome.OK) == 1
    async with db.session() as session:
        ledger = Ledger(session)
        alice_now, shop_now = await ledger.account(alice.id), await ledger.account(shop.id)
        assert alice_now.held == 0 and alice_now.posted + shop_now.posted == 100
        assert (await verify(session)).ok
