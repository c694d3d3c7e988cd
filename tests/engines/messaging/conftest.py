"""Fixtures for the messaging engine's tests, through the real app: Instant Messenger mounts the
engine at /api/instant-messenger and /ws/instant-messenger.

- `new_user()` registers and logs in a fresh user and registers one messaging device for them;
  `alice`, `bob`, `carol` are three such users.
- `conversation(owner, kind, members=[...])` creates a conversation through the API and returns
  its JSON; `send_text(user, conversation_id, body)` sends a text message.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.messaging.events import decode
from casebook.engines.messaging.models import MessagingCursor
from casebook.engines.messaging.runtime import Messenger, messenger
from casebook.platform.context import Platform
from tests.servers import serve_in_loop

SYSTEM = "instant-messenger"
API = f"/api/{SYSTEM}"


@dataclass
class ChatUser:
    user_id: int
    email: str
    password: str
    token: str
    device_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        """The user id as the API renders it."""
        return str(self.user_id)


NewUser = Callable[[], Awaitable[ChatUser]]


@pytest.fixture
def new_user(client: httpx.AsyncClient) -> NewUser:
    """Register, log in and register a messaging device for a fresh user."""

    async def create() -> ChatUser:
        email = f"chat-{secrets.token_hex(5)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": "Chatter"},
        )
        assert registered.status_code == 201, registered.text
        login = await client.post("/api/auth/login", json={"email": email, "password": password})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
        device = await client.post(
            f"{API}/devices",
            json={"name": "phone"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert device.status_code == 201, device.text
        return ChatUser(
            int(registered.json()["id"]), email, password, token, int(device.json()["id"])
        )

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> ChatUser:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> ChatUser:
    return await new_user()


@pytest.fixture
async def carol(new_user: NewUser) -> ChatUser:
    return await new_user()


@pytest.fixture
def engine_state(platform: Platform) -> Messenger:
    """The running Instant Messenger messaging runtime (writer, config, callbacks)."""
    return messenger(platform, SYSTEM)


Conversation = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def conversation(client: httpx.AsyncClient) -> Conversation:
    """`await conversation(owner, "group", members=[bob], title="t")` → the conversation JSON.

    kind "direct" takes exactly one other member; "group" and "channel" take any number.
    """

    async def create(
        owner: ChatUser,
        kind: str = "group",
        members: list[ChatUser] | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        others = members or []
        body: dict[str, Any] = {"kind": kind, **fields}
        if kind == "direct":
            assert len(others) == 1
            body["user_id"] = others[0].id
        else:
            body.setdefault("title", f"{kind} {secrets.token_hex(2)}")
            body["members"] = [m.id for m in others]
        response = await client.post(f"{API}/conversations", json=body, headers=owner.headers)
        assert response.status_code in (200, 201), response.text
        result: dict[str, Any] = response.json()
        return result

    return create


SendText = Callable[..., Awaitable[httpx.Response]]


@pytest.fixture
def send_text(client: httpx.AsyncClient) -> SendText:
    """`await send_text(user, conversation_id, "hi", client_id=None)` → the HTTP response."""

    async def send(
        user: ChatUser, conversation_id: str, body: str, client_id: str | None = None
    ) -> httpx.Response:
        return await client.post(
            f"{API}/conversations/{conversation_id}/messages",
            json={"client_id": client_id or secrets.token_hex(8), "kind": "text", "body": body},
            headers=user.headers,
        )

    return send


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served by a real uvicorn server on a loopback port, in this test's event loop;
    yields the socket URL `ws://127.0.0.1:<port>/ws/instant-messenger` (area B's gateway)."""
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + f"/ws/{SYSTEM}"


async def cursor_of(platform: Platform, device_id: int, conversation_id: int) -> int | None:
    """A device's cursor in a conversation (the seq it acknowledged), None when it has none."""
    async with platform.db.session() as session:
        cursor = await session.get(MessagingCursor, (device_id, conversation_id))
        return None if cursor is None else cursor.acked_seq


@contextlib.asynccontextmanager
async def bus_events(platform: Platform, channel: str) -> AsyncIterator[list[dict[str, Any]]]:
    """Collect every event published on a bus `channel` while the block runs (and for 0.1 s
    after it, so publishes it caused arrive), decoded."""
    events: list[dict[str, Any]] = []
    async with platform.bus.subscribe(channel) as feed:

        async def pump() -> None:
            async for raw in feed:
                events.append(decode(raw))

        task = asyncio.create_task(pump())
        await asyncio.sleep(0.05)  # a Redis subscription is live once its SUBSCRIBE returned
        try:
            yield events
            await asyncio.sleep(0.1)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
