"""Cash Boost: a discount on the purchase amount at the boost's merchant, funded by CashApp's
boost account so the merchant still gets the full price; one boost per card."""

from __future__ import annotations

import httpx
import pytest

from casebook.engines.ledger import Ledger
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.cashapp.accounts import boost_funding, card_settlement
from tests.systems.cashapp.conftest import API, NewUser, authorize, balance, issue_card

pytestmark = pytest.mark.feature("cashapp", "cash-boost")


async def add_boost(
    client: httpx.AsyncClient, headers: dict[str, str], card_id: str, boost_id: str
) -> httpx.Response:
    return await client.put(
        f"{API}/cards/{card_id}/boost", json={"boost_id": boost_id}, headers=headers
    )


async def test_the_boost_discounts_the_purchase_not_the_balance(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=50_000), await new_user()
    card = await issue_card(client, alice)
    assert (await add_boost(client, alice.headers, card["id"], "books-20")).status_code == 200
    approved = await authorize(client, shop, card, 2_500, merchant_id="book-nook")
    # 20 % of the 25.00 purchase; a balance-based discount would have been capped at 15.00.
    assert (approved["amount"], approved["discount"]) == (2_500, 500)
    assert (await balance(client, alice))["held"] == 2_000
    await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/capture",
        json={"merchant_id": "book-nook"},
        headers=shop.headers,
    )
    assert (await balance(client, alice))["balance"] == 48_000
    async with platform.db.session() as session:
        ledger = Ledger(session)
        assert (await boost_funding(ledger)).posted == 500
        # The merchant side is owed the full price: 2,000 from the wallet + 500 from boosts.
        assert (await card_settlement(ledger)).posted == -2_500
        assert (await verify(session)).ok


async def test_the_discount_is_capped_and_recomputed_on_a_smaller_capture(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, shop = await new_user(cash=10_000), await new_user()
    card = await issue_card(client, alice)
    await add_boost(client, alice.headers, card["id"], "coffee-10")  # 10 %, at most 2.00
    approved = await authorize(client, shop, card, 5_000, merchant_id="corner-coffee")
    assert approved["discount"] == 200
    captured = await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/capture",
        json={"merchant_id": "corner-coffee", "amount": 1_200},
        headers=shop.headers,
    )
    assert (captured.json()["amount"], captured.json()["discount"]) == (1_200, 120)
    after = await balance(client, alice)
    assert (after["balance"], after["held"]) == (10_000 - 1_080, 0)


async def test_no_discount_at_other_merchants(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    await add_boost(client, alice.headers, card["id"], "coffee-10")
    approved = await authorize(client, shop, card, 900, merchant_id="green-grocer")
    assert approved["discount"] == 0
    assert (await balance(client, alice))["held"] == 900


async def test_one_boost_at_a_time(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice, shop = await new_user(cash=10_000), await new_user()
    card = await issue_card(client, alice)
    await add_boost(client, alice.headers, card["id"], "coffee-10")
    replaced = await add_boost(client, alice.headers, card["id"], "grocer-5")
    assert replaced.json()["boost_id"] == "grocer-5"
    coffee = await authorize(client, shop, card, 1_000, merchant_id="corner-coffee")
    grocer = await authorize(client, shop, card, 1_000, merchant_id="green-grocer")
    assert (coffee["discount"], grocer["discount"]) == (0, 50)
    removed = await client.delete(f"{API}/cards/{card['id']}/boost", headers=alice.headers)
    assert removed.json()["boost_id"] is None
    assert (await authorize(client, shop, card, 1_000, merchant_id="green-grocer"))["discount"] == 0


async def test_unknown_boost_is_refused(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice = await new_user()
    card = await issue_card(client, alice)
    response = await add_boost(client, alice.headers, card["id"], "free-money")
    assert response.status_code == 404
    offers = await client.get(f"{API}/boosts", headers=alice.headers)
    assert {b["id"] for b in offers.json()} >= {"coffee-10", "books-20"}


async def test_an_insufficient_boosted_purchase_holds_nothing(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=899), await new_user()
    card = await issue_card(client, alice)
    await add_boost(client, alice.headers, card["id"], "coffee-10")
    declined = await authorize(client, shop, card, 1_000, merchant_id="corner-coffee")
    assert declined["code"] == "51"
    assert (await balance(client, alice))["held"] == 0
    async with platform.db.session() as session:
        assert (await boost_funding(Ledger(session))).held == 0
        assert (await verify(session)).ok
    approved = await authorize(client, shop, card, 998, merchant_id="corner-coffee")
    assert (approved["approved"], approved["discount"]) == (True, 99)
    assert (await balance(client, alice))["available"] == 0
