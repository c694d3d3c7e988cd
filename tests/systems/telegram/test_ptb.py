"""The official `python-telegram-bot` library (v22), pointed at Casebook with `base_url`, runs
a real bot by long polling a real uvicorn server: users chat with it through the engine's API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.servers import serve_in_loop
from tests.systems.telegram.conftest import API, Bot, ChatWith, Say, TgUser


@pytest.fixture
async def server_url(app: FastAPI) -> AsyncIterator[str]:
    async with serve_in_loop(app) as base:
        yield f"{base}"


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(update.message.text)


async def menu(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    keyboard = [
        [InlineKeyboardButton("Red", callback_data="red")],
        [InlineKeyboardButton("Blue", callback_data="blue")],
    ]
    await update.message.reply_text("Pick a colour", reply_markup=InlineKeyboardMarkup(keyboard))


async def picked(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None
    await query.answer(text=f"You picked {query.data}")
    await query.edit_message_text(f"Selected option: {query.data}")


@pytest.fixture
async def running_bot(
    server_url: str, bot: Bot
) -> AsyncIterator[Application[Any, Any, Any, Any, Any, Any]]:
    application = (
        ApplicationBuilder().token(bot.token).base_url(f"{server_url}/api/telegram/bot").build()
    )
    application.add_handler(CommandHandler("menu", menu))
    application.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    application.add_handler(CallbackQueryHandler(picked))
    await application.initialize()
    await application.start()
    assert application.updater is not None
    await application.updater.start_polling(poll_interval=0, timeout=5)
    yield application
    await application.updater.stop()
    await application.stop()
    await application.shutdown()


async def eventually(check: Callable[[], Awaitable[Any]], seconds: float = 10) -> Any:
    """Poll `check` until it returns something truthy (bounded)."""
    async with asyncio.timeout(seconds):
        while True:
            result = await check()
            if result:
                return result
            await asyncio.sleep(0.05)


@pytest.mark.feature("telegram", "bots")
async def test_official_library_echo_bot_answers_a_user(
    client: httpx.AsyncClient,
    bob: TgUser,
    bot: Bot,
    chat_with: ChatWith,
    say: Say,
    running_bot: Application[Any, Any, Any, Any, Any, Any],
) -> None:
    assert running_bot.bot.username == bot.username  # getMe went through our server
    chat = await chat_with(bob, bot)
    await say(bob, chat["id"], "hello")

    async def replies() -> list[dict[str, Any]]:
        page = await client.get(
            f"{API}/conversations/{chat['id']}/messages",
            params={"order": "oldest"},
            headers=bob.headers,
        )
        return [m for m in page.json()["items"] if m["sender_id"] == str(bot.bot_id)]

    reply = (await eventually(replies))[0]
    assert reply["body"] == "hello" and reply["seq"] == 2

    await say(bob, chat["id"], "second one")
    await eventually(lambda: _count(replies, 2))
    bodies = [m["body"] for m in await replies()]
    assert bodies == ["hello", "second one"]


async def _count(source: Callable[[], Awaitable[list[Any]]], n: int) -> bool:
    return len(await source()) >= n


@pytest.mark.feature("telegram", "bots")
async def test_official_library_inline_keyboard_callback_and_edit(
    client: httpx.AsyncClient,
    bob: TgUser,
    bot: Bot,
    chat_with: ChatWith,
    say: Say,
    running_bot: Application[Any, Any, Any, Any, Any, Any],
) -> None:
    chat = await chat_with(bob, bot)
    await say(bob, chat["id"], "/menu")

    async def keyboard_message() -> dict[str, Any] | None:
        page = await client.get(f"{API}/conversations/{chat['id']}/messages", headers=bob.headers)
        mine = [
            m
            for m in page.json()["items"]
            if m["sender_id"] == str(bot.bot_id) and m["kind"] == "text"
        ]
        return mine[0] if mine else None

    message = await eventually(keyboard_message)
    assert message["body"] == "Pick a colour"
    markup_url = f"{API}/conversations/{chat['id']}/messages/{message['seq']}/reply-markup"
    markup = (await client.get(markup_url, headers=bob.headers)).json()["reply_markup"]
    assert [row[0]["callback_data"] for row in markup["inline_keyboard"]] == ["red", "blue"]

    pressed = await client.post(
        f"{API}/conversations/{chat['id']}/messages/{message['seq']}/callback",
        json={"data": "blue"},
        headers=bob.headers,
    )
    assert pressed.status_code == 201
    query_url = f"{API}/callback-queries/{pressed.json()['id']}"

    async def answered() -> dict[str, Any] | None:
        state = (await client.get(query_url, headers=bob.headers)).json()
        return state if state["answered"] else None

    assert (await eventually(answered))["text"] == "You picked blue"

    async def edited() -> dict[str, Any] | None:
        current = await keyboard_message()
        return current if current and current["edited_at"] else None

    assert (await eventually(edited))["body"] == "Selected option: blue"
    assert (await client.get(markup_url, headers=bob.headers)).json()["reply_markup"] is None
