"""Daily reconciliation of the bank's settlement file against the ledger."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.alipay import reconciliation
from casebook.systems.alipay.bank import BankBehaviour
from casebook.systems.alipay.models import Reconciliation
from casebook.systems.alipay.reconciliation import Break, Movement, match, parse_settlement
from casebook.systems.alipay.runtime import Alipay, reconcile_job
from tests.systems.alipay.conftest import API, User, link_bank, top_up

pytestmark = pytest.mark.feature("alipay", "bank-settlement")


async def a_days_business(client: httpx.AsyncClient, alice: User, bob: User) -> list[str]:
    """Two top-ups and a withdrawal; answers their references."""
    first = await top_up(client, alice, 8_000)
    second = await top_up(client, bob, 3_000)
    withdrawal = await client.post(
        f"{API}/withdrawals",
        json={"bank_account_id": first["bank_account_id"], "amount": 2_500},
        headers=alice.headers,
    )
    assert withdrawal.status_code == 201
    return [first["reference"], second["reference"], withdrawal.json()["reference"]]


async def test_a_clean_day_matches_every_line(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay, platform: Platform
) -> None:
    await a_days_business(client, alice, bob)
    today = utcnow().date()
    report = await reconciliation.reconcile(
        platform.db, today, await state.bank.settlement_file(today)
    )
    assert report.matched == 3 and report.clean


async def test_a_deliberately_broken_file_reports_every_break(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay, platform: Platform
) -> None:
    topup_a, topup_b, withdrawal = await a_days_business(client, alice, bob)
    today = utcnow().date()
    lines = (await state.bank.settlement_file(today)).strip().split("\n")
    header, body = lines[0], lines[1:]
    edited = []
    for line in body:
        fields = line.split(",")
        if fields[1] == topup_b:
            continue  # the bank "lost" this line
        if fields[1] == topup_a:
            fields[4] = str(int(fields[4]) + 1)  # and got this amount wrong
        edited.append(",".join(fields))
    withdrawal_line = next(line for line in edited if withdrawal in line)
    edited.append(withdrawal_line)  # listed twice
    edited.append("SB1,alipay:topup:999,6200,debit,700,CNY,2026-01-01T00:00:00+00:00")
    edited.append("SB2,alipay:topup:998,6200,debit,seven,CNY,2026-01-01T00:00:00+00:00")
    report = await reconciliation.reconcile(platform.db, today, "\n".join([header, *edited]))
    kinds = sorted((b.kind, b.reference) for b in report.breaks)
    assert kinds == sorted(
        [
            ("amount-mismatch", topup_a),
            ("missing-in-bank", topup_b),
            ("duplicate-in-bank", withdrawal),
            ("missing-in-ledger", "alipay:topup:999"),
            ("unreadable-line", "alipay:topup:998"),
        ]
    )
    assert report.matched == 1
    mismatch = next(b for b in report.breaks if b.kind == "amount-mismatch")
    assert (mismatch.bank_amount, mismatch.ledger_amount) == (8_001, 8_000)
    async with platform.db.session() as session:
        stored = await session.scalar(select(Reconciliation).where(Reconciliation.day == today))
        assert stored is not None and len(stored.breaks) == 5


async def test_a_movement_we_never_settled_is_missing_in_the_ledger(
    client: httpx.AsyncClient, alice: User, state: Alipay, platform: Platform
) -> None:
    account = await link_bank(client, alice, 5_000)
    state.bank.behaviour = BankBehaviour(lost_reply_rate=1.0)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": 1_000},
        headers=alice.headers,
    )
    assert response.status_code == 503
    state.bank.behaviour = BankBehaviour()
    today = utcnow().date()
    report = await reconciliation.reconcile(
        platform.db, today, await state.bank.settlement_file(today)
    )
    assert [(b.kind, b.bank_amount) for b in report.breaks] == [("missing-in-ledger", 1_000)]


async def test_a_re_run_replaces_the_days_report(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay, platform: Platform
) -> None:
    await a_days_business(client, alice, bob)
    today = utcnow().date()
    header = (await state.bank.settlement_file(today)).split("\n")[0]
    broken = await reconciliation.reconcile(platform.db, today, header + "\n")
    assert len(broken.breaks) == 3
    fixed = await reconciliation.reconcile(
        platform.db, today, await state.bank.settlement_file(today)
    )
    assert fixed.clean
    async with platform.db.session() as session:
        rows = list(await session.scalars(select(Reconciliation)))
    assert [(r.day, r.matched, r.breaks) for r in rows] == [(today, 3, [])]


async def test_the_scheduled_job_reconciles_and_keeps_the_file(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    await a_days_business(client, alice, bob)
    today = utcnow().date()
    await reconcile_job(platform, {"day": today.isoformat()})
    stored = await platform.blobs.get(f"alipay/settlement/{today.isoformat()}.csv")
    assert stored.count(b"\n") == 4
    async with platform.db.session() as session:
        row = await session.scalar(select(Reconciliation))
        assert row is not None and row.matched == 3 and row.breaks == []


def test_matching_rules() -> None:
    bank = [Movement("a", "debit", 100), Movement("b", "credit", 50)]
    ledger = {"a": Movement("a", "debit", 100), "b": Movement("b", "debit", 50)}
    report = match(utcnow().date(), bank, ledger)
    assert report.matched == 1
    assert report.breaks == [Break("direction-mismatch", "b", 50, 50, "bank credit, ledger debit")]


def test_a_file_without_the_settlement_header_is_refused() -> None:
    with pytest.raises(ValueError):
        parse_settlement("reference,amount\nx,1\n")
    movements, unreadable = parse_settlement(
        "bank_reference,reference,account_number,direction,amount,currency,booked_at\n"
        "SB1,r1,62,debit,100,USD,t\n"
    )
    assert movements == [] and [b.kind for b in unreadable] == ["unreadable-line"]


async def test_yesterday_is_not_todays_business(
    client: httpx.AsyncClient, alice: User, bob: User, state: Alipay, platform: Platform
) -> None:
    await a_days_business(client, alice, bob)
    yesterday = utcnow().date() - timedelta(days=1)
    report = await reconciliation.reconcile(
        platform.db, yesterday, await state.bank.settlement_file(yesterday)
    )
    assert report.matched == 0 and report.clean
