"""Fixtures for Zerodha: the system running on the app (the exchange's venue is started by the
app's lifespan), and onboarded, funded clients made through Zerodha's own endpoints."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.matching.venue import Venue
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.systems.zerodha import runtime

API = "/api/zerodha"


@pytest.fixture
def zerodha(app: FastAPI, platform: Platform) -> Venue:
    """The exchange's venue, with Zerodha started on it by the app's lifespan."""
    return runtime.exchange(platform)


@dataclass
class Client:
    user_id: int
    account_id: int
    client_code: str
    headers: dict[str, str]
    email: str
    password: str


def random_pan() -> str:
    letters = "".join(secrets.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ") for _ in range(5))
    return f"{letters}{secrets.randbelow(10_000):04d}{secrets.choice('ABCDEFGHIJKLMNOPQRSTUVWXYZ')}"


async def signed_up(client: httpx.AsyncClient) -> tuple[int, dict[str, str], str, str]:
    email = f"z-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    made = await client.post(
        "/api/auth/register",
        json={"email": email, "password": password, "display_name": "Investor"},
    )
    assert made.status_code == 201, made.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    return int(made.json()["id"]), headers, email, password


async def onboarded(
    client: httpx.AsyncClient,
    venue: Venue,
    platform: Platform,
    cash: int = 0,
    shares: dict[str, int] | None = None,
) -> Client:
    """A Zerodha client with `cash` paise paid in and `shares` transferred in from another
    depository participant (credited to their exchange account)."""
    user_id, headers, email, password = await signed_up(client)
    opened = await client.post(
        f"{API}/account", json={"legal_name": "Asha Rao", "pan": random_pan()}, headers=headers
    )
    assert opened.status_code == 201, opened.text
    body = opened.json()
    account_id = int(body["account_id"])
    if cash:
        paid = await client.post(f"{API}/funds/deposits", json={"amount": cash}, headers=headers)
        assert paid.status_code == 201, paid.text
    for symbol, qty in (shares or {}).items():
        async with platform.db.session(write=True) as session:
            await venue.credit(session, account_id, symbol, qty, new_id(), "demat transfer-in")
    return Client(user_id, account_id, body["client_code"], headers, email, password)
