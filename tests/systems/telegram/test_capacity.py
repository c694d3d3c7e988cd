"""Telegram's capacity model (seed-002 §1 recomputed, the 350 TB rounding named, the 1:1 load
mix driven against the real API) and its demo data."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from casebook.engines.messaging.models import MessagingConversation, MessagingMember
from casebook.platform.auth.models import User
from casebook.platform.capacity import LoadSetup
from casebook.platform.context import Platform
from casebook.systems.telegram import demo
from casebook.systems.telegram.capacity import (
    CAPACITY,
    LOAD_MIX,
    MESSAGE_CHARS,
    population,
    prepare_users,
    read_history,
    send_message,
)
from casebook.systems.telegram.models import TelegramBot, TelegramUpdate


def test_four_billion_80_byte_messages_a_day_are_46_296_a_second_and_320_gb() -> None:
    assert CAPACITY.writes_per_day == 4e9
    assert CAPACITY.writes_per_second == pytest.approx(46_296.3, abs=0.1)
    assert CAPACITY.storage_per_day == 320e9
    assert CAPACITY.storage_over_horizon == pytest.approx(350.4e12)
    notes = {f.key: f.note for f in CAPACITY.figures()}
    assert "350.4 TB" in notes["storage_over_horizon"]
    assert notes["writes_per_second"] == notes["storage_per_day"] == ""
    assert CAPACITY.requests_per_second == pytest.approx(2 * 46_296.3, abs=0.1)


def test_the_population_keeps_each_user_under_half_the_send_rate_in_whole_pairs() -> None:
    assert LOAD_MIX.share("write") == pytest.approx(0.5)
    assert population(LoadSetup(items=1, rate=10), 0.5) == 2
    assert population(LoadSetup(items=3, rate=10), 0.5) == 4
    seed = population(LoadSetup(items=1, rate=CAPACITY.requests_per_second), 0.5)
    assert seed == 3088  # 46,296 sends/s at 15/s each, rounded up to whole pairs


async def test_the_mix_sends_and_reads_private_messages_through_the_api(
    client: httpx.AsyncClient,
) -> None:
    state = await prepare_users(client, LoadSetup(items=2, rate=1))
    assert len(state.users) == 2 and state.users[0].chat_id == state.users[1].chat_id
    sent = await send_message(client, state)
    assert sent.status_code == 201 and len(sent.json()["body"]) == MESSAGE_CHARS
    read = await read_history(client, state)
    assert read.status_code == 200
    assert [m["id"] for m in read.json()["items"]] == [sent.json()["id"]]


async def test_the_demo_has_chats_a_group_a_channel_and_a_bot_and_loads_twice(
    platform: Platform,
) -> None:
    await demo.load_demo(platform)
    await demo.load_demo(platform)  # idempotent
    async with platform.db.session() as session:
        me = await session.scalar(select(User.id).where(User.email == demo.DEMO_EMAIL))
        assert me is not None
        kinds = list(
            await session.execute(
                select(MessagingConversation.kind, MessagingConversation.last_seq)
                .join(MessagingMember, MessagingMember.conversation_id == MessagingConversation.id)
                .where(MessagingMember.user_id == me, MessagingConversation.system == "telegram")
                .order_by(MessagingConversation.kind, MessagingConversation.last_seq)
            )
        )
        assert [tuple(row) for row in kinds] == [
            ("channel", 1),
            ("direct", 1),  # with the bot
            ("direct", 1),  # with Ben
            ("direct", 2),  # with Ann
            ("group", 2),
        ]
        bot = await session.scalar(
            select(TelegramBot).where(TelegramBot.username == demo.BOT_USERNAME)
        )
        assert bot is not None and bot.owner_id == me
        pending = await session.scalar(
            select(func.count()).select_from(TelegramUpdate).where(TelegramUpdate.bot_id == bot.id)
        )
        assert pending == 1  # the demo user's /start, once
