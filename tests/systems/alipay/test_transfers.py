"""Transfers to friends, family and businesses: atomic and idempotent."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.alipay.conftest import API, NewUser, User, books_balance, top_up, wallet

pytestmark = pytest.mark.feature("alipay", "money-transfer")


async def send(
    client: httpx.AsyncClient, sender: User, to: str, amount: int, key: str | None = None
) -> httpx.Response:
    headers = dict(sender.headers)
    if key:
        headers["Idempotency-Key"] = key
    return await client.post(
        f"{API}/transfers", json={"to": to, "amount": amount, "memo": "dinner"}, headers=headers
    )


@pytest.mark.parametrize("handle", ["username", "phone", "email"])
async def test_send_money_by_username_phone_or_email(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform, handle: str
) -> None:
    await top_up(client, alice, 10_000)
    response = await send(client, alice, getattr(bob, handle), 2_500)
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["sender_id"], body["recipient_id"], body["amount"]) == (
        str(alice.user_id),
        str(bob.user_id),
        2_500,
    )
    assert (await wallet(client, alice))["balance"] == 7_500
    assert (await wallet(client, bob))["balance"] == 2_500
    for user in (alice, bob):
        listed = (await client.get(f"{API}/transfers", headers=user.headers)).json()
        assert [t["id"] for t in listed["items"]] == [body["id"]]
    await books_balance(platform)


async def test_a_transfer_beyond_the_balance_moves_nothing(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await top_up(client, alice, 1_000)
    response = await send(client, alice, bob.username, 1_001)
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/ledger/exceeds-credits"
    assert (await wallet(client, alice))["balance"] == 1_000
    assert (await wallet(client, bob))["balance"] == 0
    assert (await client.get(f"{API}/transfers", headers=alice.headers)).json()["items"] == []


async def test_bad_transfers_are_refused(client: httpx.AsyncClient, alice: User, bob: User) -> None:
    await top_up(client, alice, 1_000)
    assert (await send(client, alice, "no_such_user", 1)).status_code == 404
    assert (await send(client, alice, alice.username, 1)).status_code == 422
    assert (await send(client, alice, bob.username, 0)).status_code == 422
    assert (await send(client, alice, bob.username, 10**11)).status_code == 422
    assert (await wallet(client, alice))["balance"] == 1_000


async def test_a_retried_transfer_with_the_same_key_moves_money_once(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await top_up(client, alice, 10_000)
    first = await send(client, alice, bob.username, 3_000, key="rent-may")
    second = await send(client, alice, bob.username, 3_000, key="rent-may")
    assert first.status_code == second.status_code == 201
    assert first.json()["id"] == second.json()["id"]
    other_body = await send(client, alice, bob.username, 3_001, key="rent-may")
    assert other_body.status_code == 422
    assert (await wallet(client, bob))["balance"] == 3_000


async def test_concurrent_transfers_never_overdraw(
    client: httpx.AsyncClient, alice: User, new_user: NewUser, platform: Platform
) -> None:
    friends = [await new_user() for _ in range(4)]
    await top_up(client, alice, 5_000)
    results = await asyncio.gather(
        *(send(client, alice, friends[i % 4].username, 1_000) for i in range(8))
    )
    assert sorted(r.status_code for r in results) == [201] * 5 + [409] * 3
    assert (await wallet(client, alice))["balance"] == 0
    received = [(await wallet(client, f))["balance"] for f in friends]
    assert sum(received) == 5_000
    await books_balance(platform)


async def test_transfers_in_both_directions_at_once_stay_balanced(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    await top_up(client, alice, 3_000)
    await top_up(client, bob, 3_000)
    await asyncio.gather(
        *(send(client, alice, bob.username, 100) for _ in range(5)),
        *(send(client, bob, alice.username, 200) for _ in range(5)),
    )
    assert (await wallet(client, alice))["balance"] == 3_500
    assert (await wallet(client, bob))["balance"] == 2_500
    await books_balance(platform)
