"""Top-ups from and withdrawals to linked bank accounts through the simulated bank."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.systems.alipay import banking
from casebook.systems.alipay.bank import BankAccount, BankBehaviour
from casebook.systems.alipay.models import BankOrder
from casebook.systems.alipay.runtime import Alipay
from tests.systems.alipay.conftest import API, User, books_balance, link_bank, top_up, wallet

pytestmark = [
    pytest.mark.feature("alipay", "bank-settlement"),
    pytest.mark.feature("alipay", "wallet"),
]


async def bank_balance(client: httpx.AsyncClient, user: User) -> int:
    accounts = (await client.get(f"{API}/bank-accounts", headers=user.headers)).json()
    return int(accounts[0]["bank_balance"])


async def test_top_up_moves_money_from_the_bank_into_the_wallet(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    account = await link_bank(client, alice, 50_000)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": 12_345},
        headers=alice.headers,
    )
    assert response.status_code == 201
    order = response.json()
    assert order["status"] == "completed" and order["bank_reference"].startswith("SB")
    assert (await wallet(client, alice))["balance"] == 12_345
    assert await bank_balance(client, alice) == 50_000 - 12_345
    await books_balance(platform)


async def test_withdrawal_pays_out_to_the_bank(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    topped = await top_up(client, alice, 10_000)
    response = await client.post(
        f"{API}/withdrawals",
        json={"bank_account_id": topped["bank_account_id"], "amount": 4_000},
        headers=alice.headers,
    )
    assert response.status_code == 201, response.text
    assert response.json()["status"] == "completed"
    money = await wallet(client, alice)
    assert (money["balance"], money["held"]) == (6_000, 0)
    assert await bank_balance(client, alice) == 4_000
    await books_balance(platform)


async def test_withdrawing_more_than_the_wallet_holds_changes_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    topped = await top_up(client, alice, 1_000)
    response = await client.post(
        f"{API}/withdrawals",
        json={"bank_account_id": topped["bank_account_id"], "amount": 1_001},
        headers=alice.headers,
    )
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/ledger/exceeds-credits"
    assert (await wallet(client, alice))["balance"] == 1_000
    assert await bank_balance(client, alice) == 0
    orders = (await client.get(f"{API}/bank-orders", headers=alice.headers)).json()
    assert [o["kind"] for o in orders] == ["top-up"]


async def test_a_declined_top_up_is_recorded_as_failed_and_moves_nothing(
    client: httpx.AsyncClient, alice: User
) -> None:
    account = await link_bank(client, alice, 500)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": 501},
        headers=alice.headers,
    )
    assert response.status_code == 402
    assert response.json()["type"] == "/problems/alipay/bank-declined"
    assert (await wallet(client, alice))["balance"] == 0
    orders = (await client.get(f"{API}/bank-orders", headers=alice.headers)).json()
    assert [(o["status"], o["kind"]) for o in orders] == [("failed", "top-up")]


async def test_a_declined_withdrawal_releases_its_hold(
    client: httpx.AsyncClient, alice: User, state: Alipay, platform: Platform
) -> None:
    topped = await top_up(client, alice, 3_000)
    async with platform.db.session() as session:
        account = await session.scalar(select(BankAccount))
        assert account is not None
        account.closed = True
    response = await client.post(
        f"{API}/withdrawals",
        json={"bank_account_id": topped["bank_account_id"], "amount": 1_000},
        headers=alice.headers,
    )
    assert response.status_code == 402
    money = await wallet(client, alice)
    assert (money["balance"], money["available"], money["held"]) == (3_000, 3_000, 0)
    await books_balance(platform)


async def test_a_lost_bank_reply_leaves_the_order_pending_until_resolved(
    client: httpx.AsyncClient, alice: User, state: Alipay, platform: Platform
) -> None:
    account = await link_bank(client, alice, 9_000)
    state.bank.behaviour = BankBehaviour(lost_reply_rate=1.0)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": 2_000},
        headers=alice.headers,
    )
    assert response.status_code == 503
    assert (await wallet(client, alice))["balance"] == 0
    assert await bank_balance(client, alice) == 7_000  # the bank did move it
    state.bank.behaviour = BankBehaviour()
    assert await banking.resolve_pending(platform.db, state.bank, older_than=timedelta(0)) == 1
    assert await banking.resolve_pending(platform.db, state.bank, older_than=timedelta(0)) == 0
    assert (await wallet(client, alice))["balance"] == 2_000
    async with platform.db.session() as session:
        order = await session.scalar(select(BankOrder))
        assert order is not None and order.status == "completed"
    await books_balance(platform)


async def test_an_unreachable_bank_fails_the_pending_withdrawal_on_resolution(
    client: httpx.AsyncClient, alice: User, state: Alipay, platform: Platform
) -> None:
    topped = await top_up(client, alice, 5_000)
    state.bank.behaviour = BankBehaviour(failure_rate=1.0)
    response = await client.post(
        f"{API}/withdrawals",
        json={"bank_account_id": topped["bank_account_id"], "amount": 2_000},
        headers=alice.headers,
    )
    assert response.status_code == 503
    assert (await wallet(client, alice))["available"] == 3_000  # held while unknown
    state.bank.behaviour = BankBehaviour()
    await banking.resolve_pending(platform.db, state.bank, older_than=timedelta(0))
    money = await wallet(client, alice)
    assert (money["balance"], money["available"]) == (5_000, 5_000)
    await books_balance(platform)


async def test_another_users_bank_account_cannot_be_used(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    account = await link_bank(client, alice, 9_000)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": 100},
        headers=bob.headers,
    )
    assert response.status_code == 404
    assert (await client.get(f"{API}/bank-accounts", headers=bob.headers)).json() == []
    assert await bank_balance(client, alice) == 9_000


async def test_the_sandbox_opening_balance_is_capped(
    client: httpx.AsyncClient, alice: User, state: Alipay
) -> None:
    response = await client.post(
        f"{API}/bank-accounts",
        json={"holder_name": "x", "opening_balance": state.config.bank_opening_balance_max + 1},
        headers=alice.headers,
    )
    assert response.status_code == 422


async def test_concurrent_withdrawals_never_overdraw_the_wallet(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    topped = await top_up(client, alice, 5_000)
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/withdrawals",
                json={"bank_account_id": topped["bank_account_id"], "amount": 1_000},
                headers=alice.headers,
            )
            for _ in range(8)
        )
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [201] * 5 + [409] * 3
    assert (await wallet(client, alice))["balance"] == 0
    assert await bank_balance(client, alice) == 5_000
    await books_balance(platform)


async def test_a_retried_top_up_with_the_same_key_moves_money_once(
    client: httpx.AsyncClient, alice: User
) -> None:
    account = await link_bank(client, alice, 9_000)
    request = {"bank_account_id": account["id"], "amount": 1_500}
    headers = {**alice.headers, "Idempotency-Key": "topup-1"}
    first = await client.post(f"{API}/topups", json=request, headers=headers)
    second = await client.post(f"{API}/topups", json=request, headers=headers)
    assert first.status_code == second.status_code == 201
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert first.json() == second.json()
    assert (await wallet(client, alice))["balance"] == 1_500
