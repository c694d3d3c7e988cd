"""Fixtures for the Hacker News tests: users with usernames (through the system's own register and
login endpoints), the system's process state and its settings."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from casebook.platform.context import Platform
from casebook.systems.hacker_news.config import HackerNewsSettings
from casebook.systems.hacker_news.models import Account
from casebook.systems.hacker_news.runtime import HackerNews, hacker_news

API = "/api/hacker-news"
SLUG = "hacker-news"


@dataclass
class HnUser:
    user_id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


NewUser = Callable[..., Awaitable[HnUser]]


@pytest.fixture
def state(platform: Platform) -> HackerNews:
    return hacker_news(platform)


@pytest.fixture(autouse=True)
def roomy_limits(state: HackerNews) -> None:
    """Tests make many items with fresh accounts; the moderation tests set the limits they test."""
    state.configure(
        state.config.model_copy(
            update={"new_stories_per_hour": 1000, "new_comments_per_hour": 1000}
        )
    )


@pytest.fixture
def configure(state: HackerNews) -> Callable[..., HackerNewsSettings]:
    """Change the system's settings for this test: `configure(kill_flags=2)`."""

    def apply(**changes: Any) -> HackerNewsSettings:
        config = state.config.model_copy(update=changes)
        state.configure(config)
        return config

    return apply


@pytest.fixture
def new_user(client: httpx.AsyncClient, platform: Platform) -> NewUser:
    """Register (POST /register) and log in (POST /login) a user; `karma=` sets their karma."""

    async def create(karma: int | None = None) -> HnUser:
        username = "u" + secrets.token_hex(5)
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            f"{API}/register",
            json={"username": username, "email": f"{username}@example.com", "password": password},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post(f"{API}/login", json={"username": username, "password": password})
        assert login.status_code == 200, login.text
        user = HnUser(int(registered.json()["user_id"]), username, login.json()["access_token"])
        if karma is not None:
            async with platform.db.session() as session:
                await session.execute(
                    update(Account).where(Account.user_id == user.user_id).values(karma=karma)
                )
        return user

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> HnUser:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> HnUser:
    return await new_user()


async def submit(
    client: httpx.AsyncClient,
    user: HnUser,
    title: str,
    url: str | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"title": title}
    if url is not None:
        body["url"] = url
    if text is not None:
        body["text"] = text
    response = await client.post(f"{API}/stories", json=body, headers=user.headers)
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def reply(
    client: httpx.AsyncClient, user: HnUser, parent: int, text: str = "a comment"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/items/{parent}/comments", json={"text": text}, headers=user.headers
    )
    assert response.status_code == 201, response.text
    item: dict[str, Any] = response.json()
    return item


async def vote(client: httpx.AsyncClient, user: HnUser, item_id: int, how: str) -> httpx.Response:
    return await client.post(f"{API}/items/{item_id}/vote", json={"how": how}, headers=user.headers)


async def karma(client: httpx.AsyncClient, username: str) -> int:
    response = await client.get(f"{API}/v0/user/{username}.json")
    value: int = response.json()["karma"]
    return value
