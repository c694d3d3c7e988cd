"""P2P payments and requests: atomic, never overdrawn, paid at most once, private to the parties."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from tests.systems.cashapp.conftest import API, NewUser, balance

pytestmark = pytest.mark.feature("cashapp", "p2p-transfer")


async def test_sending_money_moves_it_between_balances(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=5_000), await new_user()
    sent = await client.post(
        f"{API}/payments",
        json={"to": bob.cashtag.upper(), "amount": 1_250, "note": "pizza"},
        headers=alice.headers,
    )
    assert sent.status_code == 201, sent.text
    body = sent.json()
    assert (body["status"], body["direction"], body["amount"]) == ("completed", "out", 1_250)
    assert body["payee"]["cashtag"] == bob.cashtag
    assert (await balance(client, alice))["balance"] == 3_750
    assert (await balance(client, bob))["balance"] == 1_250


async def test_paying_a_business_by_email(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice = await new_user(cash=900)
    shop = await new_user(email="till@shop.example", is_business=True)
    sent = await client.post(
        f"{API}/payments", json={"to": "till@shop.example", "amount": 900}, headers=alice.headers
    )
    assert sent.status_code == 201
    assert sent.json()["payee"]["is_business"] is True
    assert (await balance(client, shop))["balance"] == 900


async def test_insufficient_funds_is_refused_and_records_nothing(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=100), await new_user()
    refused = await client.post(
        f"{API}/payments", json={"to": bob.cashtag, "amount": 101}, headers=alice.headers
    )
    assert refused.status_code == 409
    assert refused.json()["type"] == "/problems/ledger/exceeds-credits"
    listed = await client.get(f"{API}/payments", headers=alice.headers)
    assert listed.json()["items"] == []
    assert (await balance(client, alice))["balance"] == 100


@pytest.mark.parametrize(
    "body",
    [
        {"to": "$x", "amount": 0},
        {"to": "$x", "amount": -5},
        {"to": "$x", "amount": 1.5},
        {"to": "$x", "amount": 100_000_001},
        {"to": "$x", "amount": 10, "note": "n" * 141},
        {"amount": 10},
        {"to": "$x", "amount": 10, "sender_id": "1"},
    ],
)
async def test_bad_payment_input_is_a_422_and_moves_nothing(
    client: httpx.AsyncClient, new_user: NewUser, body: dict[str, object]
) -> None:
    alice = await new_user(cash=100)
    response = await client.post(f"{API}/payments", json=body, headers=alice.headers)
    assert response.status_code == 422
    assert (await balance(client, alice))["balance"] == 100


async def test_paying_yourself_or_nobody_is_refused(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice = await new_user(cash=100)
    me = await client.post(
        f"{API}/payments", json={"to": alice.cashtag, "amount": 1}, headers=alice.headers
    )
    assert me.status_code == 422
    nobody = await client.post(
        f"{API}/payments", json={"to": "$nobody00", "amount": 1}, headers=alice.headers
    )
    assert nobody.status_code == 404


async def test_a_retried_payment_with_its_idempotency_key_is_sent_once(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=1_000), await new_user()
    headers = {**alice.headers, "Idempotency-Key": "pay-bob-1"}
    first = await client.post(
        f"{API}/payments", json={"to": bob.cashtag, "amount": 300}, headers=headers
    )
    again = await client.post(
        f"{API}/payments", json={"to": bob.cashtag, "amount": 300}, headers=headers
    )
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json()["id"] == first.json()["id"]
    assert (await balance(client, bob))["balance"] == 300


async def test_concurrent_sends_never_overdraw(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, bob, carol = await new_user(cash=1_000), await new_user(), await new_user()
    responses = await asyncio.gather(
        *(
            client.post(
                f"{API}/payments",
                json={"to": (bob if i % 2 else carol).cashtag, "amount": 150},
                headers=alice.headers,
            )
            for i in range(12)
        )
    )
    codes = sorted(r.status_code for r in responses)
    assert codes == [201] * 6 + [409] * 6
    assert (await balance(client, alice))["balance"] == 100
    received = (await balance(client, bob))["balance"] + (await balance(client, carol))["balance"]
    assert received == 900
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_a_request_moves_money_only_when_accepted(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=1_000), await new_user()
    asked = await client.post(
        f"{API}/requests",
        json={"from": alice.cashtag, "amount": 400, "note": "rent"},
        headers=bob.headers,
    )
    assert asked.status_code == 201
    request_id = asked.json()["id"]
    assert asked.json()["status"] == "pending"
    assert (await balance(client, alice))["balance"] == 1_000
    pending = await client.get(f"{API}/payments", params={"pending": "true"}, headers=alice.headers)
    assert [p["id"] for p in pending.json()["items"]] == [request_id]
    # The requester cannot accept their own request.
    wrong = await client.post(f"{API}/requests/{request_id}/accept", headers=bob.headers)
    assert wrong.status_code == 409
    paid = await client.post(f"{API}/requests/{request_id}/accept", headers=alice.headers)
    assert paid.status_code == 200
    assert paid.json()["status"] == "completed"
    assert (await balance(client, alice))["balance"] == 600
    assert (await balance(client, bob))["balance"] == 400
    again = await client.post(f"{API}/requests/{request_id}/decline", headers=alice.headers)
    assert again.status_code == 409


async def test_declined_and_cancelled_requests_move_nothing(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=1_000), await new_user()
    first = await client.post(
        f"{API}/requests", json={"from": alice.cashtag, "amount": 10}, headers=bob.headers
    )
    second = await client.post(
        f"{API}/requests", json={"from": alice.cashtag, "amount": 20}, headers=bob.headers
    )
    declined = await client.post(
        f"{API}/requests/{first.json()['id']}/decline", headers=alice.headers
    )
    assert declined.json()["status"] == "declined"
    cancelled = await client.post(
        f"{API}/requests/{second.json()['id']}/cancel", headers=bob.headers
    )
    assert cancelled.json()["status"] == "cancelled"
    late = await client.post(f"{API}/requests/{second.json()['id']}/accept", headers=alice.headers)
    assert late.status_code == 409
    assert (await balance(client, alice))["balance"] == 1_000


async def test_accepting_without_funds_leaves_the_request_pending(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(cash=50), await new_user()
    asked = await client.post(
        f"{API}/requests", json={"from": alice.cashtag, "amount": 80}, headers=bob.headers
    )
    refused = await client.post(
        f"{API}/requests/{asked.json()['id']}/accept", headers=alice.headers
    )
    assert refused.status_code == 409
    still = await client.get(f"{API}/payments/{asked.json()['id']}", headers=alice.headers)
    assert still.json()["status"] == "pending"
    await client.post(f"{API}/add-cash", json={"amount": 30}, headers=alice.headers)
    paid = await client.post(f"{API}/requests/{asked.json()['id']}/accept", headers=alice.headers)
    assert paid.status_code == 200
    assert (await balance(client, alice))["balance"] == 0


async def test_concurrent_accepts_pay_a_request_once(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, bob = await new_user(cash=1_000), await new_user()
    asked = await client.post(
        f"{API}/requests", json={"from": alice.cashtag, "amount": 300}, headers=bob.headers
    )
    url = f"{API}/requests/{asked.json()['id']}/accept"
    responses = await asyncio.gather(*(client.post(url, headers=alice.headers) for _ in range(8)))
    assert sorted(r.status_code for r in responses) == [200] + [409] * 7
    assert (await balance(client, alice))["balance"] == 700
    assert (await balance(client, bob))["balance"] == 300
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_nobody_else_can_see_or_answer_a_payment(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob, mallory = await new_user(cash=500), await new_user(), await new_user(cash=500)
    asked = await client.post(
        f"{API}/requests", json={"from": alice.cashtag, "amount": 100}, headers=bob.headers
    )
    payment_id = asked.json()["id"]
    assert (
        await client.get(f"{API}/payments/{payment_id}", headers=mallory.headers)
    ).status_code == 404
    for action in ("accept", "decline", "cancel"):
        response = await client.post(
            f"{API}/requests/{payment_id}/{action}", headers=mallory.headers
        )
        assert response.status_code == 404
    assert (await client.get(f"{API}/payments", headers=mallory.headers)).json()["items"] == []
    assert (await balance(client, mallory))["balance"] == 500
    still = await client.get(f"{API}/payments/{payment_id}", headers=alice.headers)
    assert still.json()["status"] == "pending"
