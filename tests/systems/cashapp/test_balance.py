"""Balance and activity: add cash, cash out, and a feed of every movement with its status."""

from __future__ import annotations

import httpx
import pytest

from tests.systems.cashapp.conftest import API, NewUser, balance

pytestmark = pytest.mark.feature("cashapp", "balance")


async def test_add_cash_and_cash_out(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice = await new_user()
    added = await client.post(f"{API}/add-cash", json={"amount": 2_000}, headers=alice.headers)
    assert added.json() == {
        "user_id": str(alice.user_id),
        "currency": "USD",
        "balance": 2_000,
        "held": 0,
        "available": 2_000,
    }
    out = await client.post(f"{API}/cash-out", json={"amount": 1_500}, headers=alice.headers)
    assert out.json()["balance"] == 500
    too_much = await client.post(f"{API}/cash-out", json={"amount": 501}, headers=alice.headers)
    assert too_much.status_code == 409
    assert (await balance(client, alice))["balance"] == 500


async def test_activity_lists_every_movement_newest_first_with_running_balance(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=1_000), await new_user(cash=300)
    await client.post(
        f"{API}/payments",
        json={"to": bob.cashtag, "amount": 250, "note": "tickets"},
        headers=alice.headers,
    )
    await client.post(
        f"{API}/payments", json={"to": alice.cashtag, "amount": 100}, headers=bob.headers
    )
    first = await client.get(f"{API}/activity", params={"limit": 2}, headers=alice.headers)
    body = first.json()
    assert [(i["kind"], i["amount"], i["balance"]) for i in body["items"]] == [
        ("payment", 100, 850),
        ("payment", -250, 750),
    ]
    assert body["items"][0]["description"] == f"from {bob.cashtag}"
    assert body["items"][1]["description"] == f"to {bob.cashtag}: tickets"
    rest = await client.get(
        f"{API}/activity", params={"cursor": body["next_cursor"]}, headers=alice.headers
    )
    assert [(i["kind"], i["amount"]) for i in rest.json()["items"]] == [("add-cash", 1_000)]
    assert rest.json()["next_cursor"] is None


async def test_the_seeds_account_endpoints_answer_only_for_yourself(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=700), await new_user(cash=5)
    await client.post(
        f"{API}/payments", json={"to": bob.cashtag, "amount": 7}, headers=alice.headers
    )
    mine = await client.get(f"{API}/accounts/{alice.user_id}/balance", headers=alice.headers)
    assert mine.json()["balance"] == 693
    history = await client.get(
        f"{API}/accounts/{alice.user_id}/transactions", headers=alice.headers
    )
    assert [(p["amount"], p["status"]) for p in history.json()["items"]] == [(7, "completed")]
    for path in ("balance", "transactions"):
        theirs = await client.get(f"{API}/accounts/{bob.user_id}/{path}", headers=alice.headers)
        assert theirs.status_code == 404


async def test_a_read_only_api_key_cannot_move_money(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice = await new_user(cash=100)
    created = await client.post(
        "/api/auth/api-keys",
        json={"name": "reader", "scopes": ["cashapp:read"]},
        headers=alice.headers,
    )
    key = {"X-API-Key": created.json()["key"]}
    assert (await client.get(f"{API}/balance", headers=key)).json()["balance"] == 100
    denied = await client.post(f"{API}/cash-out", json={"amount": 100}, headers=key)
    assert denied.status_code == 403
    assert (await balance(client, alice))["balance"] == 100
