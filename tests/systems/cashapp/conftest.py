"""Fixtures for the CashApp tests: signed-in users with a $cashtag and some cash."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

API = "/api/cashapp"


@dataclass
class User:
    user_id: int
    cashtag: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def register(client: httpx.AsyncClient) -> tuple[int, str]:
    email = f"user-{secrets.token_hex(4)}@example.com"
    password = secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "T"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    return int(registered.json()["id"]), login.json()["access_token"]


NewUser = Callable[..., Awaitable[User]]


@pytest.fixture
def new_user(client: httpx.AsyncClient) -> NewUser:
    """A registered user with a CashApp profile and `cash` cents added from the bank."""

    async def create(cash: int = 0, **profile: Any) -> User:
        user_id, token = await register(client)
        cashtag = profile.pop("cashtag", f"$u{secrets.token_hex(5)}")
        headers = {"Authorization": f"Bearer {token}"}
        saved = await client.put(
            f"{API}/profile", json={"cashtag": cashtag, **profile}, headers=headers
        )
        assert saved.status_code == 200, saved.text
        if cash:
            added = await client.post(f"{API}/add-cash", json={"amount": cash}, headers=headers)
            assert added.status_code == 200, added.text
        return User(user_id, cashtag, token)

    return create


async def balance(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.get(f"{API}/balance", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def issue_card(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.post(f"{API}/cards", headers=user.headers)
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def authorize(
    client: httpx.AsyncClient,
    terminal: User,
    card: dict[str, Any],
    amount: int,
    merchant_id: str = "hardware-hub",
    **overrides: Any,
) -> dict[str, Any]:
    """A purchase at `merchant_id`, sent by `terminal`'s user acting as the merchant terminal."""
    body = {
        "merchant_id": merchant_id,
        "pan": card["pan"],
        "exp_month": card["exp_month"],
        "exp_year": card["exp_year"],
        "cvv": card["cvv"],
        "amount": amount,
        **overrides,
    }
    response = await client.post(
        f"{API}/network/authorizations", json=body, headers=terminal.headers
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result
