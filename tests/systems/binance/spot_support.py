"""Helpers of the Binance spot tests: an app serving Binance alone (its lifespan running),
users registered through the platform's identity, funded venue accounts, Binance API keys, and
a signer that builds requests exactly as Binance documents (HMAC-SHA256 over the query string
followed by the body)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import urlencode

import httpx
from fastapi import FastAPI

from casebook.app import create_app
from casebook.platform.context import Platform
from casebook.platform.ids import new_id
from casebook.platform.settings import Settings
from casebook.systems.binance import spot

SCALE = spot.SCALE


@asynccontextmanager
async def binance_app(settings: Settings) -> AsyncIterator[FastAPI]:
    """The app with only Binance enabled, lifespan running (its startup hook has run)."""
    application = create_app(settings, only=["binance"])
    async with application.router.lifespan_context(application):
        yield application


@dataclass
class User:
    user_id: int
    account_id: int
    headers: dict[str, str]
    api_key: str = ""
    secret: str = ""

    def signed(
        self, query: Mapping[str, object] | None = None, body: Mapping[str, object] | None = None
    ) -> tuple[str, str, dict[str, str]]:
        """(query string, body, headers) of a signed request; the signature goes last in the
        body when there is one, else in the query."""
        q = dict(query or {})
        b = dict(body or {})
        target = b if body is not None else q
        target.setdefault("timestamp", int(time.time() * 1000))
        query_string, body_string = urlencode(q), urlencode(b)
        digest = hmac.new(
            self.secret.encode(), (query_string + body_string).encode(), hashlib.sha256
        ).hexdigest()
        if body is not None:
            body_string += "&signature=" + digest
        else:
            query_string += ("&" if query_string else "") + "signature=" + digest
        headers = {"X-MBX-APIKEY": self.api_key}
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        return query_string, body_string, headers


async def new_user(client: httpx.AsyncClient, platform: Platform, *, key: bool = True) -> User:
    """A registered, logged-in user with a Binance venue account and (by default) an API key."""
    email = f"bn-{secrets.token_hex(5)}@example.com"
    password = secrets.token_urlsafe(12)
    registered = await client.post(
        "/api/auth/register", json={"email": email, "password": password, "display_name": "T"}
    )
    assert registered.status_code == 201, registered.text
    login = await client.post("/api/auth/login", json={"email": email, "password": password})
    assert login.status_code == 200, login.text
    headers = {"Authorization": f"Bearer {login.json()['access_token']}"}
    user_id = int(registered.json()["id"])
    async with platform.db.session(write=True) as session:
        account_id = await spot.account_of(session, user_id)
    user = User(user_id, account_id, headers)
    if key:
        created = await client.post("/api/binance/api-keys", json={"label": "t"}, headers=headers)
        assert created.status_code == 201, created.text
        user.api_key, user.secret = created.json()["apiKey"], created.json()["secretKey"]
    return user


async def fund(platform: Platform, user: User, asset: str, amount: str) -> None:
    """Credit `amount` whole units of `asset` from the venue's external source."""
    venue = spot.exchange(platform)
    async with platform.db.session(write=True) as session:
        await venue.credit(
            session,
            user.account_id,
            asset,
            int(Decimal(amount) * SCALE),
            new_id(),
            f"test:{asset}",
        )
