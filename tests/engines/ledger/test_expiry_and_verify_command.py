"""Holds expire by a job; `casebook ledger verify` reports the books from the command line."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import select, text, update
from typer.testing import CliRunner

from casebook.cli import app
from casebook.engines.ledger import Ledger, Outcome, PendingStatus, Transfer, TransferKind
from casebook.engines.ledger.expiry import expire_holds
from casebook.engines.ledger.ledger import TRANSFERS
from casebook.platform.db import Database
from casebook.platform.ids import new_id
from tests.engines.ledger.conftest import open_mint, open_wallets


async def age_holds(db: Database, seconds: int) -> None:
    """Move every hold's timeout `seconds` into the past, as if that much time had gone by."""
    async with db.session() as session:
        holds = await session.execute(
            select(TRANSFERS.c.id, TRANSFERS.c.timeout_at).where(
                TRANSFERS.c.timeout_at.is_not(None)
            )
        )
        for hold_id, timeout_at in holds.all():
            await session.execute(
                update(TRANSFERS)
                .where(TRANSFERS.c.id == hold_id)
                .values(timeout_at=timeout_at - timedelta(seconds=seconds))
            )


async def test_the_expiry_job_releases_overdue_holds_once_and_leaves_the_rest(db: Database) -> None:
    mint = await open_mint(db)
    alice, shop = await open_wallets(db, "u:alice", "m:shop")
    short, long_, captured = new_id(), new_id(), new_id()
    async with db.session(write=True) as session:
        assert (
            await Ledger(session).create_transfers(
                [
                    Transfer(new_id(), mint.id, alice.id, 1_000),
                    Transfer(short, alice.id, shop.id, 100, kind=TransferKind.PENDING, timeout=60),
                    Transfer(
                        long_, alice.id, shop.id, 200, kind=TransferKind.PENDING, timeout=7_200
                    ),
                    Transfer(
                        captured, alice.id, shop.id, 300, kind=TransferKind.PENDING, timeout=60
                    ),
                    Transfer(new_id(), kind=TransferKind.POST, pending_id=captured),
                ]
            )
            == [Outcome.OK] * 5
        )
    await age_holds(db, 120)
    released = await asyncio.gather(expire_holds(db), expire_holds(db))
    assert sorted(released) == [0, 1]
    assert await expire_holds(db) == 0
    async with db.session() as session:
        ledger = Ledger(session)
        assert (await ledger.get_transfer(short)).pending_status is PendingStatus.EXPIRED  # type: ignore[union-attr]
        assert (await ledger.get_transfer(long_)).pending_status is PendingStatus.PENDING  # type: ignore[union-attr]
        wallet = await ledger.account(alice.id)
        assert (wallet.posted, wallet.held) == (700, 200)


@pytest.fixture
def cli_env(database_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CASEBOOK_DATABASE_URL", database_url)


async def test_ledger_verify_says_ok_for_balanced_books_and_names_each_break(
    db: Database, cli_env: None
) -> None:
    mint = await open_mint(db)
    (alice,) = await open_wallets(db, "u:alice")
    async with db.session(write=True) as session:
        await Ledger(session).transfer(Transfer(new_id(), mint.id, alice.id, 250))
    good = await asyncio.to_thread(CliRunner().invoke, app, ["ledger", "verify"])
    assert good.exit_code == 0, good.output
    assert "2 accounts, 1 transfers" in good.output and "ok: the books balance" in good.output
    async with db.session() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET credits_posted = 999 WHERE id = :id"), {"id": alice.id}
        )
    bad = await asyncio.to_thread(CliRunner().invoke, app, ["ledger", "verify"])
    assert bad.exit_code == 1
    assert f"BREAK  account {alice.id}: counters" in bad.output
