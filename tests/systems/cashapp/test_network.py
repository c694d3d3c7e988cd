"""The card network simulator's own rules, driven against the real issuer."""

from __future__ import annotations

import time

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.systems.cashapp.card_numbers import luhn_check_digit
from casebook.systems.cashapp.issuer import AuthorizationRequest
from casebook.systems.cashapp.runtime import cashapp
from tests.systems.cashapp.conftest import API, NewUser, authorize, balance, issue_card

pytestmark = pytest.mark.feature("cashapp", "card-purchases")


async def test_numbers_failing_luhn_or_routing_never_reach_the_issuer(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    typo = card["pan"][:-1] + str((int(card["pan"][-1]) + 1) % 10)
    assert (await authorize(client, shop, card, 100, pan=typo))["code"] == "14"
    other_bin = "5100000000000" + "00"
    other_bin += luhn_check_digit(other_bin)
    assert (await authorize(client, shop, card, 100, pan=other_bin))["code"] == "15"
    listed = await client.get(f"{API}/cards/{card['id']}/purchases", headers=alice.headers)
    assert listed.json()["items"] == []
    assert (await balance(client, alice))["held"] == 0


async def test_unknown_merchants_cannot_use_the_network(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    body = {
        "merchant_id": "nowhere",
        "pan": card["pan"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "amount": 100,
    }
    response = await client.post(f"{API}/network/authorizations", json=body, headers=shop.headers)
    assert response.status_code == 404
    merchants = await client.get(f"{API}/network/merchants", headers=shop.headers)
    assert "hardware-hub" in {m["id"] for m in merchants.json()}


async def test_only_the_authorizing_terminal_may_capture_and_only_once(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, shop, other = await new_user(cash=1_000), await new_user(), await new_user()
    card = await issue_card(client, alice)
    approved = await authorize(client, shop, card, 500)
    url = f"{API}/network/authorizations/{approved['network_ref']}/capture"
    stranger = await client.post(url, json={"merchant_id": "hardware-hub"}, headers=other.headers)
    assert stranger.status_code == 404
    wrong_shop = await client.post(url, json={"merchant_id": "book-nook"}, headers=shop.headers)
    assert wrong_shop.status_code == 404
    too_much = await client.post(
        url, json={"merchant_id": "hardware-hub", "amount": 501}, headers=shop.headers
    )
    assert too_much.json()["code"] == "13"
    first = await client.post(url, json={"merchant_id": "hardware-hub"}, headers=shop.headers)
    second = await client.post(url, json={"merchant_id": "hardware-hub"}, headers=shop.headers)
    assert (first.json()["code"], second.json()["code"]) == ("00", "12")
    assert (await balance(client, alice))["balance"] == 500


async def test_a_lost_issuer_response_is_reversed_by_the_network(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    cashapp(platform).network.settings.lose_responses = 1
    lost = await authorize(client, shop, card, 700)
    assert (lost["approved"], lost["code"]) == (False, "91")
    assert (await balance(client, alice))["available"] == 1_000
    listed = await client.get(f"{API}/cards/{card['id']}/purchases", headers=alice.headers)
    assert [p["status"] for p in listed.json()["items"]] == ["reversed"]
    assert (await authorize(client, shop, card, 700))["approved"] is True


async def test_latency_knob_delays_each_issuer_call(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    cashapp(platform).network.settings.latency_seconds = 0.15
    started = time.perf_counter()
    assert (await authorize(client, shop, card, 10))["approved"]
    assert time.perf_counter() - started >= 0.15


async def test_the_issuer_answers_a_retried_message_without_holding_twice(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice = await new_user(cash=1_000)
    card = await issue_card(client, alice)
    message = AuthorizationRequest(
        network_ref="00000000000000aa",
        pan=card["pan"],
        exp_month=card["exp_month"],
        exp_year=card["exp_year"],
        cvv=card["cvv"],
        merchant_id="hardware-hub",
        merchant_name="Hardware Hub",
        amount=400,
    )
    issuer = cashapp(platform).issuer
    first, retry = await issuer.authorize(message), await issuer.authorize(message)
    assert first == retry and first.approved
    assert (await balance(client, alice))["held"] == 400
