"""Fixtures for the URL Shortener tests: accounts, API keys, the system's process state, and a
counter of the SQL statements the app sends to its database."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import event

from casebook.platform.context import Platform
from casebook.systems.url_shortener.config import ShortenerSettings
from casebook.systems.url_shortener.runtime import Shortener, shortener

API = "/api/url-shortener"


class ShiftedClock:
    """A stand-in for a redirect module's `time` with the wall clock moved `offset` seconds
    ahead: expiry is then tested without racing the real clock on a loaded machine."""

    def __init__(self, offset: float) -> None:
        self.offset = offset
        self.monotonic = time.monotonic
        self.perf_counter = time.perf_counter

    def time(self) -> float:
        return time.time() + self.offset


@dataclass
class Account:
    user_id: int
    email: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@pytest.fixture
def state(platform: Platform) -> Shortener:
    """The running app's URL Shortener state."""
    return shortener(platform)


@pytest.fixture
async def manual_flush(state: Shortener) -> None:
    """Stop the background click flusher: the test flushes itself, and a tick of the flusher
    on a slow machine would take clicks from under it (`flush` returning fewer than sent)."""
    await state.clicks.stop()


@pytest.fixture
def configure(state: Shortener) -> Callable[..., ShortenerSettings]:
    """Change the shortener's settings for this test: `configure(click_flush_keys=5)`."""

    def apply(**changes: Any) -> ShortenerSettings:
        config = state.config.model_copy(update=changes)
        state.configure(config)
        return config

    return apply


@pytest.fixture
def new_account(client: httpx.AsyncClient) -> Callable[[], Awaitable[Account]]:
    """Register and log in a fresh user through /api/auth."""

    async def create() -> Account:
        email = f"user-{secrets.token_hex(4)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Tester"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return Account(int(registered.json()["id"]), email, password, login.json()["access_token"])

    return create


@pytest.fixture
async def alice(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
async def bob(new_account: Callable[[], Awaitable[Account]]) -> Account:
    return await new_account()


@pytest.fixture
def api_key(client: httpx.AsyncClient) -> Callable[[Account, list[str]], Awaitable[str]]:
    """Create an API key with `scopes` for an account; returns the plaintext key."""

    async def create(account: Account, scopes: list[str]) -> str:
        response = await client.post(
            "/api/auth/api-keys",
            json={"name": "test key", "scopes": scopes},
            headers=account.headers,
        )
        assert response.status_code == 201, response.text
        return str(response.json()["key"])

    return create


class StatementCounter:
    """Counts SQL statements sent to one engine while active."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def __call__(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(statement)

    @property
    def count(self) -> int:
        return len(self.statements)


@pytest.fixture
def sql(platform: Platform) -> Iterator[StatementCounter]:
    """Every SQL statement the app's engine executes during the test."""
    counter = StatementCounter()
    engine = platform.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", counter)
    yield counter
    event.remove(engine, "before_cursor_execute", counter)


async def shorten(
    client: httpx.AsyncClient, headers: dict[str, str] | None = None, **body: Any
) -> httpx.Response:
    return await client.post(f"{API}/links", json=body, headers=headers or {})
