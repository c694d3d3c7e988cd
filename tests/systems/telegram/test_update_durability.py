"""Bot updates commit in the same transaction as their messages (the writer's in-transaction
hook): the moment a sender's request returns, the bot's update is stored — no lag, nothing a
crash after the COMMIT could lose — and a webhook bot's pending updates are picked up again at
startup."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from sqlalchemy import select

from casebook.platform.context import Platform
from casebook.systems.telegram import webhook
from casebook.systems.telegram.models import TelegramBot, TelegramUpdate
from tests.servers import serve_in_loop
from tests.systems.telegram.conftest import API, Bot, ChatWith, NewUser, Say, TgUser

pytestmark = pytest.mark.feature("telegram", "bots")


async def _update_for(platform: Platform, bot: Bot, seq: int) -> dict[str, Any] | None:
    async with platform.db.session() as session:
        payloads = await session.scalars(
            select(TelegramUpdate.payload).where(TelegramUpdate.bot_id == bot.bot_id)
        )
        for payload in payloads:
            if payload["message"]["message_id"] == seq:
                found: dict[str, Any] = payload
                return found
    return None


async def test_each_update_is_stored_by_the_time_its_send_returns(
    client: httpx.AsyncClient,
    platform: Platform,
    bot: Bot,
    chat_with: ChatWith,
    new_user: NewUser,
) -> None:
    people = [await new_user() for _ in range(4)]
    group = await client.post(
        f"{API}/conversations",
        json={"kind": "group", "title": "With a bot", "members": [str(bot.bot_id)]},
        headers=people[0].headers,
    )
    assert group.status_code == 201, group.text
    group_id = group.json()["id"]
    for person in people[1:]:
        added = await client.post(
            f"{API}/conversations/{group_id}/members",
            json={"user_id": person.id},
            headers=people[0].headers,
        )
        assert added.status_code in (200, 201), added.text
    missing: list[int] = []

    async def send_then_look(person: TgUser, text: str) -> int:
        response = await client.post(
            f"{API}/conversations/{group_id}/messages",
            json={"client_id": secrets.token_hex(6), "kind": "text", "body": text},
            headers=person.headers,
        )
        assert response.status_code == 201, response.text
        seq: int = response.json()["seq"]
        # No waiting: the update committed with the message.
        if await _update_for(platform, bot, seq) is None:
            missing.append(seq)
        return seq

    seqs = await asyncio.gather(*(send_then_look(people[i % 4], f"hello {i}") for i in range(20)))
    assert missing == []
    assert sorted(seqs) == list(range(1, 21))
    # getUpdates answers at once (timeout 0) with every update, ids gap-free in chat order.
    got = (await client.post(f"{bot.path}/getUpdates", json={"timeout": 0})).json()["result"]
    assert [u["message"]["message_id"] for u in got] == list(range(1, 21))
    ids = [u["update_id"] for u in got]
    assert ids == list(range(ids[0], ids[0] + 20))


async def test_a_private_message_is_in_get_updates_without_waiting(
    client: httpx.AsyncClient, bob: TgUser, bot: Bot, chat_with: ChatWith, say: Say
) -> None:
    chat = await chat_with(bob, bot)
    sent = await say(bob, chat["id"], "/start")
    got = (await client.post(f"{bot.path}/getUpdates", json={"timeout": 0})).json()["result"]
    assert [u["message"]["text"] for u in got] == ["/start"]
    assert got[0]["message"]["message_id"] == sent["seq"]


class Receiver:
    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.arrived = asyncio.Event()
        self.app = FastAPI()

        @self.app.post("/hook")
        async def hook(request: Request) -> Response:
            self.received.append(await request.json())
            self.arrived.set()
            return Response(status_code=200)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    target = Receiver()
    async with serve_in_loop(target.app) as base:
        yield target, f"{base}/hook"


async def test_startup_resumes_webhook_deliveries_whose_wake_up_was_lost(
    client: httpx.AsyncClient,
    platform: Platform,
    bob: TgUser,
    bot: Bot,
    chat_with: ChatWith,
    say: Say,
    receiver: tuple[Receiver, str],
) -> None:
    target, url = receiver
    chat = await chat_with(bob, bot)
    await say(bob, chat["id"], "queued while polling")
    # The process "crashed" after the COMMIT, before its delivery job was enqueued: the bot
    # then sets a webhook directly in the database (no job runs for the pending update).
    async with platform.db.session() as session:
        row = await session.get(TelegramBot, bot.bot_id)
        assert row is not None
        row.webhook_url = url
    assert await webhook.resume_pending(platform, "telegram") == 1
    async with asyncio.timeout(10):
        await target.arrived.wait()
    assert [u["message"]["text"] for u in target.received] == ["queued while polling"]
    async with asyncio.timeout(5):
        while True:
            async with platform.db.session() as session:
                left = await session.scalar(
                    select(TelegramUpdate.update_id).where(TelegramUpdate.bot_id == bot.bot_id)
                )
            if left is None:
                break
            await asyncio.sleep(0.02)
    # Nothing pending any more: a second startup schedules nothing.
    assert await webhook.resume_pending(platform, "telegram") == 0
