"""Inline keyboards from the user's side: read a bot message's buttons, press a callback button
(the bot gets a `callback_query` update), and read the bot's answer.

Pressing checks that the caller can see the message (engine membership rules), that a live bot
sent it, and that its current keyboard has a button with that `callback_data`; the query row
and the bot's update are written in one transaction. O(1) queries per press.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from casebook.engines.messaging import service
from casebook.engines.messaging.views import message_view
from casebook.platform.context import Platform
from casebook.platform.errors import InvalidInput, NotFound
from casebook.platform.ids import new_id
from casebook.systems.telegram import objects, updates
from casebook.systems.telegram.models import (
    TelegramBot,
    TelegramCallbackQuery,
    TelegramReplyMarkup,
)


class NoSuchButton(InvalidInput):
    type_ = "telegram/no-such-button"
    title = "The message has no such button"


class CallbackQueryNotFound(NotFound):
    type_ = "telegram/callback-query-not-found"
    title = "Callback query not found"


async def reply_markup(
    session: AsyncSession, system: str, user_id: int, conversation_id: int, seq: int
) -> dict[str, Any] | None:
    """The current inline keyboard of message `seq`, for a member who can see the message."""
    message = await service.message_at(session, system, user_id, conversation_id, seq)
    row = await session.get(
        TelegramReplyMarkup, (conversation_id, message.sender_id, message.client_id)
    )
    return row.markup if row is not None else None


def _callback_values(markup: dict[str, Any]) -> set[str]:
    return {
        button["callback_data"]
        for row in markup.get("inline_keyboard", ())
        for button in row
        if "callback_data" in button
    }


async def press(
    platform: Platform, system: str, user_id: int, conversation_id: int, seq: int, data: str
) -> TelegramCallbackQuery:
    """Press the callback button `data` of message `seq`. Raises ConversationNotFound /
    MessageNotFound (not visible to the caller), NoSuchButton (422)."""
    async with platform.db.session(write=True) as session:
        conversation, _member = await service.membership(session, system, conversation_id, user_id)
        message = await service.message_at(session, system, user_id, conversation_id, seq)
        bot = await session.get(TelegramBot, message.sender_id)
        markup_row = await session.get(
            TelegramReplyMarkup, (conversation_id, message.sender_id, message.client_id)
        )
        if (
            bot is None
            or bot.revoked_at is not None
            or markup_row is None
            or data not in _callback_values(markup_row.markup)
        ):
            raise NoSuchButton("This message has no callback button with that data.")
        query = TelegramCallbackQuery(
            id=str(new_id()),
            bot_id=bot.id,
            user_id=user_id,
            conversation_id=conversation_id,
            seq=seq,
            data=data,
        )
        session.add(query)
        people = {user_id, bot.id}
        if conversation.kind == "direct":
            people.add(objects.direct_peer(conversation, bot.id))
        directory = await objects.Directory.load(session, people)
        view = message_view(message)
        attachments = await updates.load_attachments(
            session, system, {int(a) for a in (view.get("data") or {}).get("attachments", ())}
        )
        callback = {
            "id": query.id,
            "from": directory.user(user_id),
            "message": objects.message(
                view,
                conversation,
                bot.id,
                directory,
                attachments=attachments,
                reply_markup=markup_row.markup,
            ),
            # Telegram: a global identifier of the chat the message with the button was sent in.
            "chat_instance": hashlib.sha256(f"{bot.id}:{conversation_id}".encode()).hexdigest()[
                :19
            ],
            "data": data,
        }
        appended = await updates.append(session, bot, [("callback_query", callback)])
    await updates.announce(platform, system, [appended])
    return query


async def answer(session: AsyncSession, user_id: int, query_id: str) -> TelegramCallbackQuery:
    """The caller's own callback query (and the bot's answer once given)."""
    query = await session.get(TelegramCallbackQuery, query_id)
    if query is None or query.user_id != user_id:
        raise CallbackQueryNotFound(f"No callback query {query_id} among yours.")
    return query
