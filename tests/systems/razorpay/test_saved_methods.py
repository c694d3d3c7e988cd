"""Saved cards: customers, cards tokenised by the (simulated) card network vault, paid with by
token, updated and removed; the card number is stored nowhere in Razorpay's tables."""

from __future__ import annotations

from datetime import date
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.systems.razorpay.gateways import Card
from casebook.systems.razorpay.models import CardToken
from casebook.systems.razorpay.runtime import Razorpay
from casebook.systems.razorpay.vault import CardVault, UnknownToken, VaultRefused
from tests.systems.razorpay.conftest import CARD, V1, Merchant

TODAY = date(2026, 6, 1)


@pytest.mark.feature("razorpay", "saved-methods")
def test_vault_tokenises_and_forgets() -> None:
    vault = CardVault()
    card = Card("4111111111111111", 12, 2099, "123", "Asha")
    first, second = vault.tokenize(card, TODAY), vault.tokenize(card, TODAY)
    assert first != second and "4111" not in first
    resolved = vault.detokenize(first, "456")
    assert resolved.number == card.number and resolved.cvv == "456"
    assert vault.delete(first) and not vault.delete(first)
    with pytest.raises(UnknownToken):
        vault.detokenize(first, "456")
    assert len(vault) == 1
    with pytest.raises(VaultRefused):
        vault.tokenize(Card("4111111111111112", 12, 2099, "123"), TODAY)
    with pytest.raises(VaultRefused):
        vault.tokenize(Card("4111111111111111", 5, 2026, "123"), TODAY)


async def new_customer(client: httpx.AsyncClient, merchant: Merchant) -> dict[str, Any]:
    response = await client.post(
        f"{V1}/customers",
        json={"name": "Asha", "email": "asha@example.com", "contact": "+919900000001"},
        headers=merchant.basic,
    )
    assert response.status_code == 200, response.text
    customer: dict[str, Any] = response.json()
    return customer


async def pay(client: httpx.AsyncClient, merchant: Merchant, **fields: Any) -> httpx.Response:
    body = {"amount": 10_000, "currency": "INR", "method": "card", "capture": True, **fields}
    return await client.post(f"{V1}/payments/create/json", json=body, headers=merchant.basic)


@pytest.mark.feature("razorpay", "saved-methods")
async def test_save_a_card_pay_with_it_and_remove_it(
    client: httpx.AsyncClient, merchant: Merchant, platform: Platform, state: Razorpay
) -> None:
    customer = await new_customer(client, merchant)
    assert customer["id"].startswith("cust_")
    saved = await pay(client, merchant, card=CARD, customer_id=customer["id"], save=1)
    assert saved.status_code == 200, saved.text
    token_id = saved.json()["token_id"]
    tokens = await client.get(f"{V1}/customers/{customer['id']}/tokens", headers=merchant.basic)
    (token,) = tokens.json()["items"]
    assert token["id"] == token_id
    assert token["card"]["last4"] == "1111" and token["card"]["network"] == "Visa"
    assert "4111111111111111" not in tokens.text
    async with platform.db.session() as session:
        row = await session.scalar(select(CardToken))
        assert row is not None and row.network_token.startswith("ntk_")
        assert "4111111111111111" not in repr(row.__dict__)

    by_token = await pay(client, merchant, customer_id=customer["id"], token=token_id, cvv="123")
    assert by_token.status_code == 200, by_token.text
    assert by_token.json()["status"] == "captured"
    assert by_token.json()["card"]["last4"] == "1111"
    used = await client.get(
        f"{V1}/customers/{customer['id']}/tokens/{token_id}", headers=merchant.basic
    )
    assert used.json()["used_at"] is not None

    edited = await client.put(
        f"{V1}/customers/{customer['id']}", json={"name": "Asha R"}, headers=merchant.basic
    )
    assert edited.json()["name"] == "Asha R" and edited.json()["email"] == "asha@example.com"

    removed = await client.delete(
        f"{V1}/customers/{customer['id']}/tokens/{token_id}", headers=merchant.basic
    )
    assert removed.json() == {"deleted": True}
    assert len(state.vault) == 0
    gone = await pay(client, merchant, customer_id=customer["id"], token=token_id, cvv="123")
    assert gone.status_code == 404


@pytest.mark.feature("razorpay", "saved-methods")
async def test_customers_and_cards_are_the_merchants_own(
    client: httpx.AsyncClient, merchant: Merchant, other_merchant: Merchant
) -> None:
    customer = await new_customer(client, merchant)
    saved = await pay(client, merchant, card=CARD, customer_id=customer["id"], save=1)
    token_id = saved.json()["token_id"]
    base = f"{V1}/customers/{customer['id']}"
    assert (await client.get(base, headers=other_merchant.basic)).status_code == 404
    assert (await client.get(f"{base}/tokens", headers=other_merchant.basic)).status_code == 404
    assert (
        await client.delete(f"{base}/tokens/{token_id}", headers=other_merchant.basic)
    ).status_code == 404
    stolen = await pay(
        client, other_merchant, customer_id=customer["id"], token=token_id, cvv="123"
    )
    assert stolen.status_code == 404
    assert (await client.get(f"{V1}/customers", headers=other_merchant.basic)).json()["count"] == 0
    # Bad requests change nothing.
    no_customer = await pay(client, merchant, token=token_id, cvv="123")
    assert no_customer.status_code == 422
    assert no_customer.json()["error"]["field"] == "customer_id"
    save_without_customer = await pay(client, merchant, card=CARD, save=1)
    assert save_without_customer.status_code == 422
    bad_email = await client.post(
        f"{V1}/customers", json={"email": "not-an-email"}, headers=merchant.basic
    )
    assert bad_email.status_code == 422
    tokens = await client.get(f"{base}/tokens", headers=merchant.basic)
    assert tokens.json()["count"] == 1
