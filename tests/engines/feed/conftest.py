"""Fixtures for the feed engine's tests, through the real app: Facebook Newsfeed mounts the engine
at /api/facebook-newsfeed and /ws/facebook-newsfeed.

- `new_user(name)` registers and logs in a fresh user through /api/auth; `alice`, `bob`,
  `carol`, `dave` are four such users.
- `publish(user, body, audience=…, **fields)` posts through the API and waits until the post's
  fan-out job finished; `feed_ids(user)` reads the user's whole home feed (chronological) as ids.
- `runtime` is the system's running `FeedRuntime` (config, timeline store).
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from casebook.engines.feed import fanout
from casebook.engines.feed.runtime import FeedRuntime, feed_runtime
from casebook.platform.auth import tokens
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED
from tests.servers import serve_in_loop

SYSTEM = "facebook-newsfeed"
API = f"/api/{SYSTEM}"
JOB_TIMEOUT = 5.0


@dataclass
class FeedUser:
    user_id: int
    name: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        """The user id as the API renders it."""
        return str(self.user_id)


NewUser = Callable[..., Awaitable[FeedUser]]


@pytest.fixture
def new_user(client: httpx.AsyncClient, platform: Platform) -> NewUser:
    """Register a fresh user through /api/auth; `name` becomes their display name (and handle).

    The first user of a test logs in through /api/auth/login; later ones get their access token
    from the platform's token issuer directly, because tests with many users would otherwise
    trip the per-address login rate limit (10 a minute) that protects the login endpoint.
    """
    logged_in = False

    async def create(name: str | None = None) -> FeedUser:
        nonlocal logged_in
        name = name or f"user_{secrets.token_hex(4)}"
        email = f"feed-{secrets.token_hex(5)}@example.com"
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
            return FeedUser(user_id, name, login.json()["access_token"])
        token = tokens.issue_access_token(platform.settings, user_id, datetime.now(UTC))
        return FeedUser(user_id, name, token)

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> FeedUser:
    return await new_user()


@pytest.fixture
async def bob(new_user: NewUser) -> FeedUser:
    return await new_user()


@pytest.fixture
async def carol(new_user: NewUser) -> FeedUser:
    return await new_user()


@pytest.fixture
async def dave(new_user: NewUser) -> FeedUser:
    return await new_user()


@pytest.fixture
def runtime(platform: Platform) -> FeedRuntime:
    """The running feed runtime of Facebook Newsfeed."""
    return feed_runtime(platform, SYSTEM)


async def settle(platform: Platform, post_id: str | int, version: str = "published") -> None:
    """Wait until the fan-out job of `post_id` for `version` has finished."""
    job_id = f"{fanout.job_name(SYSTEM)}:{post_id}:{version}"
    async with asyncio.timeout(JOB_TIMEOUT):
        info = await platform.jobs.wait(job_id)
    assert info.status == "complete", info


async def drain_jobs(platform: Platform) -> None:
    """Wait until every feed job of the system enqueued so far has finished (fan-outs and
    re-fan-outs; other systems' periodic jobs are not waited for)."""
    async with asyncio.timeout(JOB_TIMEOUT):
        for info in await platform.jobs.list_jobs(limit=10_000):
            if info.id.startswith(f"feed.{SYSTEM}.") and info.status not in FINISHED:
                await platform.jobs.wait(info.id)


Publish = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def publish(client: httpx.AsyncClient, platform: Platform) -> Publish:
    """`await publish(user, "text", audience="friends", page_id=…)` → the post JSON, fanned out."""

    async def create(user: FeedUser, body: str, **fields: Any) -> dict[str, Any]:
        response = await client.post(
            f"{API}/posts", json={"body": body, **fields}, headers=user.headers
        )
        assert response.status_code == 201, response.text
        post: dict[str, Any] = response.json()
        await settle(platform, post["id"])
        return post

    return create


FeedIds = Callable[..., Awaitable[list[str]]]


@pytest.fixture
def feed_ids(client: httpx.AsyncClient) -> FeedIds:
    """Every post id of `user`'s home feed (all pages), in feed order."""

    async def read(user: FeedUser, rank: str = "chronological", limit: int = 50) -> list[str]:
        ids: list[str] = []
        cursor: str | None = None
        for _ in range(100):
            params: dict[str, Any] = {"rank": rank, "limit": limit}
            if cursor:
                params["cursor"] = cursor
            response = await client.get(f"{API}/feed", params=params, headers=user.headers)
            assert response.status_code == 200, response.text
            body = response.json()
            ids += [item["id"] for item in body["items"]]
            cursor = body["next_cursor"]
            if cursor is None:
                return ids
        raise AssertionError("the feed did not end")

    return read


Follow = Callable[[FeedUser, FeedUser], Awaitable[None]]


@pytest.fixture
def follow(client: httpx.AsyncClient) -> Follow:
    """`await follow(follower, followee)` through the API (expects an active follow)."""

    async def run(follower: FeedUser, followee: FeedUser) -> None:
        response = await client.post(f"{API}/users/{followee.id}/follow", headers=follower.headers)
        assert response.status_code == 200, response.text
        assert response.json()["status"] == "active"

    return run


Befriend = Callable[[FeedUser, FeedUser], Awaitable[None]]


@pytest.fixture
def befriend(client: httpx.AsyncClient) -> Befriend:
    """`await befriend(a, b)`: a asks, b accepts."""

    async def run(a: FeedUser, b: FeedUser) -> None:
        asked = await client.post(f"{API}/users/{b.id}/friend-request", headers=a.headers)
        assert asked.status_code == 200, asked.text
        accepted = await client.post(f"{API}/friend-requests/{a.id}/accept", headers=b.headers)
        assert accepted.status_code == 204, accepted.text

    return run


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served by a real uvicorn server on a loopback port, in this test's event loop;
    yields `ws://127.0.0.1:<port>/ws/facebook-newsfeed`."""
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + f"/ws/{SYSTEM}"


MakeUsers = Callable[[int], Awaitable[list[int]]]


@pytest.fixture
def make_users(platform: Platform) -> MakeUsers:
    """`await make_users(n)` → the ids of n new platform users with feed profiles (handles
    "u<hex>"), for service-level tests of engagement (area B) that do not go through HTTP."""
    from casebook.engines.feed import graph
    from casebook.platform.auth.service import register_user

    async def create(count: int) -> list[int]:
        ids = []
        async with platform.db.session() as session:
            for _ in range(count):
                name = f"u{secrets.token_hex(4)}"
                user = await register_user(
                    session,
                    f"{name}@example.com",
                    secrets.token_urlsafe(12),
                    name,
                    settings=platform.settings,
                )
                await graph.ensure_profile(session, SYSTEM, user.id)
                ids.append(user.id)
        return ids

    return create
