"""Fixtures for the Viber tests, through the real app (/api/viber, /ws/viber).

- `new_user()` signs a fresh user up with a phone number (SMS code from the simulated carrier),
  and registers one messaging device; `alice`, `bob`, `carol` are three such users.
- `ws_url` serves the app with uvicorn on a loopback port for WebSocket tests.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI

from casebook.platform.context import Platform
from casebook.platform.sms import SimulatedSmsCarrier
from tests.servers import serve_in_loop

API = "/api/viber"
PASSWORD = "correct horse battery 42"


@dataclass
class ViberUser:
    user_id: int
    phone: str
    token: str
    device_id: int

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def id(self) -> str:
        return str(self.user_id)


NewUser = Callable[..., Awaitable[ViberUser]]


async def sms_code(platform: Platform, phone: str) -> str:
    """The newest verification code the simulated handset of `phone` received."""
    assert isinstance(platform.sms, SimulatedSmsCarrier)
    inbox = await platform.sms.inbox(phone)
    match = re.search(r"\b(\d{6})\b", inbox[0].text)
    assert match is not None
    return match.group(1)


def new_phone() -> str:
    return f"+4477009{secrets.randbelow(10**5):05d}"


@pytest.fixture
def new_user(client: httpx.AsyncClient, platform: Platform) -> NewUser:
    async def create(name: str = "Viber user") -> ViberUser:
        phone = new_phone()
        sent = await client.post(f"{API}/auth/phone/code", json={"phone": phone})
        assert sent.status_code == 202, sent.text
        body = {
            "phone": phone,
            "code": await sms_code(platform, phone),
            "password": PASSWORD,
            "display_name": name,
        }
        registered = await client.post(f"{API}/auth/phone/register", json=body)
        assert registered.status_code == 201, registered.text
        token = registered.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        profile = await client.get(f"{API}/profile", headers=headers)
        device = await client.post(f"{API}/devices", json={"name": "phone"}, headers=headers)
        assert device.status_code == 201, device.text
        return ViberUser(int(profile.json()["user_id"]), phone, token, int(device.json()["id"]))

    return create


@pytest.fixture
async def alice(new_user: NewUser) -> ViberUser:
    return await new_user("Alice")


@pytest.fixture
async def bob(new_user: NewUser) -> ViberUser:
    return await new_user("Bob")


@pytest.fixture
async def carol(new_user: NewUser) -> ViberUser:
    return await new_user("Carol")


@pytest.fixture
async def ws_url(app: FastAPI) -> AsyncIterator[str]:
    """The app served by uvicorn on a loopback port; yields `ws://127.0.0.1:<port>/ws/viber`."""
    async with serve_in_loop(app) as base:
        yield base.replace("http://", "ws://", 1) + "/ws/viber"
