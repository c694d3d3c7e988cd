"""Fixtures for the Alipay tests: users registered through Alipay's own API, money in their
wallets through the simulated bank, and the system's process state."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from casebook.engines.ledger.verify import verify
from casebook.platform.context import Platform
from casebook.systems.alipay.runtime import Alipay, alipay

API = "/api/alipay"


@dataclass
class User:
    user_id: int
    username: str
    phone: str
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


NewUser = Callable[[], Awaitable[User]]


@pytest.fixture
def state(platform: Platform) -> Alipay:
    return alipay(platform)


@pytest.fixture
def new_user(client: httpx.AsyncClient) -> NewUser:
    """Register through `POST /users/register` and log in by username."""

    async def create() -> User:
        suffix = secrets.token_hex(4)
        username = f"u_{suffix}"
        phone = f"+86138{int(suffix, 16) % 10**8:08d}"
        email = f"{username}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            f"{API}/users/register",
            json={"username": username, "email": email, "password": password, "phone": phone},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post(
            f"{API}/users/login", json={"username": username, "password": password}
        )
        assert login.status_code == 200, login.text
        return User(
            int(registered.json()["id"]),
            username,
            phone,
            email,
            password,
            login.json()["access_token"],
        )

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> User:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> User:
    return await new_user()


async def link_bank(
    client: httpx.AsyncClient, user: User, opening_balance: int = 1_000_000
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/bank-accounts",
        json={"holder_name": user.username, "opening_balance": opening_balance},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def top_up(client: httpx.AsyncClient, user: User, amount: int) -> dict[str, Any]:
    """Link a sandbox bank account holding `amount` and move it all into the wallet."""
    account = await link_bank(client, user, amount)
    response = await client.post(
        f"{API}/topups",
        json={"bank_account_id": account["id"], "amount": amount},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def wallet(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.get(f"{API}/wallet", headers=user.headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def make_merchant(
    client: httpx.AsyncClient, user: User, category: str = "shop"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/merchants",
        json={"name": f"{user.username}'s {category}", "category": category},
        headers=user.headers,
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def books_balance(platform: Platform) -> None:
    """The ledger's invariants hold (every transfer balanced, counters match the postings)."""
    async with platform.db.session() as session:
        report = await verify(session)
    assert report.ok, report.breaks
