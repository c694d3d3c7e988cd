"""Cash Card: issued once per user with its number shown once and stored only as token + last 4;
freeze and unfreeze; private to its owner."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import text

from casebook.platform.context import Platform
from casebook.systems.cashapp.card_numbers import luhn_valid
from tests.systems.cashapp.conftest import API, NewUser, issue_card

pytestmark = pytest.mark.feature("cashapp", "cash-card")


async def test_issue_shows_the_number_once_and_never_stores_it(
    client: httpx.AsyncClient, new_user: NewUser, platform: Platform
) -> None:
    alice = await new_user()
    card = await issue_card(client, alice)
    assert luhn_valid(card["pan"]) and len(card["pan"]) == 16
    assert card["last4"] == card["pan"][-4:]
    assert card["status"] == "active" and len(card["cvv"]) == 3
    again = await client.get(f"{API}/cards/{card['id']}", headers=alice.headers)
    assert "pan" not in again.json() and "cvv" not in again.json()
    # No column of any table holds the number: dump the card table row by row.
    async with platform.db.session() as session:
        rows = (await session.execute(text("SELECT * FROM cashapp_cards"))).all()
    dumped = repr(rows)
    assert card["pan"] not in dumped and card["pan"][:12] not in dumped
    assert card["last4"] in dumped


async def test_one_card_per_user(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice = await new_user()
    await issue_card(client, alice)
    second = await client.post(f"{API}/cards", headers=alice.headers)
    assert second.status_code == 409
    assert len((await client.get(f"{API}/cards", headers=alice.headers)).json()) == 1


async def test_freeze_and_unfreeze(client: httpx.AsyncClient, new_user: NewUser) -> None:
    alice = await new_user()
    card = await issue_card(client, alice)
    frozen = await client.post(f"{API}/cards/{card['id']}/freeze", headers=alice.headers)
    assert frozen.json()["status"] == "frozen"
    active = await client.post(f"{API}/cards/{card['id']}/unfreeze", headers=alice.headers)
    assert active.json()["status"] == "active"


async def test_the_card_spends_the_linked_balance(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice = await new_user(cash=4_200)
    card = await issue_card(client, alice)
    response = await client.get(f"{API}/cards/{card['id']}/balance", headers=alice.headers)
    assert response.json() == {"card_id": card["id"], "balance": 4_200, "available": 4_200}


async def test_another_users_card_is_not_found(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    alice, mallory = await new_user(), await new_user()
    card = await issue_card(client, alice)
    for method, path in (
        ("GET", ""),
        ("GET", "/balance"),
        ("GET", "/purchases"),
        ("POST", "/freeze"),
        ("DELETE", "/boost"),
    ):
        response = await client.request(
            method, f"{API}/cards/{card['id']}{path}", headers=mallory.headers
        )
        assert response.status_code == 404, path
    boost = await client.put(
        f"{API}/cards/{card['id']}/boost", json={"boost_id": "coffee-10"}, headers=mallory.headers
    )
    assert boost.status_code == 404
    mine = await client.get(f"{API}/cards/{card['id']}", headers=alice.headers)
    assert (mine.json()["status"], mine.json()["boost_id"]) == ("active", None)
