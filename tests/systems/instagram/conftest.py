"""Fixtures for Instagram's tests through the real app (`/api/instagram`).

`ig_user()` registers a user (token issued by the platform's issuer, as the feed engine's
fixtures do, to stay under the login rate limit); `upload(user, data)` uploads bytes and waits
for the processing job; `jpeg_with_gps()` makes a real JPEG carrying GPS EXIF and an
orientation tag with Pillow.
"""

from __future__ import annotations

import asyncio
import io
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from PIL import Image

from casebook.engines.feed import fanout
from casebook.platform.auth import tokens
from casebook.platform.context import Platform
from casebook.platform.jobs import FINISHED
from casebook.systems.instagram import media

API = "/api/instagram"
JOB_TIMEOUT = 15.0


@dataclass
class IgUser:
    user_id: int
    handle: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)


NewUser = Callable[..., Awaitable[IgUser]]


@pytest.fixture
def ig_user(client: httpx.AsyncClient, platform: Platform) -> NewUser:
    async def create(name: str | None = None, *, private: bool = False) -> IgUser:
        name = name or f"ig_{secrets.token_hex(4)}"
        registered = await client.post(
            "/api/auth/register",
            json={
                "email": f"ig-{secrets.token_hex(5)}@example.com",
                "password": secrets.token_urlsafe(12),
                "display_name": name,
            },
        )
        assert registered.status_code == 201, registered.text
        user_id = int(registered.json()["id"])
        token = tokens.issue_access_token(platform.settings, user_id, datetime.now(UTC))
        user = IgUser(user_id, name.lower(), token)
        me = await client.patch(
            f"{API}/me", json={"handle": user.handle, "private": private}, headers=user.headers
        )
        assert me.status_code == 200, me.text
        return user

    return create


def jpeg_with_gps(width: int = 1200, height: int = 800, orientation: int = 6) -> bytes:
    """A JPEG whose EXIF holds GPS coordinates, a camera make and an orientation tag."""
    image = Image.new("RGB", (width, height), (200, 30, 30))
    image.paste((20, 20, 220), (0, 0, width // 2, height))  # left half blue: orientation shows
    exif = Image.Exif()
    exif[0x0112] = orientation
    exif[0x010F] = "CasebookCam"
    exif[0x8825] = {1: "N", 2: (48.0, 51.0, 29.0), 3: "E", 4: (2.0, 17.0, 40.0)}
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif)
    return out.getvalue()


def small_png(color: tuple[int, int, int] = (10, 200, 10)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (400, 300), color).save(out, format="PNG")
    return out.getvalue()


Upload = Callable[..., Awaitable[dict[str, Any]]]


async def wait_processed(platform: Platform, media_id: str) -> None:
    async with asyncio.timeout(JOB_TIMEOUT):
        info = await platform.jobs.wait(f"{media.JOB}:{media_id}")
    assert info.status == "complete", info


@pytest.fixture
def upload(client: httpx.AsyncClient, platform: Platform) -> Upload:
    """`await upload(user, bytes, content_type=…)` → the processed media's view."""

    async def run(user: IgUser, data: bytes, content_type: str = "image/jpeg") -> dict[str, Any]:
        response = await client.post(
            f"{API}/media",
            content=data,
            headers={**user.headers, "Content-Type": content_type},
        )
        assert response.status_code == 202, response.text
        media_id = response.json()["id"]
        await wait_processed(platform, media_id)
        done = await client.get(f"{API}/media/{media_id}", headers=user.headers)
        assert done.status_code == 200, done.text
        view: dict[str, Any] = done.json()
        return view

    return run


async def settle(platform: Platform, post_id: str) -> None:
    async with asyncio.timeout(JOB_TIMEOUT):
        info = await platform.jobs.wait(f"{fanout.job_name('instagram')}:{post_id}:published")
    assert info.status == "complete", info


async def drain_jobs(platform: Platform) -> None:
    """Wait until every Instagram job enqueued so far (fan-outs, media processing) is done."""
    async with asyncio.timeout(JOB_TIMEOUT):
        for info in await platform.jobs.list_jobs(limit=10_000):
            mine = info.id.startswith(("feed.instagram.", f"{media.JOB}:"))
            if mine and info.status not in FINISHED:
                await platform.jobs.wait(info.id)
