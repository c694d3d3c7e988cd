"""Card purchases: the network's authorization holds money on the balance; capture settles it
(possibly for less), reversal or expiry releases it; frozen cards and short balances decline."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from casebook.engines.ledger.expiry import expire_holds
from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from tests.systems.cashapp.conftest import API, NewUser, authorize, balance, issue_card

pytestmark = pytest.mark.feature("cashapp", "card-purchases")


async def purchases(
    client: httpx.AsyncClient, user_headers: dict[str, str], card_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{API}/cards/{card_id}/purchases", headers=user_headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_an_authorization_holds_and_a_capture_settles(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=5_000), await new_user()
    card = await issue_card(client, alice)
    approved = await authorize(client, shop, card, 1_800)
    assert (approved["approved"], approved["code"], approved["amount"]) == (True, "00", 1_800)
    held = await balance(client, alice)
    assert (held["balance"], held["held"], held["available"]) == (5_000, 1_800, 3_200)
    assert [p["status"] for p in await purchases(client, alice.headers, card["id"])] == ["pending"]

    captured = await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/capture",
        json={"merchant_id": "hardware-hub", "amount": 1_500},
        headers=shop.headers,
    )
    assert captured.json()["code"] == "00" and captured.json()["amount"] == 1_500
    after = await balance(client, alice)
    assert (after["balance"], after["held"], after["available"]) == (3_500, 0, 3_500)
    (purchase,) = await purchases(client, alice.headers, card["id"])
    assert (purchase["status"], purchase["captured_amount"], purchase["charged"]) == (
        "captured",
        1_500,
        1_500,
    )
    feed = (await client.get(f"{API}/activity", headers=alice.headers)).json()["items"]
    assert feed[0]["description"] == "card: Hardware Hub (post)"
    assert feed[0]["amount"] == -1_500
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_a_reversal_releases_the_hold(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    approved = await authorize(client, shop, card, 600)
    reversed_ = await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/reverse",
        json={"merchant_id": "hardware-hub"},
        headers=shop.headers,
    )
    assert reversed_.json()["code"] == "00"
    assert (await balance(client, alice))["available"] == 1_000
    late = await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/capture",
        json={"merchant_id": "hardware-hub"},
        headers=shop.headers,
    )
    assert late.json()["approved"] is False
    assert (await balance(client, alice))["balance"] == 1_000


async def test_short_balance_frozen_card_and_wrong_cvv_decline_and_are_recorded(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, shop = await new_user(cash=500), await new_user()
    card = await issue_card(client, alice)
    short = await authorize(client, shop, card, 501)
    assert (short["approved"], short["code"], short["reason"]) == (
        False,
        "51",
        "insufficient_funds",
    )
    wrong_cvv = await authorize(client, shop, card, 10, cvv=f"{(int(card['cvv']) + 1) % 1000:03d}")
    assert wrong_cvv["code"] == "N7"
    wrong_expiry = await authorize(client, shop, card, 10, exp_year=card["exp_year"] + 1)
    assert wrong_expiry["approved"] is False
    await client.post(f"{API}/cards/{card['id']}/freeze", headers=alice.headers)
    frozen = await authorize(client, shop, card, 10)
    assert (frozen["code"], frozen["reason"]) == ("62", "card_frozen")
    await client.post(f"{API}/cards/{card['id']}/unfreeze", headers=alice.headers)
    assert (await authorize(client, shop, card, 500))["approved"] is True
    reasons = [p["decline_reason"] for p in await purchases(client, alice.headers, card["id"])]
    assert reasons == [None, "card_frozen", "expiry_mismatch", "cvv_mismatch", "insufficient_funds"]
    assert (await balance(client, alice))["available"] == 0


async def test_an_uncaptured_hold_expires_and_cannot_be_captured(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    approved = await authorize(client, shop, card, 400)
    # Move the hold's deadline into the past instead of waiting a week for it.
    async with platform.db.session() as session:
        await session.execute(
            text("UPDATE ledger_transfers SET timeout_at = :t WHERE pending_status = 'pending'"),
            {"t": utcnow() - timedelta(seconds=1)},
        )
    assert [p["status"] for p in await purchases(client, alice.headers, card["id"])] == ["expired"]
    # The ledger's own expiry job (every 10 s) may have voided it first; either way, once.
    assert await expire_holds(platform.db) in (0, 1)
    assert await expire_holds(platform.db) == 0
    assert (await balance(client, alice))["available"] == 1_000
    late = await client.post(
        f"{API}/network/authorizations/{approved['network_ref']}/capture",
        json={"merchant_id": "hardware-hub"},
        headers=shop.headers,
    )
    assert (late.json()["approved"], late.json()["reason"]) == (False, "authorization_expired")
    assert (await balance(client, alice))["balance"] == 1_000
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_concurrent_purchases_never_spend_more_than_the_balance(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    results = await asyncio.gather(*(authorize(client, shop, card, 300) for _ in range(8)))
    approved = [r for r in results if r["approved"]]
    assert len(approved) == 3
    assert {r["code"] for r in results if not r["approved"]} == {"51"}
    captures = await asyncio.gather(
        *(
            client.post(
                f"{API}/network/authorizations/{r['network_ref']}/capture",
                json={"merchant_id": "hardware-hub"},
                headers=shop.headers,
            )
            for r in approved
        )
    )
    assert all(c.json()["approved"] for c in captures)
    after = await balance(client, alice)
    assert (after["balance"], after["held"]) == (100, 0)
    async with platform.db.session() as session:
        assert (await verify(session)).ok


async def test_racing_capture_and_reversal_resolve_the_hold_once(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    """The issuer side alone (no network state in the way): the ledger arbitrates."""
    from casebook.systems.cashapp.runtime import cashapp

    alice, shop = await new_user(cash=1_000), await new_user()
    card = await issue_card(client, alice)
    approved = await authorize(client, shop, card, 700)
    issuer = cashapp(platform).issuer
    capture, reverse = await asyncio.gather(
        issuer.capture(approved["network_ref"], None), issuer.reverse(approved["network_ref"])
    )
    assert sorted([capture.approved, reverse.approved]) == [False, True]
    expected = 300 if capture.approved else 1_000
    after = await balance(client, alice)
    assert (after["balance"], after["held"]) == (expected, 0)
    (purchase,) = await purchases(client, alice.headers, card["id"])
    assert purchase["status"] == ("captured" if capture.approved else "reversed")
    async with platform.db.session() as session:
        assert (await verify(session)).ok
