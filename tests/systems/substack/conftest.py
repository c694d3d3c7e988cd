"""Fixtures for the Substack tests: a real SMTP server the app mails to, accounts, and helpers
to make publications and posts through the API."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from casebook.platform.context import Platform
from casebook.platform.settings import Settings
from casebook.systems.substack.runtime import Substack, substack
from tests.platform.smtp_sink import SmtpSink

API = "/api/substack"
CARD = {"number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}


@dataclass
class Account:
    user_id: int
    email: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    server = SmtpSink()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def settings(settings: Settings, sink: SmtpSink) -> Settings:
    """The harness's settings, mailing through the test SMTP server."""
    return settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": sink.port})


@pytest.fixture
def state(platform: Platform) -> Substack:
    return substack(platform)


@pytest.fixture
def new_account(client: httpx.AsyncClient) -> Callable[[], Awaitable[Account]]:
    async def create() -> Account:
        email = f"reader-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Reader"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return Account(int(registered.json()["id"]), email, login.json()["access_token"])

    return create


@pytest.fixture
async def writer(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
async def reader(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
async def publication(client: httpx.AsyncClient, writer: Account) -> dict[str, Any]:
    response = await client.post(
        f"{API}/publications",
        json={
            "slug": f"pub-{secrets.token_hex(3)}",
            "name": "The Weekly Byte",
            "description": "Notes on systems",
            "monthly_price": 500,
            "annual_price": 5000,
        },
        headers=writer.headers,
    )
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def write_post(
    client: httpx.AsyncClient, account: Account, publication_id: str, **body: Any
) -> httpx.Response:
    body.setdefault("title", "Hello")
    body.setdefault("body", "First paragraph.\n\nSecond paragraph.\n\nThird paragraph.")
    return await client.post(
        f"{API}/publications/{publication_id}/posts", json=body, headers=account.headers
    )


async def subscribe(client: httpx.AsyncClient, account: Account, publication_id: str) -> None:
    response = await client.post(
        f"{API}/publications/{publication_id}/subscription", headers=account.headers
    )
    assert response.status_code == 201, response.text


async def top_up(client: httpx.AsyncClient, account: Account, amount: int) -> None:
    response = await client.post(
        f"{API}/wallet/top-ups", json={"amount": amount, "card": CARD}, headers=account.headers
    )
    assert response.status_code == 201, response.text
