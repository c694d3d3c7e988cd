"""The ledger on a real database (SQLite, and PostgreSQL with CASEBOOK_TEST_BACKENDS=postgres)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from casebook.engines.ledger import (
    MAX_BATCH,
    AccountKind,
    AccountNotFound,
    BatchTooLarge,
    InsufficientFunds,
    Ledger,
    Outcome,
    PendingStatus,
    Transfer,
    TransferKind,
    TransferRefused,
)
from casebook.engines.ledger.statements import balance_at, statement
from casebook.engines.ledger.verify import verify
from casebook.platform.db import Database, utcnow
from casebook.platform.ids import new_id
from tests.engines.ledger.conftest import open_mint, open_wallets


async def fund(db: Database, mint_id: int, account_id: int, amount: int) -> None:
    async with db.session(write=True) as session:
        await Ledger(session).transfer(
            Transfer(
                id=new_id(), debit_account_id=mint_id, credit_account_id=account_id, amount=amount
            )
        )


async def test_opening_an_account_twice_returns_the_same_account(db: Database) -> None:
    (first,) = await open_wallets(db, "u:1")
    (again,) = await open_wallets(db, "u:1")
    assert again.id == first.id and again.posted == 0 and again.kind is AccountKind.LIABILITY


@pytest.mark.parametrize("code", ["F", "AAPL", "1INCH", "USD", "ABCDEFGHIJ"])
async def test_any_asset_code_of_one_to_ten_capitals_or_digits_opens_an_account(
    db: Database, code: str
) -> None:
    async with db.session(write=True) as session:
        account = await Ledger(session).open_account(
            owner="venue:1", name="wallet", currency=code, kind=AccountKind.LIABILITY
        )
    assert account.currency == code


@pytest.mark.parametrize("code", ["", "usd", "ABCDEFGHIJK", "US D", "BTC-1"])
async def test_an_asset_code_outside_the_rule_is_refused(db: Database, code: str) -> None:
    async with db.session(write=True) as session:
        with pytest.raises(ValueError, match="1-10 upper-case"):
            await Ledger(session).open_account(
                owner="venue:1", name="wallet", currency=code, kind=AccountKind.LIABILITY
            )


async def test_a_transfer_moves_money_and_both_counters_in_one_commit(db: Database) -> None:
    mint = await open_mint(db)
    alice, bob = await open_wallets(db, "u:alice", "u:bob")
    await fund(db, mint.id, alice.id, 10_000)
    async with db.session(write=True) as session:
        stored = await Ledger(session).transfer(
            Transfer(
                id=new_id(),
                debit_account_id=alice.id,
                credit_account_id=bob.id,
                amount=2_500,
                code="p2p",
            )
        )
    assert stored.debit_balance == 7_500 and stored.credit_balance == 2_500
    async with db.session() as session:
        accounts = await Ledger(session).accounts([alice.id, bob.id, mint.id])
    assert accounts[alice.id].posted == 7_500
    assert accounts[bob.id].posted == 2_500
    assert accounts[mint.id].posted == -10_000
    async with db.session() as session:
        assert (await verify(session)).ok


async def test_an_overdraft_is_refused_and_changes_nothing(db: Database) -> None:
    mint = await open_mint(db)
    alice, bob = await open_wallets(db, "u:alice", "u:bob")
    await fund(db, mint.id, alice.id, 100)
    with pytest.raises(InsufficientFunds) as refused:
        async with db.session(write=True) as session:
            await Ledger(session).transfer(
                Transfer(
                    id=new_id(), debit_account_id=alice.id, credit_account_id=bob.id, amount=101
                )
            )
    assert refused.value.status == 409 and refused.value.type_ == "ledger/exceeds-credits"
    async with db.session() as session:
        accounts = await Ledger(session).accounts([alice.id, bob.id])
    assert (accounts[alice.id].posted, accounts[bob.id].posted) == (100, 0)


async def test_a_retried_transfer_posts_once_and_a_conflicting_retry_is_refused(
    db: Database,
) -> None:
    mint = await open_mint(db)
    alice, bob = await open_wallets(db, "u:alice", "u:bob")
    await fund(db, mint.id, alice.id, 1_000)
    transfer = Transfer(
        id=new_id(), debit_account_id=alice.id, credit_account_id=bob.id, amount=300
    )
    for _ in range(3):
        async with db.session(write=True) as session:
            assert await Ledger(session).create_transfers([transfer]) in (
                [Outcome.OK],
                [Outcome.EXISTS],
            )
    async with db.session(write=True) as session:
        outcomes = await Ledger(session).create_transfers(
            [
                Transfer(
                    id=transfer.id, debit_account_id=alice.id, credit_account_id=bob.id, amount=301
                )
            ]
        )
    assert outcomes == [Outcome.EXISTS_WITH_DIFFERENT_FIELDS]
    async with db.session() as session:
        assert (await Ledger(session).account(bob.id)).posted == 300


async def test_a_hold_reserves_then_posts_part_and_releases_the_rest(db: Database) -> None:
    mint = await open_mint(db)
    alice, shop = await open_wallets(db, "u:alice", "m:shop")
    await fund(db, mint.id, alice.id, 1_000)
    hold = new_id()
    async with db.session(write=True) as session:
        ledger = Ledger(session)
        await ledger.transfer(
            Transfer(
                id=hold,
                debit_account_id=alice.id,
                credit_account_id=shop.id,
                amount=800,
                kind=TransferKind.PENDING,
                timeout=3600,
            )
        )
        reserved = await ledger.account(alice.id)
        assert (reserved.posted, reserved.held, reserved.available) == (1_000, 800, 200)
        with pytest.raises(InsufficientFunds):
            await ledger.transfer(
                Transfer(
                    id=new_id(), debit_account_id=alice.id, credit_account_id=shop.id, amount=201
                )
            )
    async with db.session(write=True) as session:
        ledger = Ledger(session)
        await ledger.transfer(
            Transfer(id=new_id(), kind=TransferKind.POST, pending_id=hold, amount=650)
        )
        after = await ledger.account(alice.id)
        assert (after.posted, after.held, after.available) == (350, 0, 350)
        assert (await ledger.account(shop.id)).posted == 650
        assert (await ledger.get_transfer(hold)).pending_status is PendingStatus.POSTED  # type: ignore[union-attr]
        with pytest.raises(TransferRefused) as twice:
            await ledger.transfer(Transfer(id=new_id(), kind=TransferKind.VOID, pending_id=hold))
        assert twice.value.type_ == "ledger/pending-transfer-already-posted"
    async with db.session() as session:
        assert (await verify(session)).ok


async def test_a_linked_chain_that_fails_anywhere_leaves_no_trace(db: Database) -> None:
    mint = await open_mint(db)
    a, b, c = await open_wallets(db, "u:a", "u:b", "u:c")
    await fund(db, mint.id, a.id, 500)
    chain = [
        Transfer(
            id=new_id(), debit_account_id=a.id, credit_account_id=b.id, amount=500, linked=True
        ),
        Transfer(
            id=new_id(), debit_account_id=b.id, credit_account_id=c.id, amount=400, linked=True
        ),
        Transfer(id=new_id(), debit_account_id=b.id, credit_account_id=c.id, amount=200),
    ]
    async with db.session(write=True) as session:
        outcomes = await Ledger(session).create_transfers(chain)
    assert outcomes == [
        Outcome.LINKED_EVENT_FAILED,
        Outcome.LINKED_EVENT_FAILED,
        Outcome.EXCEEDS_CREDITS,
    ]
    async with db.session() as session:
        ledger = Ledger(session)
        accounts = await ledger.accounts([a.id, b.id, c.id])
        assert [accounts[x.id].posted for x in (a, b, c)] == [500, 0, 0]
        assert await ledger.transfers(t.id for t in chain) == {}


async def test_the_database_itself_refuses_an_overdrawn_counter(db: Database) -> None:
    (alice,) = await open_wallets(db, "u:alice")
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            await session.execute(
                text("UPDATE ledger_accounts SET debits_posted = debits_posted + 1 WHERE id = :id"),
                {"id": alice.id},
            )


async def test_batches_over_the_limit_and_unknown_accounts_are_refused(db: Database) -> None:
    async with db.session(write=True) as session:
        ledger = Ledger(session)
        with pytest.raises(BatchTooLarge):
            await ledger.create_transfers(
                [Transfer(id=i + 1, amount=1) for i in range(MAX_BATCH + 1)]
            )
        with pytest.raises(AccountNotFound):
            await ledger.account(12345)
        assert await ledger.create_transfers(
            [Transfer(id=new_id(), debit_account_id=1, credit_account_id=2, amount=1)]
        ) == [Outcome.DEBIT_ACCOUNT_NOT_FOUND]


async def test_a_statement_pages_newest_first_with_running_balances(db: Database) -> None:
    mint = await open_mint(db)
    alice, bob = await open_wallets(db, "u:alice", "u:bob")
    for amount in (100, 200, 300):
        await fund(db, mint.id, alice.id, amount)
    async with db.session(write=True) as session:
        await Ledger(session).transfer(
            Transfer(id=new_id(), debit_account_id=alice.id, credit_account_id=bob.id, amount=50)
        )
    async with db.session() as session:
        first, cursor = await statement(session, alice.id, limit=3)
        rest, end = await statement(session, alice.id, cursor=cursor, limit=3)
    assert [(line.amount, line.balance) for line in first] == [(-50, 550), (300, 600), (200, 300)]
    assert [(line.amount, line.balance) for line in rest] == [(100, 100)] and end is None
    assert first[0].counterparty_account_id == bob.id


async def test_the_balance_at_a_past_time_is_the_balance_after_the_last_transfer_before_it(
    db: Database,
) -> None:
    mint = await open_mint(db)
    (alice,) = await open_wallets(db, "u:alice")
    before = utcnow()
    await fund(db, mint.id, alice.id, 100)
    middle = utcnow()
    await fund(db, mint.id, alice.id, 40)
    async with db.session() as session:
        assert await balance_at(session, alice.id, before - timedelta(seconds=1)) == 0
        assert await balance_at(session, alice.id, middle) == 100
        assert await balance_at(session, alice.id, utcnow()) == 140


async def test_verify_names_a_counter_that_disagrees_with_its_transfers(db: Database) -> None:
    mint = await open_mint(db)
    (alice,) = await open_wallets(db, "u:alice")
    await fund(db, mint.id, alice.id, 100)
    async with db.session() as session:
        await session.execute(
            text("UPDATE ledger_accounts SET credits_posted = credits_posted + 5 WHERE id = :id"),
            {"id": alice.id},
        )
    async with db.session() as session:
        report = await verify(session)
    assert not report.ok
    assert any(f"account {alice.id}: counters" in line for line in report.breaks)
    assert any("USD: posted debits 100 != posted credits 105" in line for line in report.breaks)


async def test_accounts_can_be_found_without_opening_and_walked_by_name(db: Database) -> None:
    mint = await open_mint(db)
    wallets = await open_wallets(db, "u:1", "u:2", "u:3")
    async with db.session() as session:
        ledger = Ledger(session)
        assert await ledger.find_account(owner="u:9", name="wallet", currency="USD") is None
        found = await ledger.find_account(owner="u:2", name="wallet", currency="USD")
        assert found is not None and found.id == wallets[1].id
        first = await ledger.accounts_named("wallet", "USD", limit=2)
        rest = await ledger.accounts_named("wallet", "USD", after_id=first[-1].id, limit=2)
        assert [a.id for a in first + rest] == sorted(w.id for w in wallets)
        assert mint.id not in {a.id for a in first + rest}


async def test_transfers_between_two_times_are_the_accounts_transfers_in_that_window(
    db: Database,
) -> None:
    mint = await open_mint(db)
    alice, bob = await open_wallets(db, "u:alice", "u:bob")
    await fund(db, mint.id, alice.id, 100)
    start = utcnow()
    await fund(db, mint.id, alice.id, 7)
    async with db.session(write=True) as session:
        await Ledger(session).transfer(Transfer(new_id(), alice.id, bob.id, 5))
    end = utcnow()
    await fund(db, mint.id, alice.id, 1)
    async with db.session() as session:
        window = await Ledger(session).transfers_between(alice.id, start, end)
    assert [(t.amount, t.credit_account_id == alice.id) for t in window] == [(7, True), (5, False)]


async def test_a_large_batch_commits_every_transfer_it_accepts_and_no_other(db: Database) -> None:
    mint = await open_mint(db)
    wallets = await open_wallets(db, *(f"u:{i}" for i in range(10)))
    batch = [Transfer(new_id(), mint.id, w.id, 50) for w in wallets]
    batch += [
        Transfer(new_id(), wallets[i % 10].id, wallets[(i + 1) % 10].id, 7) for i in range(150)
    ]
    batch.append(Transfer(new_id(), wallets[0].id, wallets[1].id, 10_000))  # more than it holds
    async with db.session(write=True) as session:
        outcomes = await Ledger(session).create_transfers(batch)
    assert outcomes == [Outcome.OK] * 160 + [Outcome.EXCEEDS_CREDITS]
    async with db.session() as session:
        ledger = Ledger(session)
        stored = await ledger.transfers(t.id for t in batch)
        accounts = await ledger.accounts(w.id for w in wallets)
        report = await verify(session)
    assert len(stored) == 160 and batch[-1].id not in stored
    assert [accounts[w.id].posted for w in wallets] == [50] * 10  # each gave 105 and got 105
    assert report.ok, report.breaks


async def test_verify_names_a_transfer_whose_account_does_not_exist(db: Database) -> None:
    mint = await open_mint(db)
    (alice,) = await open_wallets(db, "u:alice")
    await fund(db, mint.id, alice.id, 100)
    async with db.session() as session:
        await session.execute(
            text(
                "UPDATE ledger_transfers SET credit_account_id = 424242"
                " WHERE credit_account_id = :a"
            ),
            {"a": alice.id},
        )
    async with db.session() as session:
        report = await verify(session)
    assert any("names missing account 424242" in line for line in report.breaks), report.breaks
