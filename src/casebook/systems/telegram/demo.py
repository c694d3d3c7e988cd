"""Demo data for Telegram: a demo user with two private chats, a group, a public channel and a
bot (whose private chat holds a pending /start update, so the bot console has something to show).

Idempotent: accounts are registered once, conversations are found again by (owner, kind, title)
or by their pair, the bot by its username, and every message has a fixed client id (a repeat is
folded by the writer).
"""

from __future__ import annotations

import secrets

from sqlalchemy import select

from casebook.engines.messaging import contacts, service
from casebook.engines.messaging.models import MessagingConversation, MessagingMember
from casebook.engines.messaging.runtime import messenger
from casebook.engines.messaging.writer import SendRequest
from casebook.platform.auth.models import User
from casebook.platform.auth.service import register_user
from casebook.platform.context import Platform
from casebook.systems.telegram import bots
from casebook.systems.telegram.models import TelegramBot

SLUG = "telegram"
DEMO_EMAIL = "telegram-demo@example.com"
FRIENDS = (("telegram-ann@example.com", "Ann"), ("telegram-ben@example.com", "Ben"))
GROUP_TITLE = "Casebook readers"
CHANNEL_TITLE = "Casebook updates"
CHANNEL_HANDLE = "casebook_updates"
BOT_USERNAME = "casebook_echo_bot"


async def _account(platform: Platform, email: str, name: str) -> int:
    async with platform.db.session() as session:
        user_id = await session.scalar(select(User.id).where(User.email == email))
        if user_id is None:
            user = await register_user(
                session, email, secrets.token_urlsafe(24), name, settings=platform.settings
            )
            user_id = user.id
        await contacts.ensure_profile(session, SLUG, user_id)
        return user_id


async def _owned(platform: Platform, owner_id: int, kind: str, title: str) -> int | None:
    async with platform.db.session() as session:
        found: int | None = await session.scalar(
            select(MessagingConversation.id)
            .join(MessagingMember, MessagingMember.conversation_id == MessagingConversation.id)
            .where(
                MessagingConversation.system == SLUG,
                MessagingConversation.kind == kind,
                MessagingConversation.title == title,
                MessagingMember.user_id == owner_id,
                MessagingMember.role == "owner",
            )
            .limit(1)
        )
        return found


async def _group(
    platform: Platform, owner_id: int, kind: str, title: str, members: list[int]
) -> int:
    existing = await _owned(platform, owner_id, kind, title)
    if existing is not None:
        return existing
    async with platform.db.session(write=True) as session:
        conversation, events = await service.create_group(
            session,
            SLUG,
            messenger(platform, SLUG).config,
            owner_id,
            kind=kind,
            title=title,
            member_ids=members,
        )
        if kind == "channel":
            await service.set_public_handle(
                session, SLUG, conversation.id, owner_id, CHANNEL_HANDLE
            )
    await service.publish_all(platform.bus, SLUG, events)
    return conversation.id


async def _direct(platform: Platform, user_id: int, other_id: int) -> int:
    async with platform.db.session(write=True) as session:
        conversation, _, events = await service.create_direct(session, SLUG, user_id, other_id)
    await service.publish_all(platform.bus, SLUG, events)
    return conversation.id


async def _bot(platform: Platform, owner_id: int) -> int:
    async with platform.db.session(write=True) as session:
        bot_id = await session.scalar(
            select(TelegramBot.id).where(TelegramBot.username == BOT_USERNAME)
        )
        if bot_id is None:
            # The token is not kept: the demo user revokes the bot or makes their own.
            bot, _token = await bots.create_bot(
                session, owner_id, name="Casebook Echo", username=BOT_USERNAME
            )
            bot_id = bot.id
        return bot_id


async def load_demo(platform: Platform) -> None:
    """`System.demo`: the demo user's chats, group, channel and bot (see the module docstring)."""
    me = await _account(platform, DEMO_EMAIL, "Casebook Telegram")
    ann, ben = [await _account(platform, email, name) for email, name in FRIENDS]
    with_ann = await _direct(platform, me, ann)
    with_ben = await _direct(platform, me, ben)
    group = await _group(platform, me, "group", GROUP_TITLE, [ann, ben])
    channel = await _group(platform, me, "channel", CHANNEL_TITLE, [ann, ben])
    bot = await _bot(platform, me)
    with_bot = await _direct(platform, me, bot)
    writer = messenger(platform, SLUG).writer
    script = [
        (with_ann, ann, "demo-ann-1", "Hi! Did you see the new Telegram case study?"),
        (with_ann, me, "demo-ann-2", "Yes: groups of 200,000 and bots, all on one engine."),
        (with_ben, ben, "demo-ben-1", "Lunch tomorrow?"),
        (group, me, "demo-group-1", "Welcome to the Casebook readers group."),
        (group, ann, "demo-group-2", "Glad to be here."),
        (channel, me, "demo-channel-1", "Casebook updates: the Telegram system is live."),
        (with_bot, me, "demo-bot-1", "/start"),
    ]
    for conversation_id, sender, client_id, text in script:
        await writer.send(
            SendRequest(
                conversation_id=conversation_id,
                sender_id=sender,
                client_id=client_id,
                kind="text",
                body=text,
            )
        )
