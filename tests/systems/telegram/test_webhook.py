"""Webhooks: updates POSTed to the bot's URL with the secret header, in order, retried with
backoff while the receiver fails; getUpdates is refused while a webhook is set."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response

from casebook.platform.context import Platform
from casebook.systems.telegram.webhook import config
from tests.servers import serve_in_loop
from tests.systems.telegram.conftest import Bot, ChatWith, Say, TgUser, pending_updates

pytestmark = pytest.mark.feature("telegram", "bots")


class Receiver:
    """A real HTTP server standing in for the bot's web server: it fails the first
    `failures` requests with 503, then records each update."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.attempts = 0
        self.received: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.arrived = asyncio.Event()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.attempts += 1
            if self.attempts <= self.failures:
                return Response(status_code=503)
            self.received.append(await request.json())
            self.secrets.append(request.headers.get("x-telegram-bot-api-secret-token"))
            self.arrived.set()
            return Response(status_code=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver(failures=2)
    async with serve_in_loop(target.app) as base:
        yield target, f"{base}/hook"


async def test_webhook_gets_updates_in_order_after_retries(
    client: httpx.AsyncClient,
    platform: Platform,
    bob: TgUser,
    bot: Bot,
    chat_with: ChatWith,
    say: Say,
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    config(platform).webhook_backoff_base = 0.05
    chat = await chat_with(bob, bot)
    bad = await client.post(f"{bot.path}/setWebhook", json={"url": "ftp://example.com/x"})
    assert bad.status_code == 400
    bad_secret = await client.post(
        f"{bot.path}/setWebhook", json={"url": url, "secret_token": "has spaces"}
    )
    assert bad_secret.status_code == 400
    ok = await client.post(f"{bot.path}/setWebhook", data={"url": url, "secret_token": "s3cr3t"})
    assert ok.json() == {"ok": True, "result": True}
    refused = await client.post(f"{bot.path}/getUpdates")
    assert refused.status_code == 409
    assert refused.json()["description"].startswith("Conflict: can't use getUpdates method")

    await say(bob, chat["id"], "one")
    await say(bob, chat["id"], "two")
    async with asyncio.timeout(10):
        while len(target.received) < 2:
            target.arrived.clear()
            await target.arrived.wait()
    assert [u["message"]["text"] for u in target.received] == ["one", "two"]
    assert target.received[1]["update_id"] == target.received[0]["update_id"] + 1
    assert target.secrets == ["s3cr3t", "s3cr3t"]
    assert target.attempts == 4  # two refused attempts, then each update once

    # The receiver has the update before its 200 reaches us: the queue empties right after.
    async with asyncio.timeout(5):
        while True:
            info = (await client.get(f"{bot.path}/getWebhookInfo")).json()["result"]
            if info["pending_update_count"] == 0:
                break
            await asyncio.sleep(0.05)
    assert info["url"] == url
    assert "503" in info["last_error_message"]

    deleted = await client.post(f"{bot.path}/deleteWebhook")
    assert deleted.json()["result"] is True
    await say(bob, chat["id"], "three")
    polled = await pending_updates(client, bot, 1)
    assert [u["message"]["text"] for u in polled] == ["three"]
    assert len(target.received) == 2
