"""The simulated bank on its own: balances, references, declines, failures, settlement file."""

from __future__ import annotations

import asyncio
import csv
import io

import pytest

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay.bank import (
    SETTLEMENT_COLUMNS,
    BankBehaviour,
    SimulatedBank,
)
from casebook.systems.alipay.errors import BankDeclined, BankUnavailable

pytestmark = pytest.mark.feature("alipay", "bank-settlement")


@pytest.fixture
def bank(platform: Platform) -> SimulatedBank:
    return SimulatedBank(platform.db)


async def test_debit_and_credit_move_the_balance(bank: SimulatedBank) -> None:
    account = await bank.open_account("Li Lei", 10_000)
    debit = await bank.debit(account.account_number, 2_500, "ref-1")
    await bank.credit(account.account_number, 1_000, "ref-2")
    assert debit.direction == "debit" and debit.amount == 2_500
    after = await bank.account(account.account_number)
    assert after is not None and after.balance == 8_500


async def test_a_debit_beyond_the_balance_is_declined_and_changes_nothing(
    bank: SimulatedBank,
) -> None:
    account = await bank.open_account("Han Meimei", 1_000)
    with pytest.raises(BankDeclined):
        await bank.debit(account.account_number, 1_001, "too-much")
    after = await bank.account(account.account_number)
    assert after is not None and after.balance == 1_000
    assert await bank.movement("too-much") is None


async def test_a_repeated_reference_answers_the_first_receipt_and_moves_nothing(
    bank: SimulatedBank,
) -> None:
    account = await bank.open_account("Li Lei", 10_000)
    first = await bank.debit(account.account_number, 3_000, "once")
    again = await bank.debit(account.account_number, 3_000, "once")
    assert again == first
    with pytest.raises(BankDeclined):
        await bank.debit(account.account_number, 4_000, "once")
    after = await bank.account(account.account_number)
    assert after is not None and after.balance == 7_000


async def test_concurrent_debits_never_overdraw(bank: SimulatedBank) -> None:
    account = await bank.open_account("Li Lei", 5_000)
    results = await asyncio.gather(
        *(bank.debit(account.account_number, 1_000, f"c-{i}") for i in range(8)),
        return_exceptions=True,
    )
    assert sum(1 for r in results if not isinstance(r, Exception)) == 5
    assert all(isinstance(r, BankDeclined) for r in results if isinstance(r, Exception))
    after = await bank.account(account.account_number)
    assert after is not None and after.balance == 0


async def test_concurrent_repeats_of_one_reference_book_once(
    bank: SimulatedBank, platform: Platform
) -> None:
    account = await bank.open_account("Li Lei", 5_000)
    receipts = await asyncio.gather(
        *(bank.debit(account.account_number, 700, "same") for _ in range(6))
    )
    assert len({r.bank_reference for r in receipts}) == 1
    after = await bank.account(account.account_number)
    assert after is not None and after.balance == 4_300


async def test_an_unreachable_bank_does_nothing(platform: Platform) -> None:
    bank = SimulatedBank(platform.db, BankBehaviour(failure_rate=1.0))
    account = await bank.open_account("Li Lei", 5_000)
    with pytest.raises(BankUnavailable):
        await bank.debit(account.account_number, 100, "down")
    assert await bank.movement("down") is None


async def test_a_lost_reply_still_books_the_movement(platform: Platform) -> None:
    bank = SimulatedBank(platform.db, BankBehaviour(lost_reply_rate=1.0))
    account = await bank.open_account("Li Lei", 5_000)
    with pytest.raises(BankUnavailable):
        await bank.debit(account.account_number, 100, "lost")
    booked = await bank.movement("lost")
    assert booked is not None and booked.amount == 100


async def test_credit_to_a_closed_or_unknown_account_is_declined(
    bank: SimulatedBank, platform: Platform
) -> None:
    with pytest.raises(BankDeclined):
        await bank.credit("6200000000000000000", 100, "nowhere")


async def test_settlement_file_lists_the_days_movements(bank: SimulatedBank) -> None:
    account = await bank.open_account("Li Lei", 10_000)
    await bank.debit(account.account_number, 1_200, "alipay:topup:1")
    await bank.credit(account.account_number, 300, "alipay:withdrawal:2")
    rows = list(csv.reader(io.StringIO(await bank.settlement_file(utcnow().date()))))
    assert tuple(rows[0]) == SETTLEMENT_COLUMNS
    lines = {(r[1], r[2], r[3], r[4], r[5]) for r in rows[1:]}
    assert lines == {
        ("alipay:topup:1", account.account_number, "debit", "1200", "CNY"),
        ("alipay:withdrawal:2", account.account_number, "credit", "300", "CNY"),
    }
    other_day = await bank.settlement_file(utcnow().date().replace(year=2000))
    assert other_day.strip().split("\n") == [",".join(SETTLEMENT_COLUMNS)]


async def test_latency_knob_delays_calls(platform: Platform) -> None:
    bank = SimulatedBank(platform.db, BankBehaviour(latency_seconds=0.1))
    account = await bank.open_account("Li Lei", 10_000)
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bank.debit(account.account_number, 1, "slow")
    assert loop.time() - started >= 0.1
