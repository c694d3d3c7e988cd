"""Fixtures for the Stock Exchange tests: platform users made through the auth service, and
through the seed's own /register and /login; a compliance officer; verified funded traders."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.stock_exchange import staff

NewUserId = Callable[[], Awaitable[int]]


@pytest.fixture
def new_user_id(platform: Platform) -> NewUserId:
    """Registers a user (through the auth service, cheap argon2 of the test settings)."""

    async def create() -> int:
        async with platform.db.session() as session:
            user = await register_user(
                session,
                f"se-{secrets.token_hex(5)}@example.com",
                secrets.token_urlsafe(12),
                "Trader",
                settings=platform.settings,
            )
            return user.id

    return create


API = "/api/stock-exchange"


@dataclass
class Member:
    user_id: int
    account_id: int
    headers: dict[str, str]


async def seed_register(client: httpx.AsyncClient) -> Member:
    email = f"t-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    created = await client.post(f"{API}/register", json={"username": email, "password": password})
    assert created.status_code == 201, created.text
    assert created.json()["message"] == "User successfully registered"
    login = await client.post(f"{API}/login", json={"username": email, "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    body = created.json()
    return Member(int(body["user_id"]), int(body["account_id"]), headers)


@pytest.fixture
async def officer(client: httpx.AsyncClient, platform: Platform) -> Member:
    member = await seed_register(client)
    async with platform.db.session() as session:
        await staff.grant(session, member.user_id)
    return member


async def verified(client: httpx.AsyncClient, officer: Member, **deposits: int) -> Member:
    member = await seed_register(client)
    submitted = await client.post(
        f"{API}/kyc",
        json={"legal_name": "Grace Hopper", "country": "US", "document_number": "P-12345"},
        headers=member.headers,
    )
    assert submitted.status_code == 201, submitted.text
    decided = await client.post(
        f"{API}/compliance/kyc/{member.user_id}/decision",
        json={"verdict": "verified", "note": "passport"},
        headers=officer.headers,
    )
    assert decided.status_code == 200, decided.text
    for asset, amount in deposits.items():
        moved = await client.post(
            f"{API}/account/deposits",
            json={"asset": asset, "amount": amount},
            headers=member.headers,
        )
        assert moved.status_code == 201, moved.text
    return member


async def list_aapl(client: httpx.AsyncClient, officer: Member) -> dict[str, Any]:
    listed = await client.post(
        f"{API}/instruments",
        json={"symbol": "AAPL", "company_name": "Apple Inc.", "reference_price": "150.00"},
        headers=officer.headers,
    )
    assert listed.status_code == 201, listed.text
    body: dict[str, Any] = listed.json()
    return body
