"""Profiles: every endpoint needs a signed-in user; $cashtags are unique whatever their case."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from tests.systems.cashapp.conftest import API, NewUser, register

pytestmark = pytest.mark.feature("cashapp", "user-accounts")


async def test_money_endpoints_need_a_bearer_token(client: httpx.AsyncClient) -> None:
    for method, path in (
        ("GET", "/balance"),
        ("POST", "/add-cash"),
        ("POST", "/payments"),
        ("GET", "/activity"),
        ("POST", "/cards"),
    ):
        response = await client.request(method, f"{API}{path}", json={"amount": 1})
        assert response.status_code == 401, path
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_user_without_a_cashtag_is_asked_to_make_one(client: httpx.AsyncClient) -> None:
    _, token = await register(client)
    response = await client.get(f"{API}/balance", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 409
    assert response.json()["type"] == "/problems/cashapp/profile-required"


async def test_cashtags_are_unique_without_regard_to_case(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    await new_user(cashtag="$Alice")
    _, token = await register(client)
    taken = await client.put(
        f"{API}/profile", json={"cashtag": "$ALICE"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert taken.status_code == 409
    assert taken.json()["type"] == "/problems/cashapp/cashtag-taken"


@pytest.mark.parametrize("cashtag", ["$", "$a-b", "$" + "a" * 21, "$ä", "$a b"])
async def test_malformed_cashtags_are_refused(
    client: httpx.AsyncClient, new_user: NewUser, cashtag: str
) -> None:
    user = await new_user()
    response = await client.put(f"{API}/profile", json={"cashtag": cashtag}, headers=user.headers)
    assert response.status_code == 422
    profile = await client.get(f"{API}/profile", headers=user.headers)
    assert profile.json()["cashtag"] == user.cashtag


async def test_two_users_racing_for_one_cashtag_one_wins(client: httpx.AsyncClient) -> None:
    tokens = [(await register(client))[1] for _ in range(4)]
    responses = await asyncio.gather(
        *(
            client.put(
                f"{API}/profile",
                json={"cashtag": f"$Race{'X' if i % 2 else 'x'}"},
                headers={"Authorization": f"Bearer {t}"},
            )
            for i, t in enumerate(tokens)
        )
    )
    assert sorted(r.status_code for r in responses) == [200, 409, 409, 409]


async def test_lookup_by_cashtag_phone_and_email(
    client: httpx.AsyncClient, new_user: NewUser
) -> None:
    shop = await new_user(
        cashtag="$CornerShop", phone="+15551234567", email="Shop@Example.com", is_business=True
    )
    me = await new_user()
    for handle in ("$cornershop", "CornerShop", "+15551234567", "shop@example.com"):
        found = await client.get(f"{API}/lookup", params={"handle": handle}, headers=me.headers)
        assert found.status_code == 200, handle
        assert found.json()["user_id"] == str(shop.user_id)
        assert found.json()["is_business"] is True
        assert "phone" not in found.json()
    missing = await client.get(f"{API}/lookup", params={"handle": "$nobody"}, headers=me.headers)
    assert missing.status_code == 404
