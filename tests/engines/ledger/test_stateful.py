"""Hypothesis drives random sequences of transfers, holds, posts, voids, retries and linked
chains against the real ledger and a ten-line model of what balances must be; after every step
the database agrees with the model, and `verify` finds no break at the end of each run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule
from sqlalchemy import text

from casebook.engines.ledger import AccountKind, Ledger, Outcome, Transfer, TransferKind
from casebook.engines.ledger.verify import verify
from casebook.platform.db import Database

WALLETS = 3


@dataclass
class Hold:
    debit: int
    credit: int
    amount: int
    open: bool = True


class LedgerMachine(RuleBasedStateMachine):
    url: str = ""
    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.db = Database(self.url)
        self.next_id = 1
        self.posted: dict[int, int] = {}
        self.held: dict[int, int] = {}
        self.made: list[Transfer] = []
        self.pending: dict[int, Hold] = {}

    def run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def new_id(self) -> int:
        self.next_id += 1
        return self.next_id

    @initialize()
    def open_accounts(self) -> None:
        async def setup() -> list[int]:
            async with self.db.session(write=True) as session:
                await session.execute(text("DELETE FROM ledger_transfers"))
                await session.execute(text("DELETE FROM ledger_accounts"))
                ledger = Ledger(session)
                mint = await ledger.open_account(
                    owner="bank",
                    name="mint",
                    currency="USD",
                    kind=AccountKind.EQUITY,
                    allow_negative=True,
                )
                ids = [mint.id]
                for i in range(WALLETS):
                    wallet = await ledger.open_account(
                        owner=f"u:{i}", name="wallet", currency="USD", kind=AccountKind.LIABILITY
                    )
                    ids.append(wallet.id)
                    await ledger.transfer(Transfer(self.new_id(), mint.id, wallet.id, 300))
                return ids

        self.accounts = self.run(setup())
        self.mint = self.accounts[0]
        for account in self.accounts:
            self.posted[account] = 0 if account == self.mint else 300
            self.held[account] = 0
        self.posted[self.mint] = -300 * WALLETS

    def teardown(self) -> None:
        async def finish() -> None:
            async with self.db.session() as session:
                report = await verify(session)
            await self.db.dispose()
            assert report.ok, report.breaks

        try:
            if hasattr(self, "accounts"):
                self.run(finish())
        finally:
            self.loop.close()

    def submit(self, transfers: list[Transfer]) -> list[Outcome]:
        async def go() -> list[Outcome]:
            async with self.db.session(write=True) as session:
                return await Ledger(session).create_transfers(transfers)

        return self.run(go())

    def can_spend(self, account: int, amount: int) -> bool:
        # The mint may go negative; a wallet may spend its posted balance less its holds.
        return account == self.mint or self.posted[account] - self.held[account] >= amount

    def move(self, debit: int, credit: int, amount: int) -> None:
        # Balances on each account's normal side: the mint is credit-normal too (equity).
        self.posted[debit] -= amount
        self.posted[credit] += amount

    @rule(
        pair=st.permutations(range(WALLETS + 1)).map(lambda p: p[:2]),
        amount=st.integers(1, 300),
        pending=st.booleans(),
    )
    def transfer(self, pair: tuple[int, int], amount: int, pending: bool) -> None:
        debit, credit = self.accounts[pair[0]], self.accounts[pair[1]]
        kind = TransferKind.PENDING if pending else TransferKind.SINGLE
        transfer = Transfer(self.new_id(), debit, credit, amount, kind=kind)
        (outcome,) = self.submit([transfer])
        if self.can_spend(debit, amount):
            assert outcome is Outcome.OK
            self.made.append(transfer)
            if pending:
                self.held[debit] += amount
                self.pending[transfer.id] = Hold(debit, credit, amount)
            else:
                self.move(debit, credit, amount)
        else:
            assert outcome is Outcome.EXCEEDS_CREDITS

    @rule(data=st.data(), void=st.booleans())
    def resolve(self, data: st.DataObject, void: bool) -> None:
        if not self.pending:
            return
        hold_id = data.draw(st.sampled_from(sorted(self.pending)))
        hold = self.pending[hold_id]
        amount = None if void else data.draw(st.integers(1, hold.amount + 50) | st.none())
        kind = TransferKind.VOID if void else TransferKind.POST
        (outcome,) = self.submit(
            [Transfer(self.new_id(), kind=kind, pending_id=hold_id, amount=amount)]
        )
        if not hold.open:
            assert outcome in (
                Outcome.PENDING_TRANSFER_ALREADY_POSTED,
                Outcome.PENDING_TRANSFER_ALREADY_VOIDED,
            )
            return
        if amount is not None and amount > hold.amount:
            assert outcome is Outcome.EXCEEDS_PENDING_AMOUNT
            return
        assert outcome is Outcome.OK
        hold.open = False
        self.held[hold.debit] -= hold.amount
        if not void:
            self.move(hold.debit, hold.credit, hold.amount if amount is None else amount)

    @rule(data=st.data(), change=st.booleans())
    def retry(self, data: st.DataObject, change: bool) -> None:
        if not self.made:
            return
        earlier = data.draw(st.sampled_from(self.made))
        assert earlier.amount is not None
        again = Transfer(
            earlier.id,
            earlier.debit_account_id,
            earlier.credit_account_id,
            earlier.amount + (1 if change else 0),
            kind=earlier.kind,
        )
        expected = Outcome.EXISTS_WITH_DIFFERENT_FIELDS if change else Outcome.EXISTS
        assert self.submit([again]) == [expected]

    @rule(
        amounts=st.lists(st.integers(1, 400), min_size=2, max_size=3),
        path=st.permutations(range(1, WALLETS + 1)),
    )
    def linked_chain(self, amounts: list[int], path: tuple[int, ...]) -> None:
        """Money hops wallet to wallet; the chain posts only if every hop is covered in turn."""
        hops = [
            (self.accounts[path[i % WALLETS]], self.accounts[path[(i + 1) % WALLETS]])
            for i in range(len(amounts))
        ]
        chain = [
            Transfer(self.new_id(), debit, credit, amount, linked=i < len(amounts) - 1)
            for i, ((debit, credit), amount) in enumerate(zip(hops, amounts, strict=True))
        ]
        trial = dict(self.posted)
        covered = True
        for (debit, credit), amount in zip(hops, amounts, strict=True):
            if trial[debit] - self.held[debit] < amount:
                covered = False
                break
            trial[debit] -= amount
            trial[credit] += amount
        outcomes = self.submit(chain)
        if covered:
            assert outcomes == [Outcome.OK] * len(chain)
            self.posted = trial
            self.made.extend(chain)
        else:
            assert Outcome.EXCEEDS_CREDITS in outcomes
            assert all(
                o in (Outcome.EXCEEDS_CREDITS, Outcome.LINKED_EVENT_FAILED) for o in outcomes
            )

    @invariant()
    def balances_match_the_model(self) -> None:
        if not hasattr(self, "accounts"):
            return

        async def read() -> dict[int, tuple[int, int]]:
            async with self.db.session() as session:
                accounts = await Ledger(session).accounts(self.accounts)
            return {i: (a.posted, a.held) for i, a in accounts.items()}

        actual = self.run(read())
        assert actual == {a: (self.posted[a], self.held[a]) for a in self.accounts}
        assert sum(self.posted.values()) == 0


@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_random_histories_keep_the_books_balanced(database_url: str) -> None:
    LedgerMachine.url = database_url
    LedgerMachine.TestCase.settings = settings(
        max_examples=40,
        stateful_step_count=12,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    )
    LedgerMachine.TestCase().runTest()
