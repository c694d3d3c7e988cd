"""Wallet balance from ledger postings, transaction history, and notifications."""

from __future__ import annotations

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.alipay.conftest import API, User, make_merchant, top_up, wallet


async def activity(client: httpx.AsyncClient, alice: User, bob: User) -> None:
    """A top-up, a transfer to Bob, a verified and an initiated payment to Bob's shop."""
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 10_000)
    sent = await client.post(
        f"{API}/transfers", json={"to": bob.username, "amount": 1_000}, headers=alice.headers
    )
    assert sent.status_code == 201
    paid = await client.post(
        f"{API}/payments", json={"amount": 2_000, "recipient": shop["id"]}, headers=alice.headers
    )
    await client.post(f"{API}/payments/{paid.json()['id']}/verify", headers=alice.headers)
    held = await client.post(
        f"{API}/payments", json={"amount": 500, "recipient": shop["id"]}, headers=alice.headers
    )
    assert held.status_code == 201


@pytest.mark.feature("alipay", "wallet")
async def test_the_wallet_balance_is_derived_from_postings(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    assert await wallet(client, alice) == {
        "currency": "CNY",
        "balance": 0,
        "available": 0,
        "held": 0,
        "fund_holding": 0,
    }
    await activity(client, alice, bob)
    money = await wallet(client, alice)
    assert (money["balance"], money["available"], money["held"]) == (7_000, 6_500, 500)
    lines = (await client.get(f"{API}/transactions?limit=100", headers=alice.headers)).json()
    assert lines["items"][0]["balance"] == money["balance"]
    assert sum(line["amount"] for line in lines["items"]) == money["balance"]


@pytest.mark.feature("alipay", "transaction-history")
async def test_history_lists_status_amount_counterparty_and_time(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await activity(client, alice, bob)
    page = (await client.get(f"{API}/transactions?limit=3", headers=alice.headers)).json()
    rest = (
        await client.get(f"{API}/transactions?cursor={page['next_cursor']}", headers=alice.headers)
    ).json()
    items = page["items"] + rest["items"]
    assert rest["next_cursor"] is None
    shop = f"{bob.username}'s shop"
    assert [(i["kind"], i["status"], i["amount"], i["counterparty"]) for i in items] == [
        ("payment", "pending", 0, shop),
        ("payment", "completed", -2_000, shop),
        ("payment", "completed", 0, shop),
        ("p2p-transfer", "completed", -1_000, bob.username),
        ("top-up", "completed", 10_000, "Bank"),
    ]
    assert all(i["created_at"] for i in items)
    bobs = (await client.get(f"{API}/transactions", headers=bob.headers)).json()["items"]
    assert [(i["amount"], i["counterparty"]) for i in bobs] == [(1_000, alice.username)]


@pytest.mark.feature("alipay", "transaction-history")
async def test_a_bad_cursor_is_refused(client: httpx.AsyncClient, alice: User) -> None:
    await top_up(client, alice, 100)
    response = await client.get(f"{API}/transactions?cursor=!!", headers=alice.headers)
    assert response.status_code == 422


@pytest.mark.feature("alipay", "notifications")
async def test_users_are_notified_of_payments_and_activity(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await activity(client, alice, bob)
    mine = (await client.get(f"{API}/notifications?limit=100", headers=alice.headers)).json()
    kinds = [n["kind"] for n in mine["items"]]
    assert kinds == [
        "payment.initiated",
        "payment.completed",
        "payment.initiated",
        "transfer.sent",
        "bank.top-up",
    ]
    theirs = (await client.get(f"{API}/notifications", headers=bob.headers)).json()
    assert [n["kind"] for n in theirs["items"]] == [
        "merchant.payment-received",
        "transfer.received",
    ]
    assert "¥20.00" in theirs["items"][0]["message"]


@pytest.mark.feature("alipay", "notifications")
async def test_notifications_are_marked_read_by_their_owner_only(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await top_up(client, alice, 100)
    notice = (await client.get(f"{API}/notifications", headers=alice.headers)).json()["items"][0]
    stolen = await client.post(f"{API}/notifications/{notice['id']}/read", headers=bob.headers)
    assert stolen.status_code == 404
    marked = await client.post(f"{API}/notifications/{notice['id']}/read", headers=alice.headers)
    assert marked.json()["read"] is True
    unread = (await client.get(f"{API}/notifications?unread=true", headers=alice.headers)).json()
    assert unread["items"] == []
