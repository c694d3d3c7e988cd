"""Fixtures for the Kickstarter tests: accounts through /api/auth, funded wallets, launched
projects, and moving a project's deadline into the past (time passing, without sleeping)."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from casebook.platform.context import Platform
from casebook.platform.db import utcnow
from casebook.systems.kickstarter.models import Project

API = "/api/kickstarter"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2099, "cvc": "123"}


@dataclass
class Account:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


NewAccount = Callable[[], Awaitable[Account]]


@pytest.fixture
def new_account(client: httpx.AsyncClient) -> NewAccount:
    """Register and log in a fresh user through /api/auth."""

    async def create() -> Account:
        email = f"user-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": f"Backer {email[5:9]}"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return Account(int(registered.json()["id"]), email, login.json()["access_token"])

    return create


@pytest.fixture
async def creator(new_account: NewAccount) -> Account:
    return await new_account()


@pytest.fixture
async def backer(new_account: NewAccount) -> Account:
    return await new_account()


def project_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "title": "A pocket telescope",
        "blurb": "Stars in your pocket.",
        "description": "A folding telescope.",
        "category": "technology",
        "goal": 10_000,
        "deadline": (utcnow() + timedelta(days=10)).isoformat(),
    }
    body.update(overrides)
    return body


async def create_project(
    client: httpx.AsyncClient, owner: Account, **overrides: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/projects", json=project_body(**overrides), headers=owner.headers
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def launched_project(
    client: httpx.AsyncClient, owner: Account, **overrides: Any
) -> dict[str, Any]:
    project = await create_project(client, owner, **overrides)
    response = await client.post(f"{API}/projects/{project['id']}/launch", headers=owner.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def top_up(client: httpx.AsyncClient, account: Account, amount: int) -> None:
    response = await client.post(
        f"{API}/wallet/top-ups", json={"amount": amount, "card": CARD}, headers=account.headers
    )
    assert response.status_code == 201, response.text


async def wallet(client: httpx.AsyncClient, account: Account) -> dict[str, Any]:
    response = await client.get(f"{API}/wallet", headers=account.headers)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def pledge(
    client: httpx.AsyncClient, account: Account, project_id: str, amount: int, **extra: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/projects/{project_id}/pledges",
        json={"amount": amount, **extra},
        headers=account.headers,
    )


async def get_project(client: httpx.AsyncClient, project_id: str) -> dict[str, Any]:
    response = await client.get(f"{API}/projects/{project_id}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


@pytest.fixture
def end_campaign(platform: Platform) -> Callable[[str], Awaitable[None]]:
    """Let a project's deadline pass (moves it one second into the past)."""

    async def end(project_id: str) -> None:
        async with platform.db.session(write=True) as session:
            await session.execute(
                update(Project)
                .where(Project.id == int(project_id))
                .values(deadline=utcnow() - timedelta(seconds=1))
            )

    return end
