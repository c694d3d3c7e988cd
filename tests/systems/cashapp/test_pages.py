"""The /cashapp/ page: choose a $cashtag, add cash, pay and request, issue a card whose number
is shown once, charge it at the simulated terminal with a boost, all by HTML forms."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.systems.cashapp.conftest import NewUser, balance, register

PAGE = "/cashapp/"
SAME_ORIGIN = {"origin": "http://testserver"}


def sign_in(client: httpx.AsyncClient, token: str) -> None:
    client.cookies.set("casebook_access", token)


@pytest.mark.feature("cashapp", "user-accounts")
async def test_visitors_are_sent_to_log_in_and_new_users_pick_a_cashtag(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get(PAGE)
    assert (response.status_code, response.headers["location"]) == (303, "/login?next=/cashapp/")
    _, token = await register(client)
    sign_in(client, token)
    first = await client.get(PAGE)
    assert "Choose your $cashtag" in first.text
    bad = await client.post(f"{PAGE}profile", data={"cashtag": "$no way"}, headers=SAME_ORIGIN)
    assert bad.status_code == 422 and "$cashtag" in bad.text
    made = await client.post(f"{PAGE}profile", data={"cashtag": "$PageUser"}, headers=SAME_ORIGIN)
    assert made.status_code == 303
    assert "Signed in as <strong>$PageUser</strong>" in (await client.get(PAGE)).text


@pytest.mark.feature("cashapp", "p2p-transfer")
async def test_forms_add_cash_pay_and_refuse_an_overdraft(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, bob = await new_user(), await new_user()
    sign_in(client, alice.token)
    added = await client.post(f"{PAGE}add-cash", data={"amount": "20.50"}, headers=SAME_ORIGIN)
    assert added.status_code == 303
    paid = await client.post(
        f"{PAGE}send",
        data={"to": bob.cashtag, "amount": "5", "note": "lunch", "mode": "pay"},
        headers=SAME_ORIGIN,
    )
    assert paid.status_code == 303
    overdraft = await client.post(
        f"{PAGE}send", data={"to": bob.cashtag, "amount": "16", "mode": "pay"}, headers=SAME_ORIGIN
    )
    assert overdraft.status_code == 409 and "Insufficient funds" in overdraft.text
    page = await client.get(PAGE)
    assert "$15.50" in page.text and f"to {bob.cashtag}: lunch" in page.text
    assert (await balance(client, bob))["balance"] == 500
    cross_site = await client.post(
        f"{PAGE}send",
        data={"to": bob.cashtag, "amount": "1", "mode": "pay"},
        headers={"origin": "https://evil.example"},
    )
    assert cross_site.status_code == 403
    assert (await balance(client, alice))["balance"] == 1_550


@pytest.mark.feature("cashapp", "cash-boost")
async def test_issue_a_card_boost_it_and_charge_it_at_the_terminal(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice = await new_user(cash=10_000)
    sign_in(client, alice.token)
    issued = await client.post(f"{PAGE}card", headers=SAME_ORIGIN)
    assert issued.status_code == 201
    match = re.search(r"(\d{16}) · exp (\d\d/\d{4}) · CVV (\d{3})", issued.text)
    assert match is not None
    pan, expiry, cvv = match.groups()
    page = await client.get(PAGE)
    assert pan not in page.text and f"•••• {pan[-4:]}" in page.text
    card_id = re.search(r"/cashapp/card/(\d+)/boost", page.text)
    assert card_id is not None
    await client.post(
        f"{PAGE}card/{card_id.group(1)}/boost", data={"boost_id": "books-20"}, headers=SAME_ORIGIN
    )
    charged = await client.post(
        f"{PAGE}terminal",
        data={"merchant_id": "book-nook", "pan": pan, "expiry": expiry, "cvv": cvv, "amount": "10"},
        headers=SAME_ORIGIN,
    )
    assert "Network answered 00" in charged.text
    assert (await balance(client, alice))["balance"] == 10_000 - 800
