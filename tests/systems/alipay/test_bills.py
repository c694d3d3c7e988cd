"""Bills: billers issue them with amounts and due dates; users pay them; overdue status."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.systems.alipay.conftest import (
    API,
    NewUser,
    User,
    books_balance,
    make_merchant,
    top_up,
    wallet,
)

pytestmark = pytest.mark.feature("alipay", "bill-payment")


async def issue(
    client: httpx.AsyncClient, biller: User, payer: str, amount: int, days: int
) -> httpx.Response:
    due = (utcnow().date() + timedelta(days=days)).isoformat()
    return await client.post(
        f"{API}/bills",
        json={"payer": payer, "amount": amount, "due_date": due, "description": "May"},
        headers=biller.headers,
    )


async def test_bills_show_due_overdue_and_paid(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    await make_merchant(client, bob, "utility")
    await top_up(client, alice, 20_000)
    late = (await issue(client, bob, alice.username, 8_800, -3)).json()
    upcoming = (await issue(client, bob, alice.phone, 4_200, 10)).json()
    assert (late["status"], upcoming["status"]) == ("overdue", "due")
    assert late["category"] == "utility"
    mine = (await client.get(f"{API}/bills", headers=alice.headers)).json()
    assert [b["id"] for b in mine] == [late["id"], upcoming["id"]]
    paid = await client.post(f"{API}/bills/{late['id']}/pay", headers=alice.headers)
    assert paid.status_code == 200
    assert paid.json()["status"] == "paid"
    assert (await wallet(client, alice))["balance"] == 20_000 - 8_800
    by_status = {
        status: [
            b["id"]
            for b in (
                await client.get(f"{API}/bills?status={status}", headers=alice.headers)
            ).json()
        ]
        for status in ("due", "overdue", "paid")
    }
    assert by_status == {"due": [upcoming["id"]], "overdue": [], "paid": [late["id"]]}
    issued = (await client.get(f"{API}/merchants/me/bills", headers=bob.headers)).json()
    assert {b["id"]: b["status"] for b in issued["items"]} == {
        late["id"]: "paid",
        upcoming["id"]: "due",
    }
    assert (await client.get(f"{API}/merchants/me", headers=bob.headers)).json()["balance"] == 8_800
    await books_balance(platform)


async def test_a_bill_is_paid_once_even_when_paid_concurrently(
    client: httpx.AsyncClient, alice: User, bob: User, platform: Platform
) -> None:
    await make_merchant(client, bob, "phone")
    await top_up(client, alice, 20_000)
    bill = (await issue(client, bob, alice.username, 5_000, 5)).json()
    results = await asyncio.gather(
        *(client.post(f"{API}/bills/{bill['id']}/pay", headers=alice.headers) for _ in range(5))
    )
    assert sorted(r.status_code for r in results) == [200] + [409] * 4
    assert (await wallet(client, alice))["balance"] == 15_000
    await books_balance(platform)


async def test_an_unaffordable_bill_stays_unpaid(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob, "credit-card")
    await top_up(client, alice, 100)
    bill = (await issue(client, bob, alice.username, 5_000, 5)).json()
    response = await client.post(f"{API}/bills/{bill['id']}/pay", headers=alice.headers)
    assert response.status_code == 409
    mine = (await client.get(f"{API}/bills", headers=alice.headers)).json()
    assert mine[0]["status"] == "due"


async def test_nobody_else_can_pay_or_see_your_bill(
    client: httpx.AsyncClient, alice: User, bob: User, new_user: NewUser
) -> None:
    await make_merchant(client, bob, "utility")
    mallory = await new_user()
    await top_up(client, mallory, 10_000)
    bill = (await issue(client, bob, alice.username, 1_000, 5)).json()
    response = await client.post(f"{API}/bills/{bill['id']}/pay", headers=mallory.headers)
    assert response.status_code == 404
    assert (await client.get(f"{API}/bills", headers=mallory.headers)).json() == []
    assert (await wallet(client, mallory))["balance"] == 10_000


async def test_only_merchants_issue_bills_to_real_users(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    assert (await issue(client, alice, bob.username, 1_000, 5)).status_code == 403
    await make_merchant(client, bob, "utility")
    assert (await issue(client, bob, "no_such_user", 1_000, 5)).status_code == 404
    assert (await issue(client, bob, bob.username, 1_000, 5)).status_code == 422
    bad_date = await client.post(
        f"{API}/bills",
        json={"payer": alice.username, "amount": 100, "due_date": "tomorrow"},
        headers=bob.headers,
    )
    assert bad_date.status_code == 422
