"""The /alipay/ page: wallet, scan-to-pay, bills and fund, over the same services as the API."""

from __future__ import annotations

import re

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput
from casebook.systems.alipay.pages import parse_yuan
from tests.systems.alipay.conftest import API, User, make_merchant, top_up, wallet

PAGE = "/alipay/"
SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, user: User) -> None:
    client.cookies.set("casebook_access", user.token)


@pytest.mark.feature("alipay", "wallet")
async def test_visitors_are_sent_to_log_in(client: httpx.AsyncClient) -> None:
    response = await client.get(PAGE)
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/alipay/"


@pytest.mark.feature("alipay", "wallet")
async def test_the_page_shows_my_wallet_and_bank(
    client: httpx.AsyncClient, alice: User, platform: Platform
) -> None:
    sign_in(client, alice)
    opened = await client.post(
        f"{PAGE}bank-account", data={"opening_balance": "500"}, headers=SAME_ORIGIN
    )
    assert opened.status_code == 303
    accounts = (await client.get(f"{API}/bank-accounts", headers=alice.headers)).json()
    topped = await client.post(
        f"{PAGE}bank-order",
        data={"kind": "top-up", "bank_account_id": accounts[0]["id"], "amount": "123.45"},
        headers=SAME_ORIGIN,
    )
    assert topped.status_code == 303
    page = await client.get(PAGE)
    assert page.status_code == 200
    assert re.search(r'data-testid="balance">¥123\.45<', page.text)
    assert "Topped up ¥123.45 from your bank." in page.text


@pytest.mark.feature("alipay", "qr-payment")
async def test_the_till_shows_a_qr_code_that_the_scan_form_pays_once(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob)
    await top_up(client, alice, 10_000)
    sign_in(client, bob)
    assert (
        await client.post(f"{PAGE}qr", data={"amount": "12.00"}, headers=SAME_ORIGIN)
    ).status_code == 303
    till = await client.get(PAGE)
    assert '<div class="alipay-qr" data-testid="qr"><svg' in till.text
    payload = re.search(r'class="alipay-payload">([^<]+)<', till.text)
    assert payload is not None
    sign_in(client, alice)
    paid = await client.post(f"{PAGE}scan", data={"payload": payload[1]}, headers=SAME_ORIGIN)
    assert paid.status_code == 303
    again = await client.post(f"{PAGE}scan", data={"payload": payload[1]}, headers=SAME_ORIGIN)
    assert again.status_code == 409
    assert "already paid" in again.text
    assert (await wallet(client, alice))["balance"] == 8_800


@pytest.mark.feature("alipay", "money-transfer")
async def test_a_refused_form_shows_why_and_changes_nothing(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await top_up(client, alice, 1_000)
    sign_in(client, alice)
    response = await client.post(
        f"{PAGE}transfer", data={"to": bob.username, "amount": "10.01"}, headers=SAME_ORIGIN
    )
    assert response.status_code == 409
    assert 'role="alert">Insufficient funds' in response.text
    bad = await client.post(
        f"{PAGE}transfer", data={"to": bob.username, "amount": "ten"}, headers=SAME_ORIGIN
    )
    assert bad.status_code == 422
    assert (await wallet(client, alice))["balance"] == 1_000
    assert (await wallet(client, bob))["balance"] == 0


@pytest.mark.feature("alipay", "bill-payment")
async def test_bills_and_fund_from_the_page(
    client: httpx.AsyncClient, alice: User, bob: User
) -> None:
    await make_merchant(client, bob, "utility")
    await top_up(client, alice, 10_000)
    sign_in(client, bob)
    issued = await client.post(
        f"{PAGE}bill",
        data={"payer": alice.username, "amount": "30", "due_date": "2000-01-01"},
        headers=SAME_ORIGIN,
    )
    assert issued.status_code == 303
    sign_in(client, alice)
    page = await client.get(PAGE)
    assert 'class="status-overdue">overdue<' in page.text
    bill_id = (await client.get(f"{API}/bills", headers=alice.headers)).json()[0]["id"]
    assert (await client.post(f"{PAGE}bills/{bill_id}/pay", headers=SAME_ORIGIN)).status_code == 303
    assert (
        await client.post(
            f"{PAGE}fund", data={"direction": "subscribe", "amount": "50"}, headers=SAME_ORIGIN
        )
    ).status_code == 303
    money = await wallet(client, alice)
    assert (money["balance"], money["fund_holding"]) == (2_000, 5_000)


@pytest.mark.feature("alipay", "wallet")
async def test_cross_site_posts_are_refused(client: httpx.AsyncClient, alice: User) -> None:
    sign_in(client, alice)
    response = await client.post(
        f"{PAGE}fund",
        data={"direction": "subscribe", "amount": "1"},
        headers={"origin": "http://evil.example"},
    )
    assert response.status_code == 403


def test_yuan_amounts_parse_to_fen() -> None:
    assert [parse_yuan(v) for v in ("1", "1.5", "12.34", " 0.01 ")] == [100, 150, 1234, 1]
    for bad in ("0", "-1", "1.234", "1e3", ""):
        with pytest.raises(InvalidInput):
            parse_yuan(bad)
