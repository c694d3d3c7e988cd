"""Fixtures for Facebook Timeline's tests, through the real app (`/api/facebook-timeline`).

- `new_user()` registers a fresh user through /api/auth (the first logs in through
  /api/auth/login; later ones get a token from the platform's issuer, so many users per test do
  not trip the login rate limit); `alice`, `bob`, `carol` are three such users.
- `settle(platform, post_id)` waits until the post's fan-out job finished.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from casebook.platform.auth import tokens
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED

SYSTEM = "facebook-timeline"
API = f"/api/{SYSTEM}"
JOB_TIMEOUT = 5.0


@dataclass
class TimelineUser:
    user_id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)


NewUser = Callable[..., Awaitable[TimelineUser]]


@pytest.fixture
def new_user(client: httpx.AsyncClient, platform: Platform) -> NewUser:
    logged_in = False

    async def create(name: str | None = None) -> TimelineUser:
        nonlocal logged_in
        name = name or f"user_{secrets.token_hex(4)}"
        email = f"tl-{secrets.token_hex(5)}@example.com"
        password = secrets.token_urlsafe(12)
        registered = await client.post(
            "/api/auth/register",
            json={"email": email, "password": password, "display_name": name},
        )
        assert registered.status_code == 201, registered.text
        user_id = int(registered.json()["id"])
        if not logged_in:
            logged_in = True
            login = await client.post(
                "/api/auth/login", json={"email": email, "password": password}
            )
            assert login.status_code == 200, login.text
            return TimelineUser(user_id, name, login.json()["access_token"])
        token = tokens.issue_access_token(platform.settings, user_id, datetime.now(UTC))
        return TimelineUser(user_id, name, token)

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> TimelineUser:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> TimelineUser:
    return await new_user()


@pytest.fixture
async def carol(new_user: NewUser) -> TimelineUser:
    return await new_user()


async def drain_jobs(platform: Platform) -> None:
    """Wait until every feed job of the system enqueued so far has finished."""
    async with asyncio.timeout(JOB_TIMEOUT):
        for info in await platform.jobs.list_jobs(limit=10_000):
            if info.id.startswith(f"feed.{SYSTEM}.") and info.status not in FINISHED:
                await platform.jobs.wait(info.id)


Post = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def post(client: httpx.AsyncClient) -> Post:
    """`await post(user, "text", audience="friends")` → the post JSON (engine `POST /posts`)."""

    async def create(user: TimelineUser, body: str, **fields: Any) -> dict[str, Any]:
        response = await client.post(
            f"{API}/posts", json={"body": body, **fields}, headers=user.headers
        )
        assert response.status_code == 201, response.text
        created: dict[str, Any] = response.json()
        return created

    return create


Befriend = Callable[[TimelineUser, TimelineUser], Awaitable[None]]


@pytest.fixture
def befriend(client: httpx.AsyncClient) -> Befriend:
    """`await befriend(a, b)`: a asks, b accepts."""

    async def run(a: TimelineUser, b: TimelineUser) -> None:
        asked = await client.post(f"{API}/users/{b.id}/friend-request", headers=a.headers)
        assert asked.status_code == 200, asked.text
        accepted = await client.post(f"{API}/friend-requests/{a.id}/accept", headers=b.headers)
        assert accepted.status_code == 204, accepted.text

    return run


Timeline = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def timeline(client: httpx.AsyncClient) -> Timeline:
    """`await timeline(owner, viewer)` → the first page's JSON (viewer None: anonymous)."""

    async def read(
        owner: TimelineUser, viewer: TimelineUser | None, **params: Any
    ) -> dict[str, Any]:
        headers = viewer.headers if viewer is not None else {}
        response = await client.get(
            f"{API}/users/{owner.id}/timeline", params=params, headers=headers
        )
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return read


TimelineIds = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def timeline_ids(client: httpx.AsyncClient) -> TimelineIds:
    """Every item id of `owner`'s timeline as `viewer` pages through it (`limit` per page)."""

    async def read(owner: TimelineUser, viewer: TimelineUser | None, limit: int = 50) -> list[str]:
        headers = viewer.headers if viewer is not None else {}
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(200):
            params: dict[str, Any] = {"limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await client.get(
                f"{API}/users/{owner.id}/timeline", params=params, headers=headers
            )
            assert response.status_code == 200, response.text
            body = response.json()
            ids += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return ids
        raise AssertionError("the timeline did not end")

    return read
