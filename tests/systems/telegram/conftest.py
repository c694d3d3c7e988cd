"""Fixtures for the Telegram tests, through the real app (/api/telegram).

- `new_user()` registers and logs in a fresh user;
- `new_bot(owner)` creates a bot through BotFather's endpoint and returns it with its token;
- `chat_with(user, bot)` starts the user's private chat with the bot (an engine direct chat).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

API = "/api/telegram"


@dataclass
class TgUser:
    user_id: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)


@dataclass
class Bot:
    bot_id: int
    username: str
    token: str

    @property
    def path(self) -> str:
        return f"{API}/bot{self.token}"


NewUser = Callable[[], Awaitable[TgUser]]
NewBot = Callable[..., Awaitable[Bot]]


@pytest.fixture
def new_user(client: httpx.AsyncClient) -> NewUser:
    async def create() -> TgUser:
        email = f"tg-{secrets.token_hex(5)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Tg User"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        return TgUser(int(registered.json()["id"]), login.json()["access_token"])

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> TgUser:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> TgUser:
    return await new_user()


@pytest.fixture
def new_bot(client: httpx.AsyncClient) -> NewBot:
    async def create(owner: TgUser, name: str = "Echo") -> Bot:
        username = f"echo{secrets.token_hex(4)}_bot"
        response = await client.post(
            f"{API}/bots", json={"name": name, "username": username}, headers=owner.headers
        )
        assert response.status_code == 201, response.text
        body = response.json()
        return Bot(int(body["id"]), body["username"], body["token"])

    return create


@pytest.fixture
async def bot(new_bot: NewBot, alice: TgUser) -> Bot:
    return await new_bot(alice)


ChatWith = Callable[[TgUser, Bot], Awaitable[dict[str, Any]]]


@pytest.fixture
def chat_with(client: httpx.AsyncClient) -> ChatWith:
    async def start(user: TgUser, bot: Bot) -> dict[str, Any]:
        response = await client.post(
            f"{API}/conversations",
            json={"kind": "direct", "user_id": str(bot.bot_id)},
            headers=user.headers,
        )
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    return start


Say = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def say(client: httpx.AsyncClient) -> Say:
    """`await say(user, conversation_id, "text")` → the stored message view."""

    async def send(user: TgUser, conversation_id: str, text: str) -> dict[str, Any]:
        response = await client.post(
            f"{API}/conversations/{conversation_id}/messages",
            json={"client_id": secrets.token_hex(8), "kind": "text", "body": text},
            headers=user.headers,
        )
        assert response.status_code == 201, response.text
        result: dict[str, Any] = response.json()
        return result

    return send


async def pending_updates(
    client: httpx.AsyncClient, bot: Bot, count: int, seconds: float = 5
) -> list[dict[str, Any]]:
    """The bot's queue once it holds at least `count` updates, without confirming any.

    A user's message and its updates commit together (test_update_durability.py proves it);
    messages sent by other paths (the bot's own sends making callback queries, webhooks) may
    still be in flight, so a test waits for them as a bot would."""
    async with asyncio.timeout(seconds):
        while True:
            response = await client.post(f"{bot.path}/getUpdates", json={"timeout": 1})
            result: list[dict[str, Any]] = response.json()["result"]
            if len(result) >= count:
                return result
            await asyncio.sleep(0.05)
