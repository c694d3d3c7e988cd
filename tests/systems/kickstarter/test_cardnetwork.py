"""The simulated card network (its own rules) and wallet top-ups through it."""

from __future__ import annotations

from datetime import date

import httpx
import pytest

from casebook.systems.kickstarter.cardnetwork import (
    ALWAYS_DECLINED,
    NO_FUNDS,
    Card,
    CardNetwork,
    luhn_valid,
)
from casebook.systems.kickstarter.errors import CardDeclined, CardNetworkUnavailable
from tests.systems.kickstarter.conftest import API, CARD, Account, wallet

pytestmark = pytest.mark.feature("kickstarter", "payment-processing")
GOOD = Card("4242424242424242", 12, 2099, "123")


def test_luhn() -> None:
    assert luhn_valid("4242424242424242")
    assert luhn_valid("79927398713")
    assert not luhn_valid("4242424242424241")


async def test_a_charge_uses_up_the_cards_credit() -> None:
    network = CardNetwork(credit_limit=1_000)
    charge = await network.charge("a", GOOD, 600)
    assert (charge.amount, charge.card_last4) == (600, "4242")
    with pytest.raises(CardDeclined) as refused:
        await network.charge("b", GOOD, 401)
    assert refused.value.decline_code == "insufficient_funds"
    assert network.spent(GOOD.number) == 600


async def test_a_repeated_key_charges_once_and_must_match() -> None:
    network = CardNetwork()
    first = await network.charge("k", GOOD, 500)
    assert await network.charge("k", GOOD, 500) == first
    assert network.spent(GOOD.number) == 500
    with pytest.raises(CardDeclined) as mismatch:
        await network.charge("k", GOOD, 501)
    assert mismatch.value.decline_code == "idempotency_mismatch"


@pytest.mark.parametrize(
    ("card", "code"),
    [
        (Card("4242424242424241", 12, 2099, "123"), "invalid_number"),
        (Card("4242424242424242", 1, 2020, "123"), "expired_card"),
        (Card("4242424242424242", 12, 2099, "12"), "invalid_cvc"),
        (Card(ALWAYS_DECLINED, 12, 2099, "123"), "card_declined"),
        (Card(NO_FUNDS, 12, 2099, "123"), "insufficient_funds"),
    ],
)
async def test_the_networks_refusals(card: Card, code: str) -> None:
    network = CardNetwork()
    with pytest.raises(CardDeclined) as refused:
        await network.charge("k", card, 100, today=date(2026, 6, 1))
    assert refused.value.decline_code == code
    assert network.spent(card.number) == 0


async def test_an_outage_charges_nothing() -> None:
    network = CardNetwork(outage=True)
    with pytest.raises(CardNetworkUnavailable):
        await network.charge("k", GOOD, 100)
    network.outage = False
    assert network.spent(GOOD.number) == 0


async def test_a_top_up_credits_the_wallet(client: httpx.AsyncClient, backer: Account) -> None:
    response = await client.post(
        f"{API}/wallet/top-ups", json={"amount": 2_500, "card": CARD}, headers=backer.headers
    )
    assert response.status_code == 201, response.text
    assert response.json()["card_last4"] == "4242"
    funds = await wallet(client, backer)
    assert (funds["balance"], funds["available"], funds["currency"]) == (2_500, 2_500, "USD")


async def test_a_declined_card_adds_nothing(client: httpx.AsyncClient, backer: Account) -> None:
    card = {**CARD, "number": ALWAYS_DECLINED}
    response = await client.post(
        f"{API}/wallet/top-ups", json={"amount": 2_500, "card": card}, headers=backer.headers
    )
    assert response.status_code == 402
    assert response.json()["code"] == "card_declined"
    assert (await wallet(client, backer))["balance"] == 0


async def test_a_wallet_is_private(client: httpx.AsyncClient) -> None:
    assert (await client.get(f"{API}/wallet")).status_code == 401
    top = await client.post(f"{API}/wallet/top-ups", json={"amount": 100, "card": CARD})
    assert top.status_code == 401
