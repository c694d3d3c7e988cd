"""Fixtures for the Instant Messenger tests, through the real app at /api/instant-messenger.

- `new_user(username=None)` signs a fresh user up and in with the seed's `POST /users/register`
  and `POST /users/login`; `alice`, `bob`, `carol` are three such users.
- `befriend(a, b)`: a friend request from `a`, accepted by `b` (the engine's endpoints).
- `send(user, text, receiver=…|group=…)`: the seed's `POST /messages/send`, asserted to succeed.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

API = "/api/instant-messenger"
PASSWORD = "correct horse battery 42"


@dataclass
class ImUser:
    user_id: int
    username: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)


NewUser = Callable[..., Awaitable[ImUser]]
Befriend = Callable[[ImUser, ImUser], Awaitable[None]]
Send = Callable[..., Awaitable[dict[str, Any]]]


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """`response` is an RFC 9457 problem with `status`; returns its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] and body["title"]
    return body


@pytest.fixture
def new_user(client: httpx.AsyncClient) -> NewUser:
    async def create(username: str | None = None, display_name: str | None = None) -> ImUser:
        name = username or f"user_{secrets.token_hex(5)}"
        body: dict[str, Any] = {"username": name, "password": PASSWORD}
        if display_name is not None:
            body["display_name"] = display_name
        registered = await client.post(f"{API}/users/register", json=body)
        assert registered.status_code == 201, registered.text
        login = await client.post(
            f"{API}/users/login", json={"username": name, "password": PASSWORD}
        )
        assert login.status_code == 200, login.text
        return ImUser(int(registered.json()["user_id"]), name.lower(), login.json()["access_token"])

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> ImUser:
    return await new_user(display_name="Alice")


@pytest.fixture
async def bob(new_user: NewUser) -> ImUser:
    return await new_user(display_name="Bob")


@pytest.fixture
async def carol(new_user: NewUser) -> ImUser:
    return await new_user(display_name="Carol")


@pytest.fixture
def befriend(client: httpx.AsyncClient) -> Befriend:
    async def make(a: ImUser, b: ImUser) -> None:
        asked = await client.post(
            f"{API}/friend-requests", json={"to_user_id": b.id}, headers=a.headers
        )
        assert asked.status_code == 201, asked.text
        accepted = await client.post(
            f"{API}/friend-requests/{asked.json()['id']}/accept", headers=b.headers
        )
        assert accepted.status_code == 200, accepted.text

    return make


@pytest.fixture
def send(client: httpx.AsyncClient) -> Send:
    async def post(
        user: ImUser,
        text: str,
        *,
        receiver: ImUser | None = None,
        group: str | None = None,
        client_id: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"content": text, "client_id": client_id or secrets.token_hex(8)}
        if receiver is not None:
            body["receiver_id"] = receiver.id
        if group is not None:
            body["group_id"] = group
        response = await client.post(f"{API}/messages/send", json=body, headers=user.headers)
        assert response.status_code == 201, response.text
        sent: dict[str, Any] = response.json()
        return sent

    return post
