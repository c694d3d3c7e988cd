"""Mobile payments to merchants: the seed's initiate → verify flow, with a status."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from casebook.platform.context import Platform
from tests.systems.alipay.conftest import (
    API,
    NewUser,
    User,
    books_balance,
    make_merchant,
    top_up,
    wallet,
)

pytestmark = pytest.mark.feature("alipay", "mobile-payment")


async def initiate(
    client: httpx.AsyncClient, payer: User, merchant_id: str, amount: int
) -> httpx.Response:
    return await client.post(
        f"{API}/payments",
        json={"amount": amount, "recipient": merchant_id, "description": "coffee"},
        headers=payer.headers,
    )


async def test_initiate_reserves_and_verify_completes_the_payment(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 10_000)
    created = await initiate(client, alice, shop["id"], 2_800)
    assert created.status_code == 201
    payment = created.json()
    assert payment["status"] == "initiated"
    money = await wallet(client, alice)
    assert (money["balance"], money["available"], money["held"]) == (10_000, 7_200, 2_800)
    verified = await client.post(f"{API}/payments/{payment['id']}/verify", headers=alice.headers)
    assert verified.status_code == 200
    assert verified.json()["status"] == "completed"
    assert (await wallet(client, alice))["balance"] == 7_200
    takings = (await client.get(f"{API}/merchants/me", headers=bob.headers)).json()
    assert takings["balance"] == 2_800
    await books_balance(platform)


async def test_verifying_again_does_not_mint_another_transaction(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 10_000)
    payment = (await initiate(client, alice, shop["id"], 1_000)).json()
    results = await asyncio.gather(
        *(
            client.post(f"{API}/payments/{payment['id']}/verify", headers=alice.headers)
            for _ in range(5)
        )
    )
    assert [r.status_code for r in results] == [200] * 5
    assert {r.json()["transaction_id"] for r in results} == {payment["transaction_id"]}
    assert (await wallet(client, alice))["balance"] == 9_000
    assert (await client.get(f"{API}/merchants/me", headers=bob.headers)).json()["balance"] == 1_000
    await books_balance(platform)


async def test_cancel_releases_the_reservation(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    payment = (await initiate(client, alice, shop["id"], 4_000)).json()
    cancelled = await client.post(f"{API}/payments/{payment['id']}/cancel", headers=alice.headers)
    assert cancelled.json()["status"] == "cancelled"
    money = await wallet(client, alice)
    assert (money["balance"], money["available"]) == (5_000, 5_000)
    late = await client.post(f"{API}/payments/{payment['id']}/verify", headers=alice.headers)
    assert late.status_code == 409
    assert late.json()["type"] == "/problems/alipay/payment-closed"


async def test_paying_more_than_the_wallet_holds_is_refused(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 500)
    response = await initiate(client, alice, shop["id"], 501)
    assert response.status_code == 409
    page = (await client.get(f"{API}/merchants/me/payments", headers=bob.headers)).json()
    assert page["items"] == []


async def test_concurrent_payments_never_overdraw(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 3_000)
    results = await asyncio.gather(*(initiate(client, alice, shop["id"], 1_000) for _ in range(6)))
    assert sorted(r.status_code for r in results) == [201] * 3 + [409] * 3
    assert (await wallet(client, alice))["available"] == 0
    await books_balance(platform)


async def test_only_the_payer_may_verify_and_only_payer_or_merchant_may_see(
    client: httpx.AsyncClient, alice: User, bob: User, new_user: NewUser
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    payment = (await initiate(client, alice, shop["id"], 1_000)).json()
    mallory = await new_user()
    for who, expected in ((mallory, 404), (bob, 200), (alice, 200)):
        seen = await client.get(f"{API}/payments/{payment['id']}", headers=who.headers)
        assert seen.status_code == expected
    stolen = await client.post(f"{API}/payments/{payment['id']}/verify", headers=mallory.headers)
    assert stolen.status_code == 404
    by_merchant = await client.post(f"{API}/payments/{payment['id']}/verify", headers=bob.headers)
    assert by_merchant.status_code == 404
    assert (await wallet(client, alice))["held"] == 1_000


async def test_bad_payment_requests_are_refused(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    assert (await initiate(client, alice, shop["id"], 0)).status_code == 422
    assert (await initiate(client, alice, shop["id"], -5)).status_code == 422
    assert (await initiate(client, alice, "12345", 100)).status_code == 404
    own = await make_merchant(client, alice)
    assert (await initiate(client, alice, own["id"], 100)).status_code == 422
    assert (await wallet(client, alice))["available"] == 5_000


async def test_merchants_see_their_transactions(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    shop = await make_merchant(client, bob)
    await top_up(client, alice, 5_000)
    for amount in (100, 200, 300):
        payment = (await initiate(client, alice, shop["id"], amount)).json()
        await client.post(f"{API}/payments/{payment['id']}/verify", headers=alice.headers)
    page = (await client.get(f"{API}/merchants/me/payments?limit=2", headers=bob.headers)).json()
    assert [(p["amount"], p["payer"], p["status"]) for p in page["items"]] == [
        (300, alice.username, "completed"),
        (200, alice.username, "completed"),
    ]
    rest = (
        await client.get(
            f"{API}/merchants/me/payments?cursor={page['next_cursor']}", headers=bob.headers
        )
    ).json()
    assert [p["amount"] for p in rest["items"]] == [100]
    not_merchant = await client.get(f"{API}/merchants/me/payments", headers=alice.headers)
    assert not_merchant.status_code == 403
